"""What every plugin receives: its options and where ao keeps things."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class PluginContext:
    """Everything a plugin may know about its surroundings.

    ``project`` is the project's name and ``project_config`` its validated
    config (``ao_tui.config.ProjectConfig``) or None for global plugins.
    """

    ao_home: Path
    tmux_socket: str = "ao"
    project: str | None = None
    project_config: Any = None
    options: dict[str, Any] = field(default_factory=dict)


class Plugin:
    """Base of every slot interface."""

    slot: ClassVar[str] = ""
    #: The name it is registered under, filled in by the registry.
    name: ClassVar[str] = ""

    def __init__(self, context: PluginContext) -> None:
        self.context = context
        self.options = dict(context.options)
