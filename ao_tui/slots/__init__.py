"""The nine plugin slots. Each module holds one interface.

Plugins meet the core only through these classes. Implementations register
under the entry-point group ``ao_tui.plugins`` as ``"<slot>.<name>"``.
"""

from importlib import import_module

from ao_tui.slots.base import Plugin, PluginContext, PluginOptions

SLOTS = ("runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal", "reactions", "host")

#: Each slot's interface as ``module:class`` (imported when asked for, so start-up stays light).
INTERFACES = {
    "runtime": "ao_tui.slots.runtime:Runtime",
    "agent": "ao_tui.slots.agent:Agent",
    "workspace": "ao_tui.slots.workspace:Workspace",
    "tracker": "ao_tui.slots.tracker:Tracker",
    "scm": "ao_tui.slots.scm:SCM",
    "notifier": "ao_tui.slots.notifier:Notifier",
    "terminal": "ao_tui.slots.terminal:Terminal",
    "reactions": "ao_tui.slots.reaction:Reaction",
    "host": "ao_tui.slots.host:Host",
}


def interface(slot: str) -> type[Plugin]:
    """The class every plugin of ``slot`` subclasses."""
    module, _, name = INTERFACES[slot].partition(":")
    cls: type[Plugin] = getattr(import_module(module), name)
    return cls


__all__ = ["INTERFACES", "SLOTS", "Plugin", "PluginContext", "PluginOptions", "interface"]
