"""An ao project whose agent is the real Gemini CLI talking to tests/support/gemini_server.py.

The user's Gemini home (``$HOME/.gemini/settings.json``) picks API-key login;
``GEMINI_API_KEY`` (a test value) and ``GOOGLE_GEMINI_BASE_URL`` (the scripted
server on 127.0.0.1) are in ``os.environ`` as a user's shell would hold them.
Nothing reaches a public host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MODEL = "gemini-2.5-pro"


def gemini_project(repo: Path, home: Path, api_url: str, monkeypatch: pytest.MonkeyPatch, gemini: str, *,
                   permission_mode: str = "default", prefix: str = "gm") -> Path:
    (home / ".gemini").mkdir(parents=True, exist_ok=True)
    (home / ".gemini" / "settings.json").write_text(json.dumps({
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
        "privacy": {"usageStatisticsEnabled": False},
    }))
    (home / ".gitconfig").write_text("[user]\n\tname = Agent\n\temail = agent@example.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GEMINI_CLI_HOME", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "test-gemini-key")
    # As on a CI runner or in some dev containers: Gemini CLI would take these as "headless" and exit
    # when resumed without a prompt; ao's agents run in terminals it types into, whatever ao inherits.
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", api_url)
    project: dict[str, Any] = {
        "repo": str(repo),
        "session_prefix": prefix,
        "agent": {"plugin": "gemini", "command": [gemini], "model": MODEL, "permission_mode": permission_mode},
        "scm": {"plugin": "local"},
        "notifiers": [],
    }
    path = repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({"projects": {"demo": project}}, indent=2))
    return path
