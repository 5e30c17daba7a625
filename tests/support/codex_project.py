"""An ao project whose agent is the real Codex CLI talking to tests/support/openai_server.py.

``codex_project(...)`` writes a throwaway ``CODEX_HOME`` whose ``config.toml``
names the scripted server as the model provider (Responses API), puts
``CODEX_HOME`` and a test ``OPENAI_API_KEY`` into ``os.environ`` (as a user's
shell would hold them) and writes ``ao.config.yaml`` with ``agent: codex``.
Nothing reaches a public host: the provider is the local server, and Codex's
update check, analytics and background daemon are off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.gitrepo import git

MODEL = "gpt-5-codex"
TEST_KEY = "sk-ao-tui-test-0000000000000000"


def write_codex_home(home: Path, api_url: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "aotest"\n'
        "check_for_update_on_startup = false\n"
        "[analytics]\nenabled = false\n"
        "[model_providers.aotest]\n"
        'name = "ao-test"\n'
        f'base_url = "{api_url}/v1"\n'
        'wire_api = "responses"\n'
        'env_key = "OPENAI_API_KEY"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
    )
    return home


def codex_project(repo: Path, home: Path, api_url: str, monkeypatch: pytest.MonkeyPatch, codex: str, *,
                  permission_mode: str = "default", backlog: str = "", scm: dict[str, Any] | None = None,
                  prefix: str = "cx") -> Path:
    if backlog:
        (repo / "backlog.yaml").write_text(backlog)
        git(repo, "add", "backlog.yaml")
        git(repo, "commit", "-qm", "backlog")
        git(repo, "push", "-q", "origin", "main")
    codex_home = write_codex_home(home / ".codex", api_url)
    (home / ".gitconfig").write_text("[user]\n\tname = Agent\n\temail = agent@example.invalid\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    project: dict[str, Any] = {
        "repo": str(repo),
        "session_prefix": prefix,
        "agent": {"plugin": "codex", "command": [codex], "model": MODEL, "permission_mode": permission_mode},
        "scm": scm or {"plugin": "local"},
        "notifiers": [],
    }
    path = repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({"projects": {"demo": project}}, indent=2))
    return path
