"""A project whose agent is one of the stand-ins: the config most engine-loop tests start from."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine

SUPPORT = Path(__file__).resolve().parent
HOOKED_STAND_IN = SUPPORT / "hooked_stand_in.py"  # fires Claude Code's hooks
SCREEN_STAND_IN = SUPPORT / "screen_stand_in.py"  # screen only, like aider


def standin_engine(
    git_repo: Path, prefix: str, standin_dir: Path, monkeypatch: pytest.MonkeyPatch, *,
    stand_in: Path = HOOKED_STAND_IN, agent_plugin: str | None = None, **project: Any,
) -> Engine:
    """An engine over ``git_repo`` (project ``demo``, ids ``<prefix>-<n>``, no notifiers) whose agent
    is ``stand_in``, writing what it sees under ``standin_dir``; ``project`` adds or overrides keys."""
    monkeypatch.setenv("AO_STANDIN_DIR", str(standin_dir))
    agent: dict[str, Any] = {"command": [sys.executable, str(stand_in)]}
    if agent_plugin:
        agent["plugin"] = agent_plugin
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": prefix, "notifiers": [], "agent": agent, **project,
    }}}))
    return Engine(load_config(str(config)))
