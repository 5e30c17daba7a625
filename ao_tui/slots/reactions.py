"""The old path of ``ao_tui.slots.reaction`` (the reactions slot's interface): plugins written against it still import."""

from ao_tui.slots.reaction import Reaction, ReactionHost, ReactionResult, Trigger

__all__ = ["Reaction", "ReactionHost", "ReactionResult", "Trigger"]
