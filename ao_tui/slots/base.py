"""What every plugin receives: its options and where ao keeps things.

A plugin declares its options as a pydantic model named ``Options`` on its class
(a subclass of ``PluginOptions``); the config check and ``ao config schema`` read
it from there. A plugin that declares none receives its options as a plain dict.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, WithJsonSchema

from ao_tui.errors import PluginError


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


def _seconds(value: Any) -> Any:
    from ao_tui.durations import parse_duration

    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 2h)")
    return parse_duration(value) if isinstance(value, (str, int, float)) else value


#: A duration option: a number of seconds or ``90s``, ``30m``, ``2h``, ``1d``; read as float seconds.
Seconds = Annotated[
    float,
    BeforeValidator(_seconds),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]?\s*$"}],
                    "description": "seconds, or a duration such as 90s, 30m, 2h"}),
]


_TYPE_TAG = re.compile(r"[\[\]()]")
_TYPE_NAMES = {"str", "int", "float", "bool", "list", "dict", "none", "is-instance", "literal"}


class PluginOptions(BaseModel):
    """Base of every plugin's ``Options``: unknown keys are mistakes."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first use: imports stay cheap


def option_problem(model: type[BaseModel], raw: dict[str, Any]) -> tuple[tuple[str | int, ...], str] | None:
    """The first thing wrong with ``raw`` for ``model``: (key path, problem), or None.

    An unknown key names the closest valid one, so ``pol_interval`` says ``did you mean poll_interval?``.
    """
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        # Keys and indexes only: pydantic also names the union member it tried ("list[str]", "str").
        loc = tuple(p for i, p in enumerate(err["loc"])
                    if i == 0 or isinstance(p, int) or not (_TYPE_TAG.search(p) or p in _TYPE_NAMES))
        if err["type"] == "extra_forbidden":
            known = sorted(model.model_fields)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known) or 'none'}"
            return loc, f"unknown option ({hint})"
        if err["type"] == "missing":
            return loc, "required option is missing"
        return loc, str(err["msg"]).removeprefix("Value error, ")
    return None


class Plugin:
    """Base of every slot interface."""

    slot: ClassVar[str] = ""
    #: The name it is registered under, filled in by the registry.
    name: ClassVar[str] = ""
    #: The plugin's options model; None: options arrive as a dict, unchecked.
    Options: ClassVar[type[PluginOptions] | None] = None
    #: Options the core reads for every plugin of the slot (checked even when ``Options`` is None).
    CommonOptions: ClassVar[type[PluginOptions] | None] = None
    #: An ``Options`` instance, or the dict of options when the plugin declares no model.
    options: Any

    def __init__(self, context: PluginContext) -> None:
        self.context = context
        self.options = self.parse_options(context.options)

    @classmethod
    def parse_options(cls, raw: dict[str, Any]) -> Any:
        """``raw`` read through ``Options``; a one-line ``PluginError`` when it does not fit."""
        if cls.Options is None:
            return dict(raw)
        problem = option_problem(cls.Options, raw)
        if problem is not None:
            loc, message = problem
            label = f"{cls.slot} {cls.name or cls.__name__}".strip()
            raise PluginError(f"{label}: {'.'.join(map(str, loc))}: {message}")
        return cls.Options.model_validate(raw)
