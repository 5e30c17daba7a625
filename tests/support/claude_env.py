"""A throwaway HOME and environment in which the real Claude Code CLI talks to a scripted server.

``claude_env(home, workdir, base_url)`` writes ``home/.claude.json`` so no
first-run dialog appears (onboarding done, the test API key approved, every
given working directory trusted) and ``home/.gitconfig`` (an identity for
commits the agent makes), then returns the environment to run ``claude`` in.
Nothing reaches a public host: the base URL is the scripted server and
non-essential traffic and telemetry are off.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

#: A fake key: the scripted server ignores it, Claude Code only needs it approved.
TEST_API_KEY = "sk-ant-api03-ao-tui-test-key-0000000000000000000000000000"

#: A fake claude.ai plan token (``claude_env(plan=True)``): the scripted server ignores it too.
TEST_OAUTH_TOKEN = "sk-ant-oat01-ao-tui-test-token-00000000000000000000000000"

#: Variables from the developer's own environment that must not leak into tests.
_DROPPED_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "CLAUDECODE", "AWS_BEARER", "OTEL_")


def _workdirs(workdir: Path | str | Iterable[Path | str]) -> list[str]:
    if isinstance(workdir, (str, Path)):
        workdir = [workdir]
    return [str(Path(w).resolve()) for w in workdir]


def write_claude_home(home: Path, workdir: Path | str | Iterable[Path | str], api_key: str = TEST_API_KEY) -> Path:
    """Create ``home`` with a ``.claude.json`` that skips onboarding and trusts ``workdir``."""
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / ".claude.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    config.update({
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": "2.1.197",
        "customApiKeyResponses": {"approved": [api_key[-20:], api_key], "rejected": []},
        "bypassPermissionsModeAccepted": True,
        "autoUpdates": False,
    })
    projects = config.setdefault("projects", {})
    for path in _workdirs(workdir):
        projects.setdefault(path, {}).update({"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True})
    config_path.write_text(json.dumps(config, indent=2))
    # Claude Code 2.1.3xx moves the bypass acceptance into ~/.claude/settings.json at its first start
    # (and drops the key above): written there up front, a second agent starting while the first one
    # migrates never finds it in either place and stops at the bypass-permissions dialog.
    settings_path = home / ".claude" / "settings.json"
    settings_path.parent.mkdir(parents=True, exist_ok=True)
    settings = json.loads(settings_path.read_text()) if settings_path.exists() else {}
    settings["skipDangerousModePermissionPrompt"] = True
    settings_path.write_text(json.dumps(settings, indent=2))
    gitconfig = home / ".gitconfig"
    if not gitconfig.exists():
        gitconfig.write_text("[user]\n\tname = Agent\n\temail = agent@example.invalid\n[commit]\n\tgpgsign = false\n")
    return config_path


def claude_env(
    home: Path,
    workdir: Path | str | Iterable[Path | str],
    base_url: str,
    api_key: str = TEST_API_KEY,
    *,
    inherit: bool = True,
    plan: bool = False,
) -> dict[str, str]:
    """The environment for ``claude`` against ``base_url`` with ``home`` as HOME.

    With ``inherit`` (default) it is a full environment (os.environ without
    the developer's ANTHROPIC_/CLAUDE_ variables, plus ours), ready for
    ``subprocess.run(env=...)``; with ``inherit=False`` only the variables set
    here, e.g. for ``tmux new-session -e``. With ``plan``, Claude Code is signed in
    to a claude.ai plan (``CLAUDE_CODE_OAUTH_TOKEN``, no API key): how usage limits
    reach their users ("You've hit your session limit · resets ...").
    """
    write_claude_home(home, workdir, api_key)
    ours = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "TERM": os.environ.get("TERM", "xterm-256color") if inherit else "xterm-256color",
    }
    if plan:
        del ours["ANTHROPIC_API_KEY"]
        ours["CLAUDE_CODE_OAUTH_TOKEN"] = TEST_OAUTH_TOKEN
    if not inherit:
        return ours
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(ours)
    return env
