"""A full disk, for real: a small tmpfs made by the test (CI runs as root) and a file-size limit
(RLIMIT_FSIZE) on a child `ao`. ao says so once, keeps its sessions, refuses new ones with the reason,
retries its writes and loses no queued message and no reaction once space is back."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ao_tui.errors import AoError
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 6 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system; the returned file gives them back."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


@needs_worktree
@pytest.mark.slow
def test_a_full_disk_is_said_once_refuses_spawns_and_loses_no_queued_message(
    git_repo: Path, ao_home: Path, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store and the workspaces on the small disk; the agent's hook events beside, on the big one,
    # so what fails is ao's own writes (a session dir on the full disk is the agent's loss, not ao's).
    (tmp_path / "sessions").mkdir()
    (small_disk / "sessions").symlink_to(tmp_path / "sessions")
    monkeypatch.setenv("AO_HOME", str(small_disk))
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "fd", standin, monkeypatch, reactions={"agent_exited": {"action": "notify"}})
    engine.config.store = engine.config.store.model_copy(update={"backup_every": "0", "min_free_mb": 0})
    notices: list[str] = []
    engine.subscribe_notifications(lambda n: notices.append(n.title))
    s = engine.spawn(prompt="Work until released.")
    dies = engine.spawn(prompt="Work until interrupted.")  # its exit, while the disk is full, is a reaction
    assert engine.start(leader_loop)
    try:
        wait_until(lambda: engine.session(s.id).activity.state.value == "working", timeout=20)
        wait_until(lambda: engine.session(dies.id).activity.state.value == "working", timeout=20)
        engine.queue_message(s.id, "CI failed: test_x (queued before the disk filled)", key=f"{s.id}:ci_failed:a")
        engine.store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        filler = fill(small_disk)

        (standin / s.id).mkdir(parents=True, exist_ok=True)
        (standin / s.id / "release").touch()  # the agent finishes its turn: ao cannot record it
        wait_until(lambda: "Disk full" in notices, timeout=20, message=lambda: str(notices))
        engine.send_keys(dies.id, "C-c")  # the other agent dies: nothing can be recorded now
        time.sleep(2)
        assert engine.session(dies.id).status.value != "exited"
        with pytest.raises(AoError, match="no space"):
            engine.spawn(prompt="Another one.")
        time.sleep(5)  # several ticks: still said once
        assert notices.count("Disk full") == 1, notices
        received = standin / s.id / "received.jsonl"
        assert not received.exists() or not received.read_text().strip()

        filler.unlink()  # space is back
        wait_until(lambda: received.exists() and received.read_text().strip(), timeout=20,
                   message=lambda: f"{notices} {engine.session(s.id).activity}")
        wait_until(lambda: not engine.store.pending_messages(s.id), timeout=10)
        texts = [json.loads(x)["text"] for x in received.read_text().splitlines()]
        assert texts == ["CI failed: test_x (queued before the disk filled)"]
        assert notices.count("Disk space is back") == 1 and notices.count("Disk full") == 1
        assert engine.session(s.id).status.value in ("idle", "working")
        # The exit that happened meanwhile: recorded once space is back, and its reaction run once.
        wait_until(lambda: engine.session(dies.id).status.value == "exited", timeout=20)
        wait_until(lambda: [c for c in engine.store.claims(dies.id) if c["event"] == "agent_exited"], timeout=10)
        time.sleep(2)
        assert [c["event"] for c in engine.store.claims(dies.id)].count("agent_exited") == 1
        assert engine.spawn(prompt="Room again.").status.value == "working"
    finally:
        engine.stop()


def _limited(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def test_a_file_size_limit_is_a_one_line_refusal_and_the_store_stays_whole(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = standin_engine(git_repo, "fl", tmp_path / "standin", monkeypatch)
    for i in range(40):  # a store that has been used: its writes go past a small limit
        engine.store.add_event(__import__("ao_tui.models", fromlist=["Event"]).Event(
            session_id="fl-0", kind="note", data={"pad": "x" * 2000, "i": i}))
    engine.store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.store.close()
    config = str(git_repo.parent / "ao.config.yaml")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    done = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", config, "spawn", "--prompt", "hi"],
                          capture_output=True, text=True, env=env, preexec_fn=_limited(8192), timeout=60)
    assert done.returncode == 7, done
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "no space to write" in done.stderr, done.stderr
    ok = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", config, "store", "check"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok
