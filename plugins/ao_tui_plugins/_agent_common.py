"""Pieces the agent plugins share."""

from __future__ import annotations

import os
import shlex
from collections.abc import Collection
from pathlib import Path

from ao_tui import git
from ao_tui.activity.hook import command as hook_argv
from ao_tui.activity.jsonl_tail import tail_objects
from ao_tui.config import write_atomic
from ao_tui.errors import AoError, PluginError
from ao_tui.names import validate_session_id
from ao_tui.slots.agent import LaunchSpec


def events_hook_command(spec: LaunchSpec) -> str:
    """The shell command an agent's hook runs on every event (built only from values ao controls, each quoted)."""
    if spec.events_file is None:
        raise PluginError("no events file for the hook")
    validate_session_id(spec.session_id)
    return shlex.join(hook_argv(spec.session_id, str(Path(spec.events_file).absolute())))


def agent_command(spec: LaunchSpec, env_var: str, name: str) -> list[str]:
    """An agent's command: the project's ``command``, else ``$<env_var>``, else ``name`` on PATH."""
    if spec.command:
        return list(spec.command)
    return [os.environ.get(env_var) or name]


def permission_mode(spec: LaunchSpec, known: Collection[str]) -> str:
    """The session's permission mode (``default`` if it names none), one of the agent's ``known`` modes."""
    mode = spec.permission_mode or "default"
    if mode not in known:
        raise PluginError(f"unknown permission mode {mode!r}: use one of {', '.join(known)}")
    return mode


def exclude_from_git(workspace: Path, patterns: list[str]) -> None:
    """Keep ao's files out of the agent's commits via the repo's info/exclude."""
    try:
        out = git.run(workspace, "rev-parse", "--git-path", "info/exclude", check=False, timeout=5)
    except AoError:
        return
    if out.returncode != 0 or not out.stdout.strip():
        return
    exclude = Path(out.stdout.strip())
    if not exclude.is_absolute():
        exclude = workspace / exclude
    current = exclude.read_text() if exclude.exists() else ""
    missing = [p for p in patterns if p not in current.splitlines()]
    if missing:
        prefix = current if not current or current.endswith("\n") else current + "\n"
        write_atomic(exclude, prefix + "".join(f"{p}\n" for p in missing))


def newest_hook_field(events_file: Path | None, field: str) -> str:
    """The newest ``field`` in the session's hook events (Codex and Gemini name their transcript there)."""
    if events_file is None:
        return ""
    try:
        for event in tail_objects(events_file, newest_first=True):
            value = event.get(field)
            if isinstance(value, str) and value:
                return value
    except OSError:
        pass
    return ""
