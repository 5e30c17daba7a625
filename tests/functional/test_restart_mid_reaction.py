"""`kill -9` of the engine (`ao run`) in the middle of a reaction; after a restart the
message reaches the agent exactly once.

The agent is a stand-in that fires Claude Code's hooks (tests/support/hooked_stand_in.py),
so ao knows when it is busy and when it is at its prompt, as with the real CLI.

1. CI goes red while the agent is busy: the ``ci_failed`` reaction is claimed and its
   message waits in the outbox. ``kill -9``. The agent finishes its turn while no
   engine runs. The restarted engine delivers the message once, at the prompt.
2. The engine dies right after claiming a reaction, before acting on it (the claim
   is left ``claimed``). The restarted engine replays it; the poll that finds the
   same red CI again does not send a second message.
3. The engine dies after typing a message, before recording it as delivered: the
   restarted engine finds it in the agent's ``UserPromptSubmit`` hook event and does
   not type it again.
4. (Real Claude Code) the engine dies between the paste and Enter: the restarted
   engine sees the message typed in the input box and submits it, once.
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
from ao_tui.models import ActivityState
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text
from tests.support.claude_project import claude_project, needs_worktree, transcript_of, user_turns
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "hooked_stand_in.py"
FAILING_CI = f"{sys.executable} -c \"print('FAILED test_calc.py::test_add - assert -1 == 5'); raise SystemExit(1)\""


@pytest.fixture
def standin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "standin"
    path.mkdir()
    monkeypatch.setenv("AO_STANDIN_DIR", str(path))
    return path


@pytest.fixture
def config(git_repo: Path, ao_home: Path, standin_dir: Path) -> Path:
    path = git_repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo),
        "session_prefix": "rr",
        "agent": {"command": [sys.executable, str(STAND_IN)], "env": {"AO_STANDIN_DIR": str(standin_dir)}},
        "scm": {"plugin": "local", "ci": [FAILING_CI], "poll_interval": 1},
        "reactions": {"ci_failed": {"action": "send_to_agent", "retries": 5}},
        "notifiers": [],
    }}}))
    return path


class AoRun:
    """`ao run` as a user starts it, in its own process."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "--config", str(self.config), "run"],
                                         stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        wait_until(lambda: "ao engine running" in self.log.read_text(), timeout=15,
                   message=lambda: self.log.read_text())

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def received(standin_dir: Path, session_id: str) -> list[dict]:
    path = standin_dir / session_id / "received.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def commit(workspace: Path, name: str, content: str) -> str:
    (workspace / name).write_text(content)
    git(workspace, "add", name)
    git(workspace, "commit", "-qm", f"change {name}")
    return git(workspace, "rev-parse", "HEAD")


def test_kill_9_between_noticing_a_failure_and_delivering_it(
    config: Path, git_repo: Path, ao_home: Path, standin_dir: Path, tmp_path: Path
) -> None:
    engine = Engine(load_config(str(config)))
    s = engine.spawn(prompt="Add a sub function.")
    workspace = Path(s.workspace)
    wait_until(lambda: (standin_dir / s.id / "argv.json").exists(), timeout=10)
    head = commit(workspace, "calc.py", "def add(a, b):\n    return a - b\n")  # what the agent committed
    engine.open_pr(s.id)
    key = f"{s.id}:ci_failed:{head}"
    ao = AoRun(config, tmp_path / "ao-run.log")
    try:
        # 1. CI red while the agent is busy: the message waits in the outbox. Then the engine dies.
        ao.start()
        queued = wait_until(lambda: engine.store.pending_messages(s.id), timeout=30,
                            message=lambda: f"{engine.session(s.id)}\n{ao.log.read_text()}")
        assert [m["key"] for m in queued] == [key] and "test_add" in queued[0]["text"]
        assert engine.session(s.id).activity.state in (ActivityState.WORKING, ActivityState.RUNNING_TOOL)
        ao.kill9()
        assert received(standin_dir, s.id) == []
        (standin_dir / s.id / "release").touch()  # the agent's turn ends while no engine runs
        wait_until(lambda: "Stop" in (engine.events_file(s.id)).read_text(), timeout=10)

        ao.start()
        got = wait_until(lambda: received(standin_dir, s.id), timeout=20, message=lambda: ao.log.read_text())
        assert len(got) == 1 and got[0]["busy"] is False
        assert got[0]["text"] == queued[0]["text"]

        # 2. The engine claimed a reaction to a new red head and died before acting on it.
        ao.kill9()
        head2 = commit(workspace, "calc.py", "def add(a, b):\n    return b - a\n")
        trigger = {"head": head2, "branch": s.branch, "base": "main", "failed": [FAILING_CI],
                   "check_ids": [f"{head2}:{FAILING_CI}"], "summaries": {}}
        key2 = f"{s.id}:ci_failed:{head2}"
        assert engine.store.claim(key2, s.id, "ci_failed", "send_to_agent", {"trigger": trigger})
        ao.start()
        got = wait_until(lambda: len(received(standin_dir, s.id)) >= 2 and received(standin_dir, s.id),
                         timeout=30, message=lambda: ao.log.read_text())
        assert head2[:10] in got[1]["text"] and got[1]["busy"] is False
        # CI on head2 finishes red and is polled again: the same key, nothing more is sent.
        wait_until(lambda: (p := engine.session(s.id).pr) is not None and p.head_sha == head2
                   and p.ci.value == "failed", timeout=30, message=lambda: ao.log.read_text())
        time.sleep(2.5)  # a few more polls (poll_interval 1 s) and loop ticks
        assert len(received(standin_dir, s.id)) == 2
        states = {c["key"]: c["state"] for c in engine.store.claims(s.id)}
        assert states == {key: "done", key2: "done"}
        assert engine.store.pending_messages(s.id) == []

        # 3. The engine typed a message and died before recording it as delivered.
        ao.kill9()
        note = "ao: a reminder typed just before the engine died; it must arrive once."
        msg_id = engine.store.enqueue_message(s.id, note, key=f"{s.id}:reminder")
        assert msg_id is not None
        engine.store.mark_attempted(msg_id)
        engine.runtime(s).send_text(s.runtime_handle, note, submit=True)  # what the dead engine did
        wait_until(lambda: len(received(standin_dir, s.id)) == 3, timeout=10)
        ao.start()
        wait_until(lambda: engine.store.pending_messages(s.id) == [], timeout=15, message=lambda: ao.log.read_text())
        time.sleep(1.0)  # loop ticks that would type it again if it were still pending
        assert [m["text"] for m in received(standin_dir, s.id)][2:] == [note]
    finally:
        ao.stop()


@pytest.mark.claude
@pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed")
def test_engine_died_between_paste_and_enter_real_claude_gets_the_message_once(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crash fell after the paste, before Enter: the message sits typed in Claude Code's
    input box. The next engine submits it rather than typing it a second time."""
    message = "CI failed on your branch ao/rc-1 (commit 0123456789).\nFailing checks: pytest\n\nFAILED test_add"
    with AnthropicServer() as api:
        api.script.on_prompt("Say hello", text("Hello."))
        api.script.on_prompt("Failing checks: pytest", text("Looking at test_add."))
        config = claude_project(git_repo, tmp_path / "home", api.url, monkeypatch)
        first = Engine(load_config(str(config)))
        s = first.spawn(prompt="Say hello.")
        agent = first.agent(s)
        wait_until(lambda: (g := agent.read_screen(first.peek(s.id))) is not None and g.state is ActivityState.IDLE
                   and "Hello." in first.peek(s.id), timeout=30, message=lambda: first.peek(s.id))
        # What the dying engine did: queued, marked attempted, pasted, and no Enter.
        msg_id = first.store.enqueue_message(s.id, message, key=f"{s.id}:ci_failed:0123456789")
        assert msg_id is not None
        first.store.mark_attempted(msg_id)
        first.runtime(s).send_text(s.runtime_handle, message, submit=False)
        wait_until(lambda: "[Pasted text #1 +3 lines]" in first.peek(s.id), timeout=5, message=lambda: first.peek(s.id))

        restarted = Engine(load_config(str(config)))
        assert restarted.start(leader_loop)
        try:
            transcript = transcript_of(restarted, s)
            wait_until(lambda: "Looking at test_add." in restarted.peek(s.id), timeout=20,
                       message=lambda: restarted.peek(s.id))
            wait_until(lambda: [t for t in user_turns(transcript) if "Failing checks" in t] == [message], timeout=5,
                       message=lambda: str(user_turns(transcript)))
            assert restarted.store.pending_messages(s.id) == []
            time.sleep(1.0)  # loop ticks that would type it again if it were still pending
            assert [t for t in user_turns(transcript) if "Failing checks" in t] == [message]
            assert api.script.pending() == []
            # ao's event log says it was completed, not typed anew (Claude Code would merge a second
            # identical paste into the first; another agent would get the text twice).
            sent = [e.data for e in restarted.events(s.id) if e.kind == "message"]
            assert sent == [{"from": "ao", "key": f"{s.id}:ci_failed:0123456789", "chars": len(message),
                             "found_after_restart": True}]
        finally:
            restarted.stop()
