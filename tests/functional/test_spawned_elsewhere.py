"""A session spawned by another process (`ao spawn` beside `ao run`) is followed by the running engine:
its activity is seen and queued messages reach it. Real tmux, worktrees and the hooked stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]


def test_the_engine_follows_a_session_another_process_spawned(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    running = standin_engine(git_repo, "el", standin, monkeypatch)
    assert running.start(leader_loop)
    try:
        cli = Engine(load_config(str(git_repo.parent / "ao.config.yaml")))  # as `ao spawn` would, no loop
        s = cli.spawn(prompt="Started from the shell.")
        cli.queue_message(s.id, "A message queued from the shell.")
        (standin / s.id).mkdir(parents=True, exist_ok=True)
        (standin / s.id / "release").touch()
        received = standin / s.id / "received.jsonl"
        wait_until(lambda: received.exists() and received.read_text().strip(), timeout=30,
                   message=lambda: str(running.session(s.id).activity))
        assert [json.loads(x)["text"] for x in received.read_text().splitlines()] == ["A message queued from the shell."]
        wait_until(lambda: running.session(s.id).activity.source == "hook", timeout=10)
    finally:
        running.stop()
