"""The eight plugin slots. Each module holds one interface.

Plugins meet the core only through these classes. Implementations register
under the entry-point group ``ao_tui.plugins`` as ``"<slot>.<name>"``.
"""

from ao_tui.slots.base import Plugin, PluginContext

SLOTS = ("runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal", "reactions")

__all__ = ["SLOTS", "Plugin", "PluginContext"]
