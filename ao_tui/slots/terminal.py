"""Terminal: how a human attaches to an agent's session."""

from __future__ import annotations

from abc import abstractmethod

from ao_tui.slots.base import Plugin


class Terminal(Plugin):
    slot = "terminal"

    @abstractmethod
    def attach_argv(self, runtime_attach_argv: list[str], inside_tmux: bool) -> list[str]:
        """The command to run in the human's terminal to attach.

        Given the runtime's own attach command; may wrap it (a new terminal
        window, a tmux switch-client when already inside tmux).
        """
