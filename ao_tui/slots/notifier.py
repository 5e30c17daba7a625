"""Notifier: how the human hears about something (terminal, desktop, webhook)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from ao_tui.slots.base import Plugin


@dataclass(frozen=True)
class Notification:
    title: str
    body: str = ""
    session_id: str | None = None
    urgency: str = "normal"  # low, normal, critical
    event: str = ""


class Notifier(Plugin):
    slot = "notifier"

    @abstractmethod
    def notify(self, notification: Notification) -> None:
        """Deliver or drop; never raise for a delivery failure (log it)."""
