"""Where the real agent CLIs are: the versions scripts/setup put under ``.tools/<agent>/<version>/``.

``.tools/codex/0.171.0/node_modules/.bin/codex`` is the pinned release,
``.tools/codex/latest/...`` the newest one at set-up time (when it differs).
``$AO_<AGENT>_BIN`` (``AO_CODEX_BIN``) runs the tests against another build instead.
``installed("codex")`` lists ``(version label, executable)`` for pytest to parametrize over.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = ROOT / ".tools"
#: Where each CLI's executable sits inside its install prefix.
EXECUTABLES = {
    "codex": Path("node_modules/.bin/codex"),
    "gemini": Path("node_modules/.bin/gemini"),
    "opencode": Path("node_modules/.bin/opencode"),
    "aider": Path("venv/bin/aider"),
}


def installed(agent: str) -> list[tuple[str, str]]:
    override = os.environ.get(f"AO_{agent.upper()}_BIN")
    if override:
        return [("override", override)] if Path(override).exists() else []
    found = []
    for prefix in sorted((TOOLS / agent).glob("*")):
        exe = prefix / EXECUTABLES[agent]
        if exe.exists():
            found.append((prefix.name, str(exe)))
    if not found and shutil.which(agent):
        found.append(("PATH", str(shutil.which(agent))))
    return found


def params(agent: str) -> list:
    """pytest params over the installed versions (one skipped param when there is none)."""
    import pytest

    versions = installed(agent)
    if not versions:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{agent} CLI not installed (scripts/setup)"))]
    return [pytest.param(exe, id=label) for label, exe in versions]


def watched_engine(config: Path) -> tuple[Any, list[tuple[Any, str, str]]]:
    """An Engine for ``config`` and the list it appends every ``(state, source, detail)`` it reports to."""
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(config)))
    seen: list[tuple[Any, str, str]] = []
    engine.subscribe(lambda s: seen.append((s.activity.state, s.activity.source, s.activity.detail)))
    return engine, seen


def screen_of(engine: Any, session_id: str) -> Callable[[], str]:
    """What the session's screen shows now (or why it cannot be read), for failure messages."""
    def screen() -> str:
        try:
            return engine.peek(session_id)
        except Exception as exc:  # noqa: BLE001 - only for failure messages
            return repr(exc)
    return screen
