"""A Claude Code outside the tested versions is named once, plainly, when an agent starts on it.

The agent is the hooked stand-in behind a launcher that answers ``--version`` as an old Claude Code
would; `ao spawn` runs as a user runs it (real tmux, git, worktree)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.store import open_store
from ao_tui_plugins.agent_claude_code import TESTED_VERSIONS
from tests.support.claude_project import needs_worktree

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

STAND_IN = Path(__file__).resolve().parents[2] / "tests" / "support" / "hooked_stand_in.py"


def old_claude(tmp_path: Path, version: str) -> Path:
    launcher = tmp_path / "bin" / "claude"
    launcher.parent.mkdir()
    launcher.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "{version} (Claude Code)"; exit 0; fi\n'
        f"exec {shlex.quote(sys.executable)} {shlex.quote(str(STAND_IN))} \"$@\"\n"
    )
    launcher.chmod(0o755)
    return launcher


def ao(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ao_tui.cli", *args], cwd=cwd, env=dict(os.environ),
                          capture_output=True, text=True, timeout=30)


def test_an_untested_claude_code_is_named_once_and_recorded_on_each_session(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    (git_repo.parent / "ao.config.yaml").write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "vn", "notifiers": [],
        "agent": {"command": [str(old_claude(tmp_path, "2.1.100"))]},
    }}}))
    first = ao("spawn", "--prompt", "Add a.txt.", cwd=git_repo.parent)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines() == [
        f"ao: note: Claude Code 2.1.100 is older than ao supports (tested with {TESTED_VERSIONS[0]} to "
        f"{TESTED_VERSIONS[1]}); activity may be misread. Update it: npm install -g @anthropic-ai/claude-code"]
    second = ao("spawn", "--prompt", "Add b.txt.", cwd=git_repo.parent)
    assert second.returncode == 0 and second.stderr == "", "said once"
    store = open_store()
    try:
        for sid in ("vn-1", "vn-2"):
            notices = [e.data["notice"] for e in store.events(sid) if e.kind == "agent_notice"]
            assert len(notices) == 1 and notices[0].startswith("Claude Code 2.1.100 is older"), sid
    finally:
        store.close()
