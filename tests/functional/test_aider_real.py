"""The real aider under ao: spawn, the task typed in, every state as it happens, approval, a CI failure, restore.

aider runs in tmux (ao's runtime) against tests/support/openai_server.py
(Chat Completions, streamed) through ``OPENAI_API_BASE``, in a worktree made
by ao; the engine loop reads its chat history and its screen. Run for each aider under
``.tools/aider/`` (pinned and newest).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.agent_cli import params, screen_of, watched_engine
from tests.support.aider_project import MODEL, aider_project
from tests.support.gitrepo import git
from tests.support.openai_server import OpenAIServer
from tests.support.scripted_model import error, text
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.aider, pytest.mark.slow, pytest.mark.timeout(150)]

CI_FAILURE = "CI failed on your branch (check.py):\n\n  FAILED test_made - made.txt is empty\n\nPlease fix it."


@pytest.mark.parametrize("aider", params("aider"))
def test_aider_story(aider: str, tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAIServer(model=MODEL) as api:
        api.script.on_prompt("Create made.txt", text("I will create it.\n\nmade.txt\n```\nmade\n```\n").with_delay(2))
        api.script.on_prompt("CI failed on your branch", text("Which test should I look at first: test_made or the rest?"))
        api.script.on_prompt("break now", error(400, "Bad request from the scripted server"))
        api.script.on_prompt("what have you done so far", text("I created made.txt and committed it."))

        config = aider_project(git_repo, tmp_path / "home", api.url, monkeypatch, aider)
        engine, seen = watched_engine(config)
        sources: set[str] = set()
        engine.subscribe(lambda session: sources.add(session.activity.source))
        try:
            assert engine.start(leader_loop)
            s = engine.spawn(prompt="Create made.txt with the word made in it.")
            assert s.agent == "aider"

            screen = screen_of(engine, s.id)

            def activity(state: ActivityState, timeout: float = 40) -> tuple[ActivityState, str, str]:
                return wait_until(lambda: next((x for x in seen if x[0] is state), None), timeout=timeout,
                                  message=lambda: f"no {state} in {seen}\n{screen()}")

            # The task is typed in at aider's prompt and submitted; the model's answer takes 2 s: working.
            api.wait_for_turn(1, timeout=60)
            assert "Create made.txt with the word made in it." in json.dumps(api.turns[0].get("messages"))
            # aider asks before creating a file: waiting_permission from its screen, with what it asks.
            state, source, detail = activity(ActivityState.WAITING_PERMISSION)
            assert source == "screen" and detail == "Create new file? (made.txt)", (source, detail)
            seen.clear()
            engine.send_keys(s.id, "y", "Enter")
            activity(ActivityState.IDLE)
            workspace = Path(engine.session(s.id).workspace)
            assert (workspace / "made.txt").read_text() == "made\n"
            body = git(workspace, "log", "-1", "--format=%B")
            # aider commits by itself (with --no-verify); ao's prepare-commit-msg hook still adds its trailer.
            assert f"Co-Authored-By: {MODEL} <noreply@ao-tui.dev>" in body, body

            # Tokens from its chat history's "Tokens: N sent, M received." lines, read as they are written.
            current = wait_until(lambda: (c := engine.session(s.id)).usage.input_tokens and c, timeout=10)
            assert current.usage.output_tokens > 0

            # A CI failure, several lines long, is typed in and submitted; the agent asks a question.
            seen.clear()
            engine.queue_message(s.id, CI_FAILURE, key="ci-1")
            state, source, detail = activity(ActivityState.WAITING_INPUT)
            assert detail == "Which test should I look at first: test_made or the rest?", detail
            assert "FAILED test_made - made.txt is empty" in json.dumps(api.turns[-1].get("messages"))

            # The API refuses the request: errored, with the error.
            seen.clear()
            engine.send(s.id, "break now")
            state, source, detail = activity(ActivityState.ERRORED)
            assert "Bad request from the scripted server" in detail, detail

            # Killed, then restored with its chat history: the same conversation continues.
            engine.kill(s.id)
            before = len(api.turns)
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING
            wait_until(lambda: (g := engine.agent(s).read_screen(screen())) is not None and g.state is ActivityState.IDLE,
                       timeout=40, message=screen)
            engine.send(s.id, "what have you done so far?")
            wait_until(lambda: "I created made.txt and committed it." in screen(), timeout=30, message=screen)
            # The restored history reaches the model: as it was, or in the summary aider asks for when it
            # is long for the model's context.
            after = json.dumps([t.get("messages") for t in api.turns[before:]])
            assert "Create made.txt with the word made" in after and "CI failed on your branch" in after
            assert api.script.pending() == []
            # Its chat history told ao of prompts, answers and errors as they were written; its screen of the rest.
            assert {"transcript", "screen"} <= sources, sources
        finally:
            engine.stop()
