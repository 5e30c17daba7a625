"""Issue 2's story with real tmux, git and worktrees, and a fast stand-in agent.

The same story runs against the real Claude Code CLI in
``test_engine_real_claude.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.errors import AoError, InvalidName
from ao_tui.models import SessionStatus
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "stand_in_agent.py"


@pytest.fixture
def standin_dir(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "standin"
    path.mkdir()
    monkeypatch.setenv("AO_STANDIN_DIR", str(path))
    return path


@pytest.fixture
def project(git_repo: Path, ao_home: Path, standin_dir: Path) -> Path:
    """A repository with a backlog and a config whose agent is the stand-in."""
    (git_repo / "backlog.yaml").write_text(
        "- id: T-1\n  title: Add a greeting\n  body: Write hello.txt saying hi.\n"
        "- id: T-2\n  title: \"Quote 'this' $(touch /tmp/pwned) `id`; rm -rf ~\"\n  body: \"\\e[31m[bold]red\\n\"\n"
    )
    (git_repo / ".env").write_text("SECRET_FOR_WORKTREES=1\n")
    (git_repo / ".worktreeinclude").write_text(".env\n")
    (git_repo / ".gitignore").write_text(".env\n")
    git(git_repo, "add", "backlog.yaml", ".worktreeinclude", ".gitignore")
    git(git_repo, "commit", "-qm", "backlog")
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / "ao.config.yaml").write_text(
        "projects:\n"
        "  demo:\n"
        "    repo: .\n"
        "    session_prefix: dm\n"
        "    agent:\n"
        f"      command: [{json.dumps(sys.executable)}, {json.dumps(str(STAND_IN))}]\n"
    )
    return git_repo


@pytest.fixture
def engine(project: Path) -> Engine:
    return Engine(load_config(str(project / "ao.config.yaml")))


def received(standin_dir: Path, session_id: str) -> list[str]:
    path = standin_dir / session_id / "received.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_spawn_from_backlog_send_peek_kill_restore(engine: Engine, project: Path, standin_dir: Path):
    s = engine.spawn(task_id="T-1")
    assert s.id == "dm-1" and s.status is SessionStatus.WORKING and s.branch == "ao/dm-1"
    workspace = Path(s.workspace)
    assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD") == "ao/dm-1"
    assert (workspace / ".env").read_text() == "SECRET_FOR_WORKTREES=1\n", ".worktreeinclude files are copied"
    prompt = wait_until(lambda: (standin_dir / s.id / "prompt.txt").exists() and (standin_dir / s.id / "prompt.txt").read_text())
    assert "Task T-1: Add a greeting" in prompt and "Write hello.txt saying hi." in prompt
    argv = json.loads((standin_dir / s.id / "argv.json").read_text())
    assert argv[argv.index("--session-id") + 1] == s.agent_session_id

    wait_until(lambda: "❯" in engine.peek(s.id))
    engine.send(s.id, "please also add a test")
    wait_until(lambda: received(standin_dir, s.id) == ["please also add a test"])
    assert "got 22 chars" in wait_until(lambda: "got 22" in engine.peek(s.id) and engine.peek(s.id))

    killed = engine.kill(s.id)
    assert killed.status is SessionStatus.KILLED
    assert (killed.activity.state.value, killed.activity.detail) == ("exited", "killed"), "no stale 'working' on a killed row"
    assert s.runtime_handle not in engine.runtime(killed).list_handles()
    restored = engine.restore(s.id)
    assert restored.status is SessionStatus.WORKING
    wait_until(lambda: "stand-in agent" in engine.peek(s.id))
    assert [e.to_status for e in engine.events(s.id) if e.kind == "status"] == ["working", "killed", "spawning", "working"]


def test_hostile_task_text_reaches_the_agent_as_text(engine: Engine, standin_dir: Path, tmp_path: Path):
    s = engine.spawn(task_id="T-2")
    prompt = wait_until(lambda: (standin_dir / s.id / "prompt.txt").exists() and (standin_dir / s.id / "prompt.txt").read_text())
    assert "$(touch /tmp/pwned) `id`; rm -rf ~" in prompt
    assert not Path("/tmp/pwned").exists()
    hostile = "line one\nline 'two' \"three\" $(id) `whoami`; echo pwned > /tmp/pwned2 \x1b[31m[bold]"
    wait_until(lambda: "❯" in engine.peek(s.id))
    engine.send(s.id, hostile)
    assert wait_until(lambda: received(standin_dir, s.id)) == [hostile]
    assert not Path("/tmp/pwned2").exists()


def test_large_prompt_and_message_arrive_whole(engine: Engine, standin_dir: Path):
    big = "".join(f"{i:05d} lorem ipsum dolor sit amet\n" for i in range(3500))  # ~110 kB
    s = engine.spawn(prompt=big)
    prompt = wait_until(lambda: (standin_dir / s.id / "prompt.txt").exists() and (standin_dir / s.id / "prompt.txt").read_text())
    assert big.strip() in prompt or ".ao/task.md" in prompt
    if ".ao/task.md" in prompt:
        assert (Path(s.workspace) / ".ao" / "task.md").read_text().strip() == big.strip()
    wait_until(lambda: "❯" in engine.peek(s.id))
    message = "x" * 100_000
    engine.send(s.id, message)
    assert wait_until(lambda: received(standin_dir, s.id), timeout=30) == [message]


def test_names_cannot_escape(engine: Engine):
    with pytest.raises(InvalidName):
        engine.kill("../x")
    with pytest.raises(InvalidName):
        engine.restore("../../etc")


def test_tmux_server_killed_then_restore_brings_every_session_back(engine: Engine, standin_dir: Path, tmux_socket: str):
    a = engine.spawn(prompt="first")
    b = engine.spawn(prompt="second")
    wait_until(lambda: (standin_dir / b.id / "pid").exists())
    subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)
    changed = engine.reconcile()
    assert sorted(changed) == sorted([a.id, b.id])
    assert {engine.session(x).status for x in (a.id, b.id)} == {SessionStatus.EXITED}
    for sid in (a.id, b.id):
        first_pid = (standin_dir / sid / "pid").read_text() if (standin_dir / sid / "pid").exists() else None
        engine.restore(sid)
        assert engine.session(sid).status is SessionStatus.WORKING
        wait_until(lambda sid=sid: (standin_dir / sid / "pid").exists() and (standin_dir / sid / "pid").read_text() != first_pid)
        argv = json.loads((standin_dir / sid / "argv.json").read_text())
        # The same conversation: --resume when the agent left a transcript, else the same --session-id.
        flag = "--resume" if "--resume" in argv else "--session-id"
        assert argv[argv.index(flag) + 1] == engine.session(sid).agent_session_id
        assert Path(engine.session(sid).workspace) == Path(engine.session(sid).workspace).resolve()
        assert engine.runtime(engine.session(sid)).status(sid).alive


def test_kill_9_during_spawn_leaves_nothing_untracked_or_duplicated(project: Path, ao_home: Path, tmux_socket: str):
    """Kill `ao spawn` at many points; then every worktree and tmux session has a row."""
    env = {**os.environ}
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "spawn", "--prompt", "crash me"], cwd=project, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    engine = Engine(load_config(str(project / "ao.config.yaml")))
    engine.reconcile()
    sessions = {s.id: s for s in engine.sessions()}
    assert len(sessions) == len(set(sessions))
    tmux = subprocess.run(["tmux", "-L", tmux_socket, "list-sessions", "-F", "#{session_name}"], capture_output=True, text=True)
    live_handles = set(tmux.stdout.split())
    assert live_handles <= {s.runtime_handle for s in sessions.values()}, "a tmux session without a row"
    workspaces_root = ao_home / "workspaces" / "demo"
    on_disk = {p.name for p in workspaces_root.iterdir()} if workspaces_root.exists() else set()
    assert on_disk <= set(sessions), "a worktree without a row"
    for s in sessions.values():
        alive = s.runtime_handle in live_handles
        assert (s.status is SessionStatus.WORKING) == alive or s.status is SessionStatus.EXITED, (s.id, s.status, alive)
        if s.status is SessionStatus.EXITED:
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING


def test_max_sessions_and_missing_task_are_clear_errors(engine: Engine):
    with pytest.raises(AoError, match="no task"):
        engine.spawn(task_id="T-99")
    assert engine.sessions() == [] or all(s.status is not SessionStatus.SPAWNING for s in engine.sessions())
    engine.config.projects["demo"].max_sessions = 1
    engine.spawn(prompt="the one allowed")
    with pytest.raises(AoError, match=r"already has 1 live sessions \(max_sessions: 1\)"):
        engine.spawn(prompt="one too many")
    assert len(engine.sessions()) == 1


def test_a_missing_agent_program_is_a_clear_error_not_a_silent_dead_pane(project: Path, ao_home: Path, tmux_socket: str):
    config = project / "ao.config.yaml"
    config.write_text(config.read_text().replace(f"command: [{json.dumps(sys.executable)}, {json.dumps(str(STAND_IN))}]",
                                                 "command: [ao-no-such-agent]"))
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "spawn", "T-1"], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "ao: agent claude-code: `ao-no-such-agent` was not found on PATH; install it "
        "(npm install -g @anthropic-ai/claude-code) or set agent.command in the config to where it is"
    ]
    engine = Engine(load_config(str(config)))
    (s,) = engine.sessions()
    assert s.status is SessionStatus.ERRORED and "not found on PATH" in s.escalation
    tmux = subprocess.run(["tmux", "-L", tmux_socket, "list-sessions"], capture_output=True, text=True)
    assert s.runtime_handle not in tmux.stdout


def test_restore_after_the_tmux_server_died_unseen(engine: Engine, project: Path, standin_dir: Path, tmux_socket: str):
    """No engine was running to see it die: the session is still marked working; `ao ls` and restore cope."""
    s = engine.spawn(prompt="keep going")
    wait_until(lambda: (standin_dir / s.id / "pid").exists())
    subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)
    assert engine.session(s.id).status is SessionStatus.WORKING
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "ls", "--json"], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert [(row["id"], row["status"]) for row in json.loads(out.stdout)] == [(s.id, "exited")]
    restored = engine.restore(s.id)  # as the TUI and the orchestrator call it, with no reconcile first
    assert restored.status is SessionStatus.WORKING and engine.runtime(restored).status(s.runtime_handle).alive


def test_restore_remakes_a_workspace_whose_making_was_cut_off(engine: Engine, ao_home: Path, standin_dir: Path):
    s = engine.spawn(task_id="T-1")
    workspace = Path(s.workspace)
    wait_until(lambda: (standin_dir / s.id / "pid").exists())
    (workspace / "work.txt").write_text("the agent's work\n")
    git(workspace, "add", "work.txt")
    git(workspace, "commit", "-qm", "work")
    engine.kill(s.id)
    # As if `ao` had been killed -9 after `git worktree add` but before copying .worktreeinclude files.
    (workspace / ".env").unlink()
    (ao_home / "sessions" / s.id / "workspace-incomplete").touch()
    engine.restore(s.id)
    assert (workspace / ".env").read_text() == "SECRET_FOR_WORKTREES=1\n"
    assert (workspace / "work.txt").read_text() == "the agent's work\n", "the branch's commits are kept"
    assert not (ao_home / "sessions" / s.id / "workspace-incomplete").exists()
