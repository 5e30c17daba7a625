"""Where ao keeps its files.

``$AO_HOME`` overrides everything (tests and several installs side by side);
otherwise the platform's user state and config directories are used.
"""

from __future__ import annotations

import os
from pathlib import Path


def ao_home() -> Path:
    """Root of ao's state: the store, per-session files, logs."""
    override = os.environ.get("AO_HOME")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_state_path

    return user_state_path("ao-tui", appauthor=False)


def config_dir() -> Path:
    """The user config dir: a fallback ao.config.yaml and user themes."""
    override = os.environ.get("AO_HOME")
    if override:
        return Path(override).expanduser() / "config"
    from platformdirs import user_config_path

    return user_config_path("ao-tui", appauthor=False)


def store_path() -> Path:
    return ao_home() / "ao.sqlite3"


def session_dir(session_id: str) -> Path:
    """Per-session files: hook events, prompts, CI logs. Created on demand."""
    from ao_tui.names import validate_session_id

    return ao_home() / "sessions" / validate_session_id(session_id)


def workspaces_root() -> Path:
    return ao_home() / "workspaces"


def tmux_socket_name() -> str:
    """ao's own tmux socket: never the user's default server."""
    return os.environ.get("AO_TMUX_SOCKET", "ao")


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
