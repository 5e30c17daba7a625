"""An ao project whose agent is the real aider talking to tests/support/openai_server.py (Chat Completions).

``OPENAI_API_BASE`` (the scripted server on 127.0.0.1) and a test
``OPENAI_API_KEY`` are in ``os.environ`` as a user's shell would hold them;
``AIDER_*`` variables turn off its update check, analytics and the unknown-model
warning. Its model-price list is seeded from litellm's bundled copy into the
throwaway ``~/.aider/caches/`` so aider does not fetch it from GitHub: nothing
reaches a public host.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

MODEL = "openai/gpt-test"
TEST_KEY = "sk-ao-tui-test-0000000000000000"


def seed_price_cache(home: Path, aider: str) -> None:
    venv = Path(aider).resolve().parent.parent
    bundled = sorted(venv.glob("lib/python*/site-packages/litellm/model_prices_and_context_window_backup.json"))
    caches = home / ".aider" / "caches"
    caches.mkdir(parents=True, exist_ok=True)
    if bundled:
        shutil.copyfile(bundled[0], caches / "model_prices_and_context_window.json")


def aider_project(repo: Path, home: Path, api_url: str, monkeypatch: pytest.MonkeyPatch, aider: str, *,
                  permission_mode: str = "default", prefix: str = "ai") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    seed_price_cache(home, aider)
    (home / ".gitconfig").write_text("[user]\n\tname = Agent\n\temail = agent@example.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OPENAI_API_BASE", f"{api_url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    for name, value in {"AIDER_CHECK_UPDATE": "false", "AIDER_ANALYTICS": "false",
                        "AIDER_SHOW_RELEASE_NOTES": "false", "AIDER_SHOW_MODEL_WARNINGS": "false",
                        "LITELLM_LOCAL_MODEL_COST_MAP": "True"}.items():
        monkeypatch.setenv(name, value)
    project: dict[str, Any] = {
        "repo": str(repo),
        "session_prefix": prefix,
        "agent": {"plugin": "aider", "command": [aider], "model": MODEL, "permission_mode": permission_mode},
        "scm": {"plugin": "local"},
        "notifiers": [],
    }
    path = repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({"projects": {"demo": project}}, indent=2))
    return path
