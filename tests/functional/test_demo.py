"""The demo fleet behind ``ao-tui --demo``: real tmux, git, worktrees and engine loop, stand-in agents."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from ao_tui.demo import MAX_LIVE, TASKS, run_demo_setup
from ao_tui.demo.fake_claude import Args, project_slug
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]

NEEDED = ("ao_tui_plugins.runtime_tmux", "ao_tui_plugins.workspace_worktree", "ao_tui_plugins.agent_claude_code")


def _missing_plugins() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    for key in ("AO_HOME", "AO_TMUX_SOCKET", "AO_CONFIG"):
        monkeypatch.delenv(key, raising=False)  # restored by monkeypatch whatever cleanup does
    fleet = run_demo_setup(tmp_path / "demo")
    yield fleet
    fleet.cleanup()


def test_fake_claude_takes_claude_codes_argv() -> None:
    args = Args(["--session-id", "11111111-2222-3333-4444-555555555555", "--model", "opus",
                 "--permission-mode", "acceptEdits", "--append-system-prompt",
                 "Rules:\n- End every commit message with the trailer:\n  Co-Authored-By: opus <noreply@ao-tui.dev>",
                 "--", "--looks-like-a-flag Task T-3: fix it"])
    assert args.session_id == "11111111-2222-3333-4444-555555555555" and not args.resume
    assert (args.model, args.permission_mode) == ("opus", "acceptEdits")
    assert args.prompt == "--looks-like-a-flag Task T-3: fix it"
    assert args.trailer == "Co-Authored-By: opus <noreply@ao-tui.dev>"
    resumed = Args(["--resume", "11111111-2222-3333-4444-555555555555", "--model", "opus"])
    assert resumed.resume and resumed.session_id == "11111111-2222-3333-4444-555555555555"
    assert project_slug(Path("/home/dev/my.project")) == "-home-dev-my-project"


def test_setup_makes_a_private_project_and_cleanup_removes_it(demo) -> None:  # noqa: ANN001
    from ao_tui.config import load_config

    assert os.environ["AO_HOME"] == str(demo.ao_home)
    assert os.environ["AO_TMUX_SOCKET"] == demo.tmux_socket
    config = load_config(str(demo.config_path))
    project = config.projects["demo"]
    assert project.agent.command[-2:] == ["-m", "ao_tui.demo.fake_claude"]
    assert project.agent.env["HOME"].startswith(str(demo.root))  # never the user's ~/.claude
    status = subprocess.run(["git", "-C", str(demo.repo), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""
    pushed = subprocess.run(["git", "-C", str(demo.repo), "ls-remote", "origin", "main"], capture_output=True, text=True)
    assert pushed.stdout.strip()
    assert [t.id for t in _tasks(demo)] == [t["id"] for t in TASKS]  # the tracker reads the backlog
    root = demo.root
    demo.cleanup()
    assert not root.exists()
    assert os.environ.get("AO_HOME") != str(demo.ao_home)


def _tasks(demo) -> list:  # noqa: ANN001
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(demo.config_path)))
    try:
        return engine.backlog("demo")
    finally:
        engine.store.close()


def test_demo_fleet_runs_and_cleans_up(demo) -> None:  # noqa: ANN001
    missing = _missing_plugins()
    if missing:
        pytest.skip(f"plugins not landed yet: {', '.join(missing)}")
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import SessionStatus

    engine = Engine(load_config(str(demo.config_path)))
    assert engine.start(demo.make_loop), "the demo engine must own its private store"
    seen: dict[str, set[str]] = {}

    def sessions() -> dict[str, object]:
        found = {s.task_id: s for s in engine.sessions("demo")}
        for task_id, s in found.items():
            seen.setdefault(task_id, set()).add(s.status.value)
        return found

    def transcript(s) -> Path | None:  # noqa: ANN001
        hits = list((demo.root / "home" / ".claude" / "projects").glob(f"*/{s.agent_session_id}.jsonl"))
        return hits[0] if hits else None

    def commits(s) -> list[str]:  # noqa: ANN001
        done = subprocess.run(["git", "-C", s.workspace, "log", "--format=%B%x00", "main..HEAD"],
                              capture_output=True, text=True)
        return [c.strip() for c in done.stdout.split("\0") if c.strip()]

    def screen(task_id: str) -> str:
        try:
            return engine.peek(sessions()[task_id].id)
        except Exception:
            return ""

    try:
        ids = demo.start(engine, wait=True, direct=False)  # the stand-ins alone: nobody answers or merges
        assert len(ids) == MAX_LIVE
        assert {s.task_id for s in engine.sessions("demo")} == {t["id"] for t in TASKS[:MAX_LIVE]}
        wait_until(lambda: all(transcript(s) for s in sessions().values()), timeout=30,
                   message=lambda: f"transcripts: {[(t, bool(transcript(s))) for t, s in sessions().items()]}")

        # T-1 asks permission and waits for the key; T-2 asks a question and waits for an answer.
        wait_until(lambda: "Do you want to create greet.py?" in screen("T-1"), timeout=30,
                   message=lambda: screen("T-1"))
        wait_until(lambda: "TOML or YAML?" in screen("T-2"), timeout=30, message=lambda: screen("T-2"))
        engine.send_keys(sessions()["T-1"].id, "1")
        engine.send(sessions()["T-2"].id, "YAML please")

        # Everyone but the stuck one commits, with the model trailer.
        def committed() -> bool:
            return all(commits(sessions()[t]) for t in ("T-1", "T-2", "T-3", "T-4", "T-5"))

        wait_until(committed, timeout=60, message=lambda: str({t: commits(s) for t, s in sessions().items()}))
        for task_id in ("T-1", "T-2", "T-3", "T-4", "T-5"):
            s = sessions()[task_id]
            assert all(f"Co-Authored-By: {s.model}" in c for c in commits(s))
        # A mixed fleet: every third session runs as Codex (the same stand-in, started with Codex's argv).
        assert {t: s.agent for t, s in sessions().items() if t in ("T-1", "T-2")} == {"T-1": "claude-code",
                                                                                        "T-2": "codex"}
        assert sessions()["T-2"].model == "gpt-5-codex"
        assert (Path(sessions()["T-2"].workspace) / "settings.yaml").exists()

        # T-3's CI fails; the failure reaches the agent, which fixes it.
        wait_until(lambda: any("Strip leading and trailing dashes" in c for c in commits(sessions()["T-3"])),
                   timeout=60, message=lambda: f"T-3 statuses {seen.get('T-3')}: {screen('T-3')[-800:]}")
        assert SessionStatus.CI_FAILED.value in seen["T-3"]

        record_types = {json.loads(line)["type"] for line in transcript(sessions()["T-4"]).read_text().splitlines()}
        assert {"user", "assistant", "system"} <= record_types
        # ao reads the stand-in's transcript as it reads Claude Code's: usage, model, last words.
        t4 = wait_until(lambda: (s := sessions()["T-4"]).usage.total_tokens > 0 and "READY" in s.last_message and s,
                        timeout=20, message=lambda: str(sessions()["T-4"]))
        assert t4.model == "claude-sonnet-4-5" and t4.usage.cost_usd >= 0
        distinct = set().union(*seen.values())
        assert len(distinct) >= 4, distinct
        assert sessions()["T-6"].status in (SessionStatus.WORKING, SessionStatus.STUCK)
    finally:
        engine.stop()
        engine.store.close()
    root, socket = demo.root, demo.tmux_socket
    demo.cleanup()
    assert not root.exists()
    alive = subprocess.run(["tmux", "-L", socket, "list-sessions"], capture_output=True)
    assert alive.returncode != 0  # the private server is gone
    tmpdir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    assert not (tmpdir / socket).exists()  # and its socket file


def test_statuses_settle_quickly(demo) -> None:  # noqa: ANN001
    """Within seconds of starting, the fleet shows sessions needing the human and sessions working."""
    missing = _missing_plugins()
    if missing:
        pytest.skip(f"plugins not landed yet: {', '.join(missing)}")
    from ao_tui.attention import zone_of
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(demo.config_path)))
    assert engine.start(demo.make_loop)
    started = time.monotonic()
    try:
        demo.start(engine, wait=True)

        def zones() -> set[str]:
            return {zone_of(s).value for s in engine.sessions("demo")}

        wait_until(lambda: {"needs_you", "working"} <= zones() or None, timeout=30, message=lambda: str(zones()))
        assert time.monotonic() - started < 30
    finally:
        engine.stop()
        engine.store.close()


@pytest.fixture
def fast_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """The demo at four times its speed: 45 s of a real demo pass in about 11."""
    for key in ("AO_HOME", "AO_TMUX_SOCKET", "AO_CONFIG", "AO_DEMO_PACE"):
        monkeypatch.delenv(key, raising=False)
    fleet = run_demo_setup(tmp_path / "demo", pace=0.25)
    yield fleet
    fleet.cleanup()


@pytest.mark.timeout(120)
def test_the_fleet_stays_alive_with_a_bounded_number_of_sessions(fast_demo) -> None:  # noqa: ANN001
    """QA: after about 45 s every stand-in had settled and the fleet looked dead.

    Long after the first wave would have settled, statuses keep changing; never more than
    MAX_LIVE sessions run; merged sessions make room for the next tasks (a dependent task
    starts only once what it depends on is merged); once the backlog is empty a done task
    comes round again; every attention zone is visited.
    """
    missing = _missing_plugins()
    if missing:
        pytest.skip(f"plugins not landed yet: {', '.join(missing)}")
    from ao_tui.attention import Zone, zone_of
    from ao_tui.config import load_config
    from ao_tui.demo import FINISHED
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(fast_demo.config_path)))
    assert engine.start(fast_demo.make_loop)
    started = time.monotonic()
    last: dict[str, tuple[str, str]] = {}
    changes: list[float] = []  # when a session's status or activity changed (seconds since start)
    zones: set[Zone] = set()
    most_live = 0
    spawned_at: dict[str, list[tuple[float, str]]] = {}  # task -> (when, session id) of its sessions
    merged_at: dict[str, float] = {}  # task -> first merge
    retired: set[str] = set()  # workspaces of sessions the engine retired after their merge
    most_retired = 0

    def observe() -> None:
        nonlocal most_live, most_retired
        now = time.monotonic() - started
        sessions = engine.sessions("demo")
        most_live = max(most_live, sum(s.status.value not in FINISHED for s in sessions))
        most_retired = max(most_retired, sum(s.status.value in ("done", "killed") for s in sessions))
        retired.update(s.workspace for s in sessions if s.status.value == "done")
        for s in sessions:
            zones.add(zone_of(s))
            state = (s.status.value, s.activity.state.value)
            if last.get(s.id) != state:
                if s.id in last:
                    changes.append(now)
                else:
                    spawned_at.setdefault(s.task_id, []).append((now, s.id))
                last[s.id] = state
            if s.status.value in ("merged", "done") and s.task_id not in merged_at:
                merged_at[s.task_id] = now

    def recycled() -> bool:
        observe()
        return any(len(sessions) > 1 for sessions in spawned_at.values()) and time.monotonic() - started > 30

    try:
        fast_demo.start(engine)
        wait_until(recycled, timeout=90, interval=0.2,
                   message=lambda: f"sessions per task {spawned_at}, merged {sorted(merged_at)}")
        elapsed = time.monotonic() - started
    finally:
        engine.stop()
        engine.store.close()
    assert most_live <= MAX_LIVE
    # After the first 45 demo seconds (11 s at this pace) the fleet keeps moving: no quiet 5 s.
    later = sorted(t for t in changes if t >= 11)
    gaps = [b - a for a, b in zip([11.0, *later], [*later, elapsed], strict=True)]
    assert later and max(gaps) < 5, f"changes after 11 s: {later}"
    assert len(merged_at) >= 4, merged_at
    assert sum(len(v) for v in spawned_at.values()) > MAX_LIVE  # merged sessions made room
    # T-7 depends on T-1: it starts only after T-1 merged.
    if "T-7" in spawned_at:
        assert "T-1" in merged_at and spawned_at["T-7"][0][0] >= merged_at["T-1"]
    assert zones == set(Zone), f"zones never visited: {set(Zone) - zones}"
    # Retired sessions lose their workspace, and the list keeps only the last few of them.
    assert retired and not any(Path(w).exists() for w in retired)
    assert most_retired <= fast_demo.keep_finished + 1


@pytest.mark.timeout(90)
def test_the_scripted_human_keeps_off_a_session_a_human_is_attached_to(fast_demo) -> None:  # noqa: ANN001
    """Attach to T-1 while it asks permission: the demo's script must not press a key under you."""
    import pty
    import select
    import signal

    missing = _missing_plugins()
    if missing:
        pytest.skip(f"plugins not landed yet: {', '.join(missing)}")
    from ao_tui.config import load_config
    from ao_tui.demo import ANSWER_AFTER
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(fast_demo.config_path)))
    assert engine.start(fast_demo.make_loop)
    pid = fd = None
    try:
        fast_demo.start(engine)
        t1 = wait_until(lambda: next((s for s in engine.sessions("demo") if s.task_id == "T-1"), None), timeout=30)

        def screen() -> str:
            try:
                return engine.peek(t1.id)
            except Exception:  # not started yet
                return ""

        wait_until(lambda: "Do you want to create greet.py?" in screen(), timeout=30, message=screen)
        argv = engine.runtime(t1).attach_argv(t1.runtime_handle)
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.pop("TMUX", None)
            os.environ["TERM"] = "xterm-256color"
            os.execvp(argv[0], argv)
        wait_until(lambda: engine.runtime(t1).human_clients(t1.runtime_handle), timeout=10)
        # Twice as long as the script waits before it answers: the prompt is still there.
        until = time.monotonic() + 2 * ANSWER_AFTER * fast_demo.pace
        while time.monotonic() < until:
            if select.select([fd], [], [], 0.2)[0]:
                os.read(fd, 65536)
            assert "Do you want to create greet.py?" in engine.peek(t1.id)
        subprocess.run(["tmux", "-L", fast_demo.tmux_socket, "detach-client", "-s", f"={t1.runtime_handle}"],
                       check=True, timeout=10)
        # Once the human has gone, the script answers (and the stand-in goes on).
        wait_until(lambda: "Do you want to create greet.py?" not in engine.peek(t1.id), timeout=30,
                   message=lambda: engine.peek(t1.id))
    finally:
        if pid is not None:
            with __import__("contextlib").suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(fd)
        engine.stop()
        engine.store.close()


def _fake_claudes(root: Path) -> list[int]:
    """Pids of the demo's stand-in agents (their HOME is inside the demo directory)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"ao_tui.demo.fake_claude" in cmdline and str(root).encode() in environ:
            pids.append(int(proc.name))
    return pids


@pytest.mark.parametrize("how", ["sigterm", "terminal_closed"])
@pytest.mark.timeout(90)
def test_demo_cleans_up_when_killed_or_its_terminal_closes(tmp_path: Path, how: str) -> None:
    """QA: `kill -TERM` or closing the terminal left 6 agents, a tmux server and /tmp/ao-demo-* behind."""
    import shutil
    import signal
    import sys

    missing = _missing_plugins()
    if missing:
        pytest.skip(f"plugins not landed yet: {', '.join(missing)}")
    temp, tmux_dir = tmp_path / "t", tmp_path / "x"
    temp.mkdir()
    tmux_dir.mkdir()
    outer = f"ao-test-outer-{os.getpid()}-{how}"
    repo_root = Path(__file__).resolve().parents[2]
    env = {"TMPDIR": str(temp), "TMUX_TMPDIR": str(tmux_dir), "PYTHONPATH": str(repo_root), "TERM": "xterm-256color"}
    env_args = [a for key, value in env.items() for a in ("-e", f"{key}={value}")]
    subprocess.run(["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40",
                    "-c", str(repo_root), *env_args, "--", sys.executable, "-m", "ao_tui.tui", "--demo"],
                   check=True, stdin=subprocess.DEVNULL, timeout=10)
    demo_root: Path | None = None
    try:
        app_pid = int(subprocess.run(["tmux", "-L", outer, "display-message", "-p", "-t", "=0:", "#{pane_pid}"],
                                     capture_output=True, text=True, check=True).stdout)

        def up() -> Path | None:
            roots = list(temp.glob("ao-demo-*"))
            return roots[0] if roots and len(_fake_claudes(roots[0])) >= 3 else None

        demo_root = wait_until(up, timeout=45, message=lambda: str(list(temp.glob("*"))))
        sockets = list((tmux_dir / f"tmux-{os.getuid()}").glob("ao-demo-*"))
        assert len(sockets) == 1

        if how == "sigterm":
            os.kill(app_pid, signal.SIGTERM)
        else:  # the terminal goes away: its processes get SIGHUP
            subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True, timeout=10)

        def gone() -> bool:
            alive = subprocess.run(["tmux", "-S", str(sockets[0]), "list-sessions"], capture_output=True,
                                   stdin=subprocess.DEVNULL).returncode == 0
            return not (_fake_claudes(demo_root) or alive or demo_root.exists() or sockets[0].exists()
                        or Path(f"/proc/{app_pid}").exists() and b"ao_tui.tui" in Path(f"/proc/{app_pid}/cmdline").read_bytes())

        wait_until(gone, timeout=15, message=lambda: (
            f"agents {_fake_claudes(demo_root)}, dir {demo_root.exists()}, socket {sockets[0].exists()}, "
            f"app alive {Path(f'/proc/{app_pid}').exists()}"))
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True, timeout=10)
        (Path("/tmp") / f"tmux-{os.getuid()}" / outer).unlink(missing_ok=True)
        if demo_root is not None:
            for pid in _fake_claudes(demo_root):
                with __import__("contextlib").suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        for sock in (tmux_dir / f"tmux-{os.getuid()}").glob("ao-demo-*"):
            subprocess.run(["tmux", "-S", str(sock), "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(temp, ignore_errors=True)
