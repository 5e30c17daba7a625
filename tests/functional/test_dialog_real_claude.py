"""A message ao queues for an agent (a reaction: CI failed, a review) waits while Claude Code shows a
question dialog: typed there, its Enter would pick an answer for the human. Once the human has
answered, the message is typed at the prompt. Real Claude Code (each tested version), tmux, git."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import ActivityState
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.claude_project import claude_project, needs_worktree, transcript_of, user_turns
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(90),
]

MESSAGE = "CI failed on your branch ao/rc-1: fix test_add."


def test_a_queued_message_waits_for_the_human_to_answer_the_question_dialog(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("Pick a database", tool_use("AskUserQuestion", {"questions": [{
            "question": "Which database should I use?", "header": "DB", "multiSelect": False,
            "options": [{"label": "Postgres", "description": "robust"}, {"label": "SQLite", "description": "simple"}]}]},
            id="toolu_ask"))
        api.script.on_tool_result("toolu_ask", text("Postgres it is."))
        api.script.on_prompt("CI failed", text("Looking at test_add."))
        engine = Engine(load_config(str(claude_project(git_repo, tmp_path / "home", api.url, monkeypatch))))
        s = engine.spawn(prompt="Pick a database with me.")
        assert engine.start(leader_loop)
        try:
            def screen() -> str:
                return engine.peek(s.id)

            wait_until(lambda: engine.session(s.id).activity.tool == "AskUserQuestion"
                       and "Enter to select" in screen(), timeout=30, message=screen)
            assert engine.session(s.id).activity.state is ActivityState.WAITING_INPUT
            engine.queue_message(s.id, MESSAGE, key=f"{s.id}:ci_failed:0123456789")
            time.sleep(3)  # the loop has woken for it, more than once
            assert "Enter to select" in screen() and "Postgres it is." not in screen(), "ao answered for the human"
            assert [m["text"] for m in engine.store.pending_messages(s.id)] == [MESSAGE]

            engine.send_keys(s.id, "Enter")  # the human picks the first option
            wait_until(lambda: not engine.store.pending_messages(s.id), timeout=30, message=screen)
            wait_until(lambda: "Looking at test_add." in screen(), timeout=30, message=screen)
            # Claude Code writes its transcript a moment after the screen (more so on a busy machine).
            wait_until(lambda: user_turns(transcript_of(engine, s)) == ["Pick a database with me.", MESSAGE],
                       timeout=10, message=lambda: str(user_turns(transcript_of(engine, s))))
            assert api.script.pending() == []
        finally:
            engine.stop()
