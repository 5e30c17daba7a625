"""An agent ao can read only from its screen (no hooks, no transcript, like aider): the loop
learns its activity from the screen and delivers queued messages one at a time, each only
once the agent is back at its prompt. Real tmux, git and worktrees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.models import ActivityState
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.standin_project import SCREEN_STAND_IN, standin_engine
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]


def test_screen_only_agent_gets_queued_messages_one_at_a_time_at_its_prompt(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "sc", standin, monkeypatch, stand_in=SCREEN_STAND_IN, agent_plugin="aider")
    assert engine.start(leader_loop)
    try:
        s = engine.spawn(prompt="Tidy the README.")
        idle = wait_until(lambda: (a := engine.session(s.id).activity).state is ActivityState.IDLE and a,
                          timeout=20, message=lambda: f"{engine.session(s.id).activity}\n{engine.peek(s.id)}")
        assert idle.source == "screen"
        engine.queue_message(s.id, "first: please also fix the typo")
        engine.queue_message(s.id, "second: and run the tests")

        def received() -> list[dict]:
            path = standin / s.id / "received.jsonl"
            return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

        got = wait_until(lambda: len(received()) >= 3 and received(), timeout=15,
                         message=lambda: f"{received()}\n{engine.peek(s.id)}")
        # aider takes its task typed in at its prompt (types_prompt), then the queued messages, in order.
        assert [(m["text"], m["busy"]) for m in got] == [
            ("Tidy the README.", False), ("first: please also fix the typo", False),
            ("second: and run the tests", False)]
        wait_until(lambda: engine.store.pending_messages(s.id) == [], timeout=5)
    finally:
        engine.stop()
