"""The reactions slot: the interface of a reaction action plugin, the Trigger it acts on and what it may ask of the engine."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol

from ao_tui.models import Session
from ao_tui.slots.base import Plugin


@dataclass(frozen=True)
class Trigger:
    """An event worth reacting to, keyed by what caused it."""

    event: str  # one of ao_tui.config.EVENTS
    session_id: str
    key: str  # unique cause: check run id, comment id, head sha...
    data: dict[str, Any] = field(default_factory=dict)


class ReactionHost(Protocol):
    """What a reaction may ask of the engine."""

    def send_to_agent(self, session_id: str, text: str, key: str | None = None) -> None: ...

    def notify(self, title: str, body: str, session_id: str | None = None, urgency: str = "normal") -> None: ...

    def merge(self, session_id: str, method: str = "squash") -> None: ...

    def spawn(self, project: str, task_id: str | None = None, prompt: str | None = None) -> str: ...

    def escalate(self, session_id: str, reason: str) -> None: ...


@dataclass(frozen=True)
class ReactionResult:
    done: bool = True
    message: str = ""


class Reaction(Plugin):
    slot = "reactions"

    @abstractmethod
    def run(self, trigger: Trigger, session: Session, options: dict[str, Any], host: ReactionHost) -> ReactionResult:
        """Act on ``trigger``. ``options`` is the event's config (retries, message...)."""
