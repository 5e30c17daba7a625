"""Where the real agent CLIs are: the versions scripts/setup put under ``.tools/<agent>/<version>/``.

``.tools/codex/0.171.0/node_modules/.bin/codex`` is the pinned release,
``.tools/codex/latest/...`` the newest one at set-up time (when it differs).
``$AO_<AGENT>_BIN`` (``AO_CODEX_BIN``) runs the tests against another build instead.
``installed("codex")`` lists ``(version label, executable)`` for pytest to parametrize over.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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
