"""Finding plugins: the entry-point group ``ao_tui.plugins``.

Entry point names are ``"<slot>.<name>"``; a third party adds one with
``pip install`` and nothing else.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ao_tui.errors import PluginError
from ao_tui.slots import SLOTS, Plugin, PluginContext

GROUP = "ao_tui.plugins"


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, dict[str, EntryPoint]]:
    found: dict[str, dict[str, EntryPoint]] = {slot: {} for slot in SLOTS}
    for ep in entry_points(group=GROUP):
        slot, _, name = ep.name.partition(".")
        if slot in found and name:
            found[slot][name] = ep
    return found


def available() -> dict[str, dict[str, EntryPoint]]:
    """Every installed plugin, by slot then name."""
    return _entry_points()


def load(slot: str, name: str) -> type[Plugin]:
    if slot not in SLOTS:
        raise PluginError(f"unknown plugin slot {slot!r}; slots: {', '.join(SLOTS)}")
    eps = _entry_points()[slot]
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise PluginError(f"unknown {slot} plugin {name!r}; installed: {known}")
    try:
        cls = eps[name].load()
    except Exception as exc:  # a broken third-party plugin must not take ao down
        raise PluginError(f"{slot} plugin {name!r} failed to load: {exc}") from exc
    cls.name = name
    return cls


def create(slot: str, name: str, context: PluginContext, **options: Any) -> Any:
    cls = load(slot, name)
    if options:
        context = PluginContext(
            ao_home=context.ao_home,
            tmux_socket=context.tmux_socket,
            project=context.project,
            project_config=context.project_config,
            options={**context.options, **options},
        )
    return cls(context)
