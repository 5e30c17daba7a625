"""An ao project whose agent is the real OpenCode talking to tests/support/openai_server.py.

``OPENCODE_CONFIG`` names a throwaway config whose provider ``aotest`` is
OpenAI-compatible (``@ai-sdk/openai-compatible``, bundled in OpenCode) with the
scripted server on 127.0.0.1 as its base URL; ``OPENCODE_DISABLE_MODELS_FETCH``
keeps it from fetching models.dev. ``HOME`` is throwaway, so its database and
caches are too. Nothing reaches a public host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MODEL = "aotest/gpt-test"
TEST_KEY = "sk-ao-tui-test-0000000000000000"


def opencode_project(repo: Path, home: Path, api_url: str, monkeypatch: pytest.MonkeyPatch, opencode: str, *,
                     permission_mode: str = "default", prefix: str = "oc") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "opencode.json"
    config.write_text(json.dumps({
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "provider": {"aotest": {"npm": "@ai-sdk/openai-compatible", "name": "ao test",
                                "options": {"baseURL": f"{api_url}/v1", "apiKey": "{env:OPENAI_API_KEY}"},
                                "models": {"gpt-test": {"name": "gpt-test"}}}},
    }, indent=2))
    (home / ".gitconfig").write_text("[user]\n\tname = Agent\n\temail = agent@example.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "OPENCODE_DB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENCODE_CONFIG", str(config))
    monkeypatch.setenv("OPENCODE_DISABLE_MODELS_FETCH", "1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    project: dict[str, Any] = {
        "repo": str(repo),
        "session_prefix": prefix,
        "agent": {"plugin": "opencode", "command": [opencode], "model": MODEL, "permission_mode": permission_mode},
        "scm": {"plugin": "local"},
        "notifiers": [],
    }
    path = repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({"projects": {"demo": project}}, indent=2))
    return path
