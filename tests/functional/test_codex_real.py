"""The real Codex CLI under ao: spawn, every state as it happens, approval, a CI failure, tokens, restore.

Codex runs in tmux (ao's runtime) against tests/support/openai_server.py (the
Responses API, streamed) in a worktree made by ao; the engine loop reads its
hooks and rollout. Run for each Codex under ``.tools/codex/`` (pinned and newest).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.agent_cli import params, screen_of, watched_engine
from tests.support.codex_project import MODEL, codex_project
from tests.support.gitrepo import git
from tests.support.openai_server import OpenAIServer
from tests.support.scripted_model import call, error, text
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.codex, pytest.mark.slow, pytest.mark.timeout(150)]

CI_FAILURE = "CI failed on your branch (check.py):\n\n  FAILED test_made - made.txt is empty\n\nPlease fix it."


def _escalated(cmd: str, why: str) -> dict:
    """An exec_command Codex must ask the human about (outside its sandbox)."""
    return {"cmd": cmd, "sandbox_permissions": "require_escalated", "justification": why, "yield_time_ms": 10000}


@pytest.mark.parametrize("codex", params("codex"))
def test_codex_story(codex: str, tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAIServer(model=MODEL) as api:
        api.script.on_prompt("Create made.txt", text("Creating it.") + call(
            "exec_command", _escalated("printf 'made\\n' > made.txt && git add made.txt && git commit -qm 'Add made.txt'",
                                       "Create and commit made.txt"), id="call_make"))
        api.script.on_tool_result("call_make", text("Created and committed made.txt."))
        api.script.on_prompt("run the slow check", call("exec_command", _escalated("sleep 3; echo checked", "Run the check"),
                                                        id="call_slow"))
        api.script.on_tool_result("call_slow", text("The check passed."))
        api.script.on_prompt("CI failed on your branch", text("Which test should I look at first: test_made or the rest?"))
        api.script.on_prompt("break now", error(500, "The server had an error while processing your request"))
        limit_lifts = int(time.time()) + 90 * 60
        api.script.on_prompt("use it all up", error(429, "You've hit your usage limit.", kind="usage_limit_reached",
                                                    resets_at=limit_lifts, plan_type="plus"))
        api.script.on_prompt("what have you done so far", text("I created made.txt and committed it."))

        config = codex_project(git_repo, tmp_path / "home", api.url, monkeypatch, codex)
        engine, seen = watched_engine(config)
        try:
            assert engine.start(leader_loop)
            s = engine.spawn(prompt="Create made.txt with the word made in it, and commit it.")
            assert s.agent == "codex"

            screen = screen_of(engine, s.id)

            def asking() -> bool:
                guess = engine.agent(s).read_screen(screen())
                return guess is not None and guess.state is ActivityState.WAITING_PERMISSION

            def approve() -> None:
                """What a human does: sees the dialog on the agent's screen, presses y.

                Codex 0.171 drops a key that arrives while its PermissionRequest hook
                still runs (the dialog is up by then): a second press after a pause.
                """
                wait_until(asking, timeout=10, message=screen)
                for _ in range(3):
                    engine.send_keys(s.id, "y")
                    try:
                        wait_until(lambda: not asking(), timeout=2)
                        return
                    except AssertionError:
                        continue
                raise AssertionError(f"the approval was not taken:\n{screen()}")

            def activity(state: ActivityState, timeout: float = 30) -> tuple[ActivityState, str, str]:
                return wait_until(lambda: next((x for x in seen if x[0] is state), None), timeout=timeout,
                                  message=lambda: f"no {state} in {seen}\n{screen()}")

            # Permission asked: reported from the hook, with the command, and approved like a human would.
            state, source, detail = activity(ActivityState.WAITING_PERMISSION)
            assert source == "hook" and "printf 'made" in detail, detail
            seen.clear()
            approve()
            activity(ActivityState.IDLE)
            workspace = Path(engine.session(s.id).workspace)
            assert (workspace / "made.txt").read_text() == "made\n"
            body = git(workspace, "log", "-1", "--format=%B")
            assert body.splitlines()[0] == "Add made.txt"
            assert body.splitlines()[-1] == f"Co-Authored-By: {MODEL} <noreply@ao-tui.dev>", body
            # Codex's thread id is learnt from its hooks; tokens from its rollout.
            current = wait_until(lambda: (c := engine.session(s.id)).usage.input_tokens and c, timeout=10)
            assert current.usage.output_tokens > 0 and current.usage.cost_usd > 0
            assert current.last_message == "Created and committed made.txt."

            # A slow command: running_tool while it runs, then idle.
            seen.clear()
            engine.send(s.id, "run the slow check")
            activity(ActivityState.WAITING_PERMISSION)
            approve()
            state, source, detail = activity(ActivityState.RUNNING_TOOL)
            assert "sleep 3" in detail, detail
            activity(ActivityState.IDLE, timeout=20)

            # A CI failure, several lines long, is typed in and submitted; the agent asks a question.
            seen.clear()
            engine.queue_message(s.id, CI_FAILURE, key="ci-1")
            state, source, detail = activity(ActivityState.WAITING_INPUT)
            assert detail == "Which test should I look at first: test_made or the rest?"
            turn = api.turns[-1]
            assert "FAILED test_made - made.txt is empty" in json.dumps(turn.get("input"))

            # The API fails (no retries configured): errored, with the error.
            seen.clear()
            engine.send(s.id, "break now")
            state, source, detail = activity(ActivityState.ERRORED)
            # Codex words every 5xx the same way.
            assert source == "transcript" and "experiencing high demand" in detail, (source, detail)

            # The account's usage limit (a 429 usage_limit_reached with its reset time): rate_limited from
            # its rollout, until the time Codex says ("try again at 8:44 AM": to the minute, rounded up).
            seen.clear()
            engine.send(s.id, "use it all up")
            state, source, detail = activity(ActivityState.RATE_LIMITED)
            assert source == "transcript" and "usage limit" in detail, (source, detail)
            until = engine.session(s.id).activity.until
            assert until is not None and 0 <= until.timestamp() - limit_lifts <= 120, (until, limit_lifts)

            # Killed, then restored: the same conversation continues.
            thread = engine.agent(s).agent_session_id(engine.launch_spec(engine.session(s.id)))
            assert thread and engine.session(s.id).agent_session_id == thread, "Codex's thread id was recorded"
            engine.kill(s.id)
            restored = engine.restore(s.id)
            assert restored.status is SessionStatus.WORKING
            wait_until(lambda: (g := engine.agent(s).read_screen(screen())) is not None and g.state is ActivityState.IDLE,
                       timeout=30, message=screen)
            engine.send(s.id, "what have you done so far?")
            wait_until(lambda: "I created made.txt and committed it." in screen(), timeout=30, message=screen)
            earlier = json.dumps(api.turns[-1].get("input"))
            assert "Create made.txt with the word made" in earlier and "run the slow check" in earlier
            assert api.script.pending() == []
        finally:
            engine.stop()
