"""An ao project whose agent is the real Claude Code CLI talking to a scripted server.

``claude_project(...)`` writes ``ao.config.yaml`` into a test repository and
puts the variables Claude Code needs (``HOME`` with a pre-approved
``.claude.json``, ``ANTHROPIC_BASE_URL``, the test key) into ``os.environ``
through ``monkeypatch``, so the engine, its tmux server and the agent all
inherit them exactly as they would a user's shell. The non-secret ones are
also written to the agent's ``env:`` config (the key never is: it comes from
the environment only).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from ao_tui.activity.transcript import unwrap_pasted
from ao_tui.models import Session
from tests.conftest import claude_bin
from tests.support.claude_env import claude_env
from tests.support.gitrepo import git

MODEL = "claude-sonnet-4-5"

#: Engine stories need the worktree workspace plugin (being written in parallel).
needs_worktree = pytest.mark.skipif(
    importlib.util.find_spec("ao_tui_plugins.workspace_worktree") is None,
    reason="workspace plugin 'worktree' not installed yet",
)
TRAILER = f"Co-Authored-By: {MODEL} <noreply@ao-tui.dev>"


def claude_project(
    repo: Path,
    home: Path,
    api_url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    backlog: str = "",
    scm: dict[str, Any] | None = None,
    reactions: dict[str, Any] | None = None,
    extra_files: dict[str, str] | None = None,
    prefix: str = "rc",
    plan: bool = False,
) -> Path:
    """Commit the project's files, write its config, set the environment; returns the config path."""
    files = dict(extra_files or {})
    if backlog:
        files["backlog.yaml"] = backlog
    for rel, content in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
    if files:
        git(repo, "add", *files)
        git(repo, "commit", "-qm", "project files")
        git(repo, "push", "-q", "origin", "main")
    env = claude_env(home, [], api_url, inherit=False, plan=plan)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith(("CLAUDE_CONFIG_DIR", "CLAUDECODE"))
                or (plan and k == "ANTHROPIC_API_KEY") or (not plan and k == "CLAUDE_CODE_OAUTH_TOKEN")]:
        monkeypatch.delenv(key, raising=False)
    agent_env = {k: v for k, v in env.items() if k not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")}
    agent_env["IS_SANDBOX"] = "1"  # bypassPermissions is refused for root otherwise (containers run as root)
    agent_env["CLAUDE_CODE_MAX_RETRIES"] = "0"  # an unscripted API error shows at once, not after minutes
    project: dict[str, Any] = {
        "repo": str(repo),
        "session_prefix": prefix,
        "agent": {
            "command": [claude_bin()],
            "model": MODEL,
            "permission_mode": "bypassPermissions",
            "env": agent_env,
        },
        "scm": scm or {"plugin": "local"},
        "notifiers": [],
    }
    if reactions is not None:
        project["reactions"] = reactions
    config = {"projects": {"demo": project}}
    path = repo.parent / "ao.config.yaml"  # outside the repo: nothing of ao's lands in a commit
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def transcript_records(path: Path | None) -> list[dict[str, Any]]:
    if path is None or not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def user_turns(path: Path | None) -> list[str]:
    """The typed (not tool-result) user messages of a Claude Code transcript, oldest first."""
    turns = []
    for record in transcript_records(path):
        if record.get("type") != "user" or record.get("isMeta"):
            continue
        content = record.get("message", {}).get("content")
        if isinstance(content, str):
            turns.append(unwrap_pasted(content))
        elif isinstance(content, list):
            texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
            if texts and not any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
                turns.append(unwrap_pasted("\n".join(texts)))
    return turns


def transcript_of(engine: Any, session: Session) -> Path | None:
    return engine.agent(session).transcript_path(engine.launch_spec(session))
