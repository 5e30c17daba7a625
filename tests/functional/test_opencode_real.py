"""The real OpenCode under ao: spawn, every state from its events, approval, a CI failure, restore.

OpenCode runs in tmux (ao's runtime) against tests/support/openai_server.py
(Chat Completions, streamed) as an OpenAI-compatible provider, in a worktree
made by ao; the engine loop reads the events ao's plugin inside it writes, and
its database (the session id, tokens).
Run for each OpenCode under ``.tools/opencode/`` (pinned and newest).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.agent_cli import params, screen_of, watched_engine
from tests.support.gitrepo import git
from tests.support.openai_server import OpenAIServer
from tests.support.opencode_project import MODEL, opencode_project
from tests.support.scripted_model import call, error, text
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.opencode, pytest.mark.slow, pytest.mark.timeout(240)]

CI_FAILURE = "CI failed on your branch (check.py):\n\n  FAILED test_made - made.txt is empty\n\nPlease fix it."


def _bash(command: str) -> dict:
    return {"command": command, "description": "Run it"}


@pytest.mark.parametrize("opencode", params("opencode"))
def test_opencode_story(opencode: str, tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAIServer(model="gpt-test") as api:
        api.script.on_prompt("Create made.txt", text("Creating it.") + call(
            "bash", _bash("printf 'made\\n' > made.txt && git add made.txt && git commit -qm 'Add made.txt'"),
            id="call_make"))
        api.script.on_tool_result("call_make", text("Created and committed made.txt."))
        api.script.on_prompt("run the slow check", call("bash", _bash("sleep 4; echo checked"), id="call_slow"))
        api.script.on_tool_result("call_slow", text("The check passed."))
        api.script.on_prompt("CI failed on your branch", text("Which test should I look at first: test_made or the rest?"))
        api.script.on_prompt("break now", error(400, "Bad request from the scripted server"), times=None)
        api.script.on_prompt("what have you done so far", text("I created made.txt and committed it."))

        config = opencode_project(git_repo, tmp_path / "home", api.url, monkeypatch, opencode)
        engine, seen = watched_engine(config)
        capture = os.environ.get("AO_CAPTURE_SCREENS")
        try:
            assert engine.start(leader_loop)
            s = engine.spawn(prompt="Create made.txt with the word made in it, and commit it.")
            assert s.agent == "opencode"

            screen = screen_of(engine, s.id)

            def activity(state: ActivityState, timeout: float = 40) -> tuple[ActivityState, str, str]:
                found = wait_until(lambda: next((x for x in seen if x[0] is state), None), timeout=timeout,
                                   message=lambda: f"no {state} in {seen}\n{screen()}")
                if capture:
                    Path(capture, f"{state.value}.txt").write_text(screen())
                return found

            def approve() -> None:
                """Enter on "Allow once" once the dialog is drawn (its plugin reports the prompt before)."""
                def asking() -> bool:
                    guess = engine.agent(s).read_screen(screen())
                    return guess is not None and guess.state is ActivityState.WAITING_PERMISSION

                wait_until(asking, timeout=30, message=screen)
                for _ in range(3):
                    engine.send_keys(s.id, "Enter")  # "Allow once" is selected
                    try:
                        wait_until(lambda: not asking(), timeout=3)
                        return
                    except AssertionError:
                        continue
                raise AssertionError(f"the approval was not taken:\n{screen()}")

            # Permission asked (OPENCODE_PERMISSION from ao: bash asks): from ao's plugin, with the command.
            state, source, detail = activity(ActivityState.WAITING_PERMISSION, timeout=90)  # its start-up is slow under load
            assert source == "hook" and "printf 'made" in detail, (source, detail)
            seen.clear()
            approve()
            activity(ActivityState.IDLE)
            workspace = Path(engine.session(s.id).workspace)
            assert (workspace / "made.txt").read_text() == "made\n"
            body = git(workspace, "log", "-1", "--format=%B")
            assert body.splitlines()[0] == "Add made.txt"
            assert body.splitlines()[-1] == f"Co-Authored-By: {MODEL} <noreply@ao-tui.dev>", body

            # Tokens from its database (every assistant message of the worktree's sessions).
            current = wait_until(lambda: (c := engine.session(s.id)).usage.input_tokens and c, timeout=10)
            assert current.usage.output_tokens > 0

            # A slow command: running_tool while it runs, then idle.
            seen.clear()
            engine.send(s.id, "run the slow check")
            activity(ActivityState.WAITING_PERMISSION)
            approve()
            state, source, detail = activity(ActivityState.RUNNING_TOOL)
            assert source == "hook" and "sleep 4" in detail, (source, detail)
            activity(ActivityState.IDLE, timeout=30)

            # A CI failure, several lines long, is typed in and submitted; the agent asks a question.
            seen.clear()
            engine.queue_message(s.id, CI_FAILURE, key="ci-1")
            state, source, detail = activity(ActivityState.WAITING_INPUT)
            assert (source, detail) == ("hook", "Which test should I look at first: test_made or the rest?")
            assert "FAILED test_made - made.txt is empty" in json.dumps(api.turns[-1].get("messages"))

            # The API refuses the request: errored, with the error.
            seen.clear()
            engine.send(s.id, "break now")
            state, source, detail = activity(ActivityState.ERRORED)
            assert source == "hook" and "Bad request from the scripted server" in detail, (source, detail)

            # Killed, then restored: OpenCode's own session id (from its database) reopens the conversation.
            found = engine.agent(s).agent_session_id(engine.launch_spec(engine.session(s.id)))
            assert found.startswith("ses_"), found
            engine.kill(s.id)
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING
            assert engine.agent(s).restore_argv(engine.launch_spec(restored))[-2:] == ["--session", found]
            wait_until(lambda: (g := engine.agent(s).read_screen(screen())) is not None
                       and g.state in (ActivityState.IDLE, ActivityState.ERRORED), timeout=90, message=screen)
            engine.send(s.id, "what have you done so far?")
            wait_until(lambda: "I created made.txt and committed it." in screen(), timeout=40, message=screen)
            earlier = json.dumps(api.turns[-1].get("messages"))
            assert "Create made.txt with the word made" in earlier and "run the slow check" in earlier
        finally:
            engine.stop()
