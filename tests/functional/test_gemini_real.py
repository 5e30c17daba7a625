"""The real Gemini CLI under ao: spawn, states as they happen, approval, a CI failure, tokens, restore.

Gemini CLI runs in tmux against tests/support/gemini_server.py (streamGenerateContent,
``alt=sse``) through GOOGLE_GEMINI_BASE_URL, in a worktree made by ao; the engine loop
reads its hooks and saved chat. Run for each Gemini CLI under ``.tools/gemini/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.agent_cli import params, screen_of, watched_engine
from tests.support.gemini_project import MODEL, gemini_project
from tests.support.gemini_server import GeminiServer
from tests.support.gitrepo import git
from tests.support.scripted_model import call, error, text
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.gemini, pytest.mark.slow, pytest.mark.timeout(150)]

CI_FAILURE = "CI failed on your branch (check.py):\n\n  FAILED test_made - made.txt is empty\n\nPlease fix it."


@pytest.mark.parametrize("gemini", params("gemini"))
def test_gemini_story(gemini: str, tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    with GeminiServer(model=MODEL) as api:
        shell = "run_shell_command"
        api.script.on_prompt("Create made.txt", text("Creating it.") + call(shell, {
            "command": "printf 'made\\n' > made.txt && git add made.txt && git commit -qm 'Add made.txt'",
            "description": "Create and commit made.txt"}))
        api.script.on_tool_result(None, text("Created and committed made.txt."))  # rules are used in order
        api.script.on_prompt("run the slow check", call(shell, {"command": "sleep 3; echo checked",
                                                               "description": "Run the check"}))
        api.script.on_tool_result(None, text("The check passed."))
        api.script.on_prompt("CI failed on your branch", text("Which test should I look at first: test_made or the rest?"))
        api.script.on_prompt("break now", error(400, "Request contains an invalid argument."))
        api.script.on_prompt("what have you done so far", text("I created made.txt and committed it."))

        config = gemini_project(git_repo, tmp_path / "home", api.url, monkeypatch, gemini)
        engine, seen = watched_engine(config)
        try:
            assert engine.start(leader_loop)
            s = engine.spawn(prompt="Create made.txt with the word made in it, and commit it.")
            assert s.agent == "gemini"

            screen = screen_of(engine, s.id)

            def asking() -> bool:
                guess = engine.agent(s).read_screen(screen())
                return guess is not None and guess.state is ActivityState.WAITING_PERMISSION

            def approve() -> None:
                wait_until(asking, timeout=15, message=screen)
                for _ in range(3):
                    engine.send_keys(s.id, "Enter")  # "1. Allow once" is selected
                    try:
                        wait_until(lambda: not asking(), timeout=2)
                        return
                    except AssertionError:
                        continue
                raise AssertionError(f"the approval was not taken:\n{screen()}")

            def activity(state: ActivityState, timeout: float = 40) -> tuple[ActivityState, str, str]:
                return wait_until(lambda: next((x for x in seen if x[0] is state), None), timeout=timeout,
                                  message=lambda: f"no {state} in {seen}\n{screen()}")

            state, source, detail = activity(ActivityState.WAITING_PERMISSION)
            assert source == "hook" and "printf 'made" in detail, detail
            seen.clear()
            approve()
            activity(ActivityState.IDLE)
            workspace = Path(engine.session(s.id).workspace)
            assert (workspace / "made.txt").read_text() == "made\n"
            # Gemini CLI 0.61 blanks core.hooksPath for the commands it runs; ao's hook runs all the same.
            assert git(workspace, "log", "-1", "--format=%B").splitlines() == [
                "Add made.txt", "", f"Co-Authored-By: {MODEL} <noreply@ao-tui.dev>"]
            current = wait_until(lambda: (c := engine.session(s.id)).usage.input_tokens and c, timeout=10)
            assert current.usage.output_tokens > 0

            seen.clear()
            engine.send(s.id, "run the slow check")
            activity(ActivityState.WAITING_PERMISSION)
            approve()
            state, source, detail = activity(ActivityState.RUNNING_TOOL)
            activity(ActivityState.IDLE, timeout=20)

            seen.clear()
            engine.queue_message(s.id, CI_FAILURE, key="ci-1")
            state, source, detail = activity(ActivityState.WAITING_INPUT)
            assert detail == "Which test should I look at first: test_made or the rest?"
            assert "FAILED test_made - made.txt is empty" in json.dumps(api.turns[-1].get("contents"))

            engine.kill(s.id)
            seen.clear()
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING
            # Resumed, Gemini CLI draws an empty prompt first, then clears the screen to show the conversation
            # and runs its SessionStart hook: what is typed before that is lost. Its hook says it is ready.
            state, source, detail = activity(ActivityState.IDLE)
            assert source == "hook", (source, detail)
            wait_until(lambda: (g := engine.agent(s).read_screen(screen())) is not None and g.state is ActivityState.IDLE,
                       timeout=40, message=screen)
            engine.send(s.id, "what have you done so far?")
            wait_until(lambda: "I created made.txt and committed it." in screen(), timeout=30, message=screen)
            earlier = json.dumps(api.turns[-1].get("contents"))
            assert "Create made.txt with the word made" in earlier and "run the slow check" in earlier
        finally:
            engine.stop()
