"""The old path of ``ao_tui_plugins.reaction_actions``: an install whose entry points were written before the rename
still finds the built-in reactions here (re-running scripts/setup rewrites them)."""

from ao_tui_plugins.reaction_actions import Merge, Notify, SendToAgent, Spawn

__all__ = ["Merge", "Notify", "SendToAgent", "Spawn"]
