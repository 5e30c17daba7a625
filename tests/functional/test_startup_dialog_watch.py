"""The start-up dialog watch reads an agent's screen only while its launch is young: an engine started
over a fleet that has run a while reads no screens (an idle fleet costs no tmux calls), while an
agent launched moments ago is still looked at. Real tmux, git and worktrees; sleeping agents."""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import utcnow
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_an_engine_started_over_an_older_fleet_reads_only_the_young_agents_screens(
    git_repo: Path, ao_home: Path, tmux_socket: str
) -> None:
    (git_repo / "ao.config.yaml").write_text(
        "projects:\n  demo:\n    repo: .\n    session_prefix: dw\n    notifiers: []\n"
        f"    agent:\n      command: {json.dumps(SLEEPER)}\n")
    engine = Engine(load_config(str(git_repo / "ao.config.yaml")))
    old, young = engine.spawn(prompt="wait"), engine.spawn(prompt="wait")
    ten_minutes_ago = utcnow() - timedelta(minutes=10)
    engine.store.update(old.id, created_at=ten_minutes_ago, status_since=ten_minutes_ago)
    reads: Counter[str] = Counter()
    screen = engine.screen

    def counted_screen(session):  # noqa: ANN001, ANN202
        reads[session.id] += 1
        return screen(session)

    engine.screen = counted_screen  # type: ignore[method-assign]
    try:
        assert engine.start(leader_loop)
        wait_until(lambda: reads[young.id] >= 3, timeout=30, message=lambda: str(reads))  # several passes
        assert reads[old.id] == 0, reads
    finally:
        engine.stop()
        engine.store.close()
