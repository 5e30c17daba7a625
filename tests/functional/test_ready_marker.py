"""The READY marker opens the PR only as the rules define it: a line of its own. Real tmux, git and
worktree; the agent is the hooked stand-in, and what it said is set as its last message."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.engine_loop import EngineLoop
from tests.support.claude_project import needs_worktree
from tests.support.gitrepo import git

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

STAND_IN = Path(__file__).resolve().parents[2] / "tests" / "support" / "hooked_stand_in.py"


def test_not_ready_opens_nothing_and_ready_on_its_own_line_opens_the_pr(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "rd", "notifiers": [],
        "agent": {"command": [sys.executable, str(STAND_IN)]},
        "scm": {"plugin": "local", "ci": []},
    }}}))
    engine = Engine(load_config(str(config)))
    s = engine.spawn(prompt="Add a.txt.")
    ws = Path(s.workspace)
    (ws / "a.txt").write_text("a\n")
    git(ws, "add", "a.txt")
    git(ws, "commit", "-qm", "Add a.txt")
    loop = EngineLoop(engine)

    def agent_said(text: str) -> object:
        engine.store.mutate(s.id, lambda x: setattr(x, "last_message", text))
        loop.prs.maybe_open_pr(engine.session(s.id))
        return engine.session(s.id).pr

    assert agent_said("Tests still fail, so NOT READY") is None
    assert agent_said("I am not READY yet: one more test to write.") is None
    assert agent_said("Added a.txt and committed it.\n\nREADY") is not None
