"""Reaction messages waiting in the outbox: delivered at the prompt, dropped once they are history.
Real tmux, git and worktrees; the hooked stand-in agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.models import PullRequest
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]


def test_a_ci_failure_on_a_commit_the_branch_moved_past_is_never_typed(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "ob", standin, monkeypatch)
    s = engine.spawn(prompt="Fix things.")
    (standin / s.id).mkdir(parents=True, exist_ok=True)
    (standin / s.id / "release").touch()
    # The PR as last polled: its head is the agent's newer commit.
    engine.store.update(s.id, pr=PullRequest(number=1, branch=s.branch, head_sha="b" * 40))
    engine.queue_message(s.id, "CI failed on your old commit", key=f"{s.id}:ci_failed:{'a' * 40}")
    engine.queue_message(s.id, "CI failed on your latest commit", key=f"{s.id}:ci_failed:{'b' * 40}")
    assert engine.start(leader_loop)
    try:
        received = standin / s.id / "received.jsonl"
        got = wait_until(lambda: received.exists() and [json.loads(x)["text"] for x in received.read_text().splitlines()],
                         timeout=20, message=lambda: str(engine.session(s.id)))
        wait_until(lambda: not engine.store.pending_messages(s.id), timeout=10)
        assert got == ["CI failed on your latest commit"]
        dropped = [e for e in engine.events(s.id) if e.kind == "message_dropped"]
        assert [e.data["reason"] for e in dropped] == ["the branch moved from aaaaaaaa to bbbbbbbb"]
    finally:
        engine.stop()
