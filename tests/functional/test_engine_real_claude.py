"""Issue 2's story through the Engine with the real Claude Code CLI (scripted model, real tmux and git).

Spawn from a backlog task; the model writes a file and commits it through
tool calls; the change and its commit are on ``ao/<id>`` with the model
trailer (added by ao's git hook, though the agent left it out);
the transcript holds the task prompt; ``send`` arrives as a new user turn;
kill and restore keep the conversation, and so does a restore after the
tmux server died under it; with the engine loop running, the
activity a user sees (``ao ls --json``) goes working → idle with its source.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import ActivityState, Session, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.claude_project import TRAILER, claude_project, needs_worktree, transcript_of, user_turns
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(90),
]

BACKLOG = "- id: T-1\n  title: Add a greeting\n  body: Write hello.txt saying hello, and commit it.\n"


def _ls_json(config: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "ls", "--json"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_backlog_task_to_commit_send_kill_restore_and_live_activity(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = ao_home / "workspaces" / "demo" / "rc-1"  # where ao puts session rc-1's worktree
    message = "Add hello.txt"  # the agent forgets the trailer: ao's git hook adds it
    with AnthropicServer() as api:
        api.script.on_prompt(
            "Task T-1: Add a greeting",
            text("Creating the file.")
            + tool_use("Write", {"file_path": str(workspace / "hello.txt"), "content": "hello\n"}, id="toolu_write"),
        )
        api.script.on_tool_result(
            "toolu_write",
            tool_use("Bash", {"command": f"git add hello.txt && git commit -q -m {shlex.quote(message)}",
                              "description": "Commit hello.txt"}, id="toolu_commit"),
        )
        api.script.on_tool_result("toolu_commit", text("Committed hello.txt."))
        # A message typed by the human: answered slowly so "working" can be seen.
        api.script.on_prompt("please also say goodbye", text("Will do: noted for later. Draft PR: https://github.example/acme/app/pull/7").with_delay(4))
        api.script.on_prompt("what have you done so far", text("I added hello.txt and committed it."))
        api.script.on_prompt("are you back after the crash", text("Yes: still on T-1, hello.txt is committed."))

        config = claude_project(git_repo, tmp_path / "home", api.url, monkeypatch, backlog=BACKLOG)
        engine = Engine(load_config(str(config)))
        try:
            s = engine.spawn(task_id="T-1")
            assert (s.id, s.branch, Path(s.workspace)) == ("rc-1", "ao/rc-1", workspace)

            def screen() -> str:
                try:
                    return engine.peek(s.id)
                except Exception as exc:  # noqa: BLE001 - only for failure messages
                    return repr(exc)

            # The model wrote the file and committed it on the session's branch, with the trailer.
            wait_until(lambda: api.script.pending() == ["prompt contains 'please also say goodbye'",
                                                         "prompt contains 'what have you done so far'",
                                                         "prompt contains 'are you back after the crash'"],
                       timeout=40, message=lambda: f"{api.script.pending()}\n{screen()}")
            wait_until(lambda: "Committed hello.txt." in screen(), timeout=15, message=screen)
            assert (workspace / "hello.txt").read_text() == "hello\n"
            assert git(workspace, "rev-parse", "--abbrev-ref", "HEAD") == "ao/rc-1"
            body = git(git_repo, "log", "-1", "--format=%B", "ao/rc-1")
            assert body.splitlines()[0] == "Add hello.txt" and body.splitlines()[-1] == TRAILER
            assert git(git_repo, "rev-parse", "main") != git(git_repo, "rev-parse", "ao/rc-1")
            assert git(workspace, "status", "--porcelain") == "", "ao's files stay out of the agent's commits"
            assert [c.subject for c in engine.commits(s.id)] == ["Add hello.txt"]
            # The transcript holds the task prompt; the rules with the trailer went in the system prompt.
            transcript = transcript_of(engine, s)
            assert transcript is not None and transcript.name == f"{s.agent_session_id}.jsonl"
            assert user_turns(transcript)[0] == engine.session(s.id).prompt
            assert TRAILER in json.dumps(api.main_requests[0].get("system"))

            # The engine loop: activity from the agent's own signals, as `ao ls --json` shows it.
            seen: list[tuple[ActivityState, str]] = []

            def on_change(changed: Session) -> None:
                if changed.id == s.id:
                    seen.append((changed.activity.state, changed.activity.source))

            engine.subscribe(on_change)
            assert engine.start(leader_loop)
            wait_until(lambda: engine.session(s.id).activity.state is ActivityState.IDLE, timeout=10,
                       message=lambda: f"{engine.session(s.id).activity} {screen()}")
            seen.clear()
            engine.send(s.id, "please also say goodbye")
            row = wait_until(lambda: [r for r in _ls_json(config) if r["id"] == s.id and r["activity"] == "working"],
                             timeout=10, interval=0.2)[0]
            assert row["status"] == "working" and row["activity_source"] in ("hook", "transcript")
            wait_until(lambda: "Will do: noted for later." in screen(), timeout=15, message=screen)
            # The PR link is read from the turn once it ended: it may reach the store a moment after "idle".
            row = wait_until(lambda: [r for r in _ls_json(config)
                                      if r["id"] == s.id and r["activity"] == "idle" and r["pr_links"]],
                             timeout=10, interval=0.2)[0]
            assert row["status"] == "idle" and row["activity_source"] in ("hook", "transcript")
            assert row["agent_session_id"] == s.agent_session_id and row["branch"] == "ao/rc-1"
            assert row["pr_links"] == ["https://github.example/acme/app/pull/7"], "the PR link it printed"
            states = [state for state, _ in seen]
            assert ActivityState.WORKING in states, seen
            assert ActivityState.IDLE in states[states.index(ActivityState.WORKING):], seen
            # `send` arrived as a new user turn.
            assert user_turns(transcript)[-1] == "please also say goodbye"

            # Kill, then restore: the same conversation continues.
            killed = engine.kill(s.id)
            assert killed.status is SessionStatus.KILLED and s.runtime_handle not in engine.runtime(killed).list_handles()
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING
            agent = engine.agent(restored)
            wait_until(lambda: (g := agent.read_screen(screen(), "")) is not None and g.state is ActivityState.IDLE,
                       timeout=20, message=screen)
            engine.send(s.id, "what have you done so far?")
            wait_until(lambda: "I added hello.txt and committed it." in screen(), timeout=20, message=screen)
            resumed = api.main_requests[-1]
            assert resumed.last_user_text.strip() == "what have you done so far?"
            assert {"toolu_write", "toolu_commit"} <= set(resumed.tool_names_by_id())
            earlier = json.dumps(resumed.messages)
            assert "please also say goodbye" in earlier and "Task T-1: Add a greeting" in earlier
            assert transcript_of(engine, engine.session(s.id)) == transcript, "restore keeps the transcript"
            assert api.script.pending() == ["prompt contains 'are you back after the crash'"]
            statuses = [e.to_status for e in engine.events(s.id) if e.kind == "status"]
            after_kill = statuses[statuses.index("killed"):]
            assert after_kill[:3] == ["killed", "spawning", "working"], statuses

            # The tmux server dies under it: seen at once, and restore brings the same conversation back.
            subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)
            wait_until(lambda: engine.session(s.id).status is SessionStatus.EXITED, timeout=5)
            engine.restore(s.id)
            wait_until(lambda: (g := agent.read_screen(screen(), "")) is not None and g.state is ActivityState.IDLE,
                       timeout=20, message=screen)
            engine.send(s.id, "are you back after the crash?")
            wait_until(lambda: "still on T-1" in screen(), timeout=20, message=screen)
            earlier = json.dumps(api.main_requests[-1].messages)
            assert "what have you done so far?" in earlier and "Task T-1: Add a greeting" in earlier
            assert transcript_of(engine, engine.session(s.id)) == transcript
            assert api.script.pending() == []
        finally:
            engine.stop()
