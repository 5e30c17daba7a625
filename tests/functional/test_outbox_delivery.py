"""Reaction messages waiting in the outbox: delivered at the prompt, dropped once they are history.
Real tmux, git and worktrees; the hooked stand-in agent."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import PullRequest
from tests.support.claude_project import needs_worktree
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

STAND_IN = Path(__file__).resolve().parents[2] / "tests" / "support" / "hooked_stand_in.py"


def test_a_ci_failure_on_a_commit_the_branch_moved_past_is_never_typed(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    monkeypatch.setenv("AO_STANDIN_DIR", str(standin))
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "ob", "notifiers": [],
        "agent": {"command": [sys.executable, str(STAND_IN)]},
    }}}))
    engine = Engine(load_config(str(config)))
    s = engine.spawn(prompt="Fix things.")
    (standin / s.id).mkdir(parents=True, exist_ok=True)
    (standin / s.id / "release").touch()
    # The PR as last polled: its head is the agent's newer commit.
    engine.store.update(s.id, pr=PullRequest(number=1, branch=s.branch, head_sha="b" * 40))
    engine.queue_message(s.id, "CI failed on your old commit", key=f"{s.id}:ci_failed:{'a' * 40}")
    engine.queue_message(s.id, "CI failed on your latest commit", key=f"{s.id}:ci_failed:{'b' * 40}")
    assert engine.start()
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
