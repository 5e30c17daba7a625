"""Pieces the agent plugins share."""

from __future__ import annotations

import shlex
from pathlib import Path

from ao_tui.activity.hook import command as hook_argv
from ao_tui.errors import PluginError
from ao_tui.names import validate_session_id
from ao_tui.slots.agent import LaunchSpec


def events_hook_command(spec: LaunchSpec) -> str:
    """The shell command an agent's hook runs on every event (built only from values ao controls, each quoted)."""
    if spec.events_file is None:
        raise PluginError("no events file for the hook")
    validate_session_id(spec.session_id)
    return shlex.join(hook_argv(spec.session_id, str(Path(spec.events_file).absolute())))
