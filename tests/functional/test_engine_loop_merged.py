"""The engine loop after a merge: a PR merged by another process (`ao merge` while `ao run`
runs) still gets its outcome recorded, and after the grace period the session's agent is
stopped and its workspace removed (status done). Real tmux, git and worktrees; the agent is
the hooked stand-in (tests/support/hooked_stand_in.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import SessionStatus as S
from tests.support.claude_project import needs_worktree
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "hooked_stand_in.py"


def test_merged_elsewhere_gets_its_outcome_then_is_retired_after_the_grace_period(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "mg", "notifiers": [],
        "agent": {"command": [sys.executable, str(STAND_IN)]},
        "scm": {"plugin": "local", "ci": [f"{sys.executable} -c pass"]},
    }}}))
    human = Engine(load_config(str(config)))  # the CLI's engine: no loop
    s = human.spawn(prompt="Add a file.")
    ws = Path(s.workspace)
    (ws / "a.txt").write_text("a\n")
    git(ws, "add", "a.txt")
    git(ws, "commit", "-qm", "Add a.txt")
    human.open_pr(s.id)
    wait_until(lambda: (p := human.refresh_pr(s.id)) is not None and p.ci.value == "passed", timeout=20)
    human.approve(s.id)
    assert human.merge(s.id, "merge").status is S.MERGED  # fast-forward: nothing left unmerged
    assert human.store.outcomes("demo") == []

    loop_engine = Engine(load_config(str(config)))  # `ao run`
    assert loop_engine.start()
    try:
        loop = loop_engine._loop
        loop.liveness_seconds = 0.2
        outcome = wait_until(lambda: loop_engine.store.outcomes("demo"), timeout=10)
        assert outcome[0]["session_id"] == s.id
        assert loop_engine.session(s.id).status is S.MERGED, "kept during the grace period"
        assert s.runtime_handle in loop_engine.runtime(s).list_handles()
        loop.merged_grace_seconds = 0
        loop.wake()
        done = wait_until(lambda: (cur := loop_engine.session(s.id)).status is S.DONE and cur, timeout=10)
        assert s.runtime_handle not in loop_engine.runtime(done).list_handles()
        assert not ws.exists()
        assert git(git_repo, "show", "main:a.txt") == "a"
    finally:
        loop_engine.stop()
