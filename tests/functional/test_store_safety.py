"""A damaged store is a one-line message and a recovery; backups; orphans. Real SQLite files damaged on
purpose, real tmux, git worktrees and the hooked stand-in agent, the real `ao` and `ao-tui` commands."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.models import Session
from ao_tui.store import Store
from tests.support.claude_project import needs_worktree
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(90)


def ao(*args: str, cwd: Path | None = None, stdin: str | None = None, **kw) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    return subprocess.run([sys.executable, "-m", "ao_tui.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, input=stdin if stdin is not None else "", timeout=60, **kw)


def ao_tui(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "TERM": "xterm-256color"}
    return subprocess.run([sys.executable, "-m", "ao_tui.tui", *args], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=60)


def busy_store(path: Path, n: int = 150) -> None:
    """A store whose sessions span many pages, as a long-used one's do."""
    store = Store(path)
    for i in range(1, n + 1):
        store.insert_session(Session(id=f"ao-{i}", project="demo", prompt="x" * 800, branch=f"ao/ao-{i}"))
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def assert_one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode != 0, done
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


DAMAGE = {
    "kilobytes overwritten": lambda p: overwrite(p, p.stat().st_size // 2, os.urandom(8192)),
    "cut short": lambda p: os.truncate(p, p.stat().st_size // 3),
    "not sqlite": lambda p: p.write_bytes(b"synced by a tool that knew better\n" * 300),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_store_is_one_line_naming_the_file_and_the_command(ao_home: Path, damage: str) -> None:
    path = ao_home / "ao.sqlite3"
    busy_store(path)
    DAMAGE[damage](path)
    for command in (["ls"], ["ls", "--json"], ["events", "ao-3"], ["send", "ao-3", "hello"], ["store", "check"]):
        line = assert_one_line(ao(*command), str(path), "ao store recover")
        assert "damaged" in line
    assert_one_line(ao_tui("--no-engine"), str(path), "ao store recover")


def test_a_store_from_a_newer_ao_is_refused_and_never_migrated_down(ao_home: Path) -> None:
    path = ao_home / "ao.sqlite3"
    busy_store(path, n=3)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    from ao_tui.store import _MIGRATIONS

    for command in (["ls"], ["store", "check"], ["store", "recover"]):
        assert_one_line(ao(*command), "newer ao", "schema 99", f"knows up to {max(_MIGRATIONS)}")
    assert_one_line(ao_tui("--no-engine"), "newer ao")
    assert path.read_bytes() == before
    assert not list(ao_home.glob("ao.sqlite3.*-2*")), "nothing set aside: the store is not damaged"


def test_a_backup_is_taken_before_a_schema_migration(ao_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ao_tui import store as store_module
    from ao_tui.store_backup import list_backups
    from ao_tui.store_health import schema_version_of

    path = ao_home / "ao.sqlite3"
    busy_store(path, n=2)
    now = max(store_module._MIGRATIONS)
    monkeypatch.setitem(store_module._MIGRATIONS, now + 1, "CREATE TABLE later (x TEXT)")
    Store(path).close()
    backups = list_backups(path)
    assert [b.reason for b in backups] == [f"before-schema-{now + 1}"]
    assert schema_version_of(backups[0].path) == now
    assert schema_version_of(path) == now + 1


def test_backups_by_hand_are_whole_bounded_and_restorable(ao_home: Path) -> None:
    from ao_tui.store_backup import list_backups, take_backup

    path = ao_home / "ao.sqlite3"
    busy_store(path, n=5)
    done = ao("store", "backup")
    assert done.returncode == 0 and "backed up" in done.stdout, done
    for _ in range(12):
        take_backup(path, keep=4)
    assert len(list_backups(path)) == 4
    store = Store(path)
    store.delete_session("ao-1")
    store.close()
    done = ao("store", "restore")  # no terminal to ask on: the user must say yes
    assert_one_line(done, "--yes")
    done = ao("store", "restore", "--yes")
    assert done.returncode == 0, done
    assert "ao-1" in {s.id for s in Store(path).list_sessions()}
    assert list(ao_home.glob("ao.sqlite3.replaced-*")), "the replaced store is kept aside"


@needs_worktree
@pytest.mark.slow
def test_recover_rebuilds_from_the_newest_backup_and_what_exists(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """s1 is in the backup; s2 started after it and has a PR; the store is then damaged. Recovery
    brings both back: s2 from its tmux session, worktree and hook events, its PR found by branch."""
    from ao_tui.store_backup import take_backup

    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "rc", standin, monkeypatch)
    config = str(git_repo.parent / "ao.config.yaml")
    s1 = engine.spawn(prompt="First task.")
    take_backup(engine.store.path, reason="scheduled")
    s2 = engine.spawn(prompt="Second task, after the backup.")
    wait_until(lambda: (ao_home / "sessions" / s2.id / "hook-events.jsonl").exists()
               and "UserPromptSubmit" in (ao_home / "sessions" / s2.id / "hook-events.jsonl").read_text(),
               timeout=20)
    pr = engine.open_pr(s2.id).pr
    engine.store.close()
    path = ao_home / "ao.sqlite3"
    DAMAGE["kilobytes overwritten"](path)
    overwrite(path, 0, b"\0" * 4096)  # the header too: nothing of it is readable

    assert_one_line(ao("--config", config, "ls"), "ao store recover")
    done = ao("--config", config, "store", "recover")
    assert done.returncode == 0, done
    assert "kept the damaged store at" in done.stdout
    assert list(ao_home.glob("ao.sqlite3.damaged-*")), "the damaged file is kept"
    listed = {r["id"]: r for r in json.loads(ao("--config", config, "ls", "--json").stdout)}
    assert set(listed) == {s1.id, s2.id}
    assert listed[s1.id]["agent_session_id"] == s1.agent_session_id  # from the backup
    back = listed[s2.id]
    assert back["agent_session_id"] == s2.agent_session_id  # from its hook events: `ao restore` continues it
    assert back["branch"] == s2.branch and back["workspace"] == s2.workspace
    assert back["pr"] == pr.number
    assert back["status"] not in ("exited", "killed")
    recovered = Store(path).get_session(s2.id).extra["recovered"]
    assert "task" in recovered["unknown"] and "tmux" in recovered["from"]
    assert "hook events" in recovered["from"]
    assert Store(path).get_session(s2.id).prompt == "Second task, after the backup."

    # The store gone altogether (deleted, a new machine with the state dir copied without it).
    for f in ao_home.glob("ao.sqlite3*"):
        if "damaged" not in f.name:
            f.unlink()
    done = ao("--config", config, "store", "recover")
    assert done.returncode == 0 and "no store at" in done.stdout and "restored the backup" in done.stdout, done
    assert {r["id"] for r in json.loads(ao("--config", config, "ls", "--json").stdout)} == {s1.id, s2.id}

    # Running it again finds nothing new.
    again = ao("--config", config, "store", "recover")
    assert again.returncode == 0 and "adopted" not in again.stdout, again


@needs_worktree
def test_orphans_are_listed_and_cleaned_only_with_a_yes(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "or", standin, monkeypatch)
    config = str(git_repo.parent / "ao.config.yaml")
    s = engine.spawn(prompt="Soon forgotten.")
    engine.store.delete_session(s.id)  # as a restore from an older backup would
    done = ao("--config", config, "store", "orphans")
    assert done.returncode == 0 and f"tmux session {s.id}" in done.stdout and s.workspace in done.stdout, done
    assert_one_line(ao("--config", config, "store", "orphans", "--clean"), "--yes")
    assert Path(s.workspace).exists()
    done = ao("--config", config, "store", "orphans", "--clean", "--yes")
    assert done.returncode == 0, done
    assert f"stopped tmux session {s.id}" in done.stdout and f"removed workspace {s.workspace}" in done.stdout
    assert not Path(s.workspace).exists()
    assert s.id not in engine.runtime(s).list_handles()
    assert "no orphans" in ao("--config", config, "store", "orphans").stdout
