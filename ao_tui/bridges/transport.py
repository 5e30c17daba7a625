"""What a chat service looks like to a bridge: messages and button presses in, messages out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Button:
    label: str
    data: str  # what comes back when it is pressed (Telegram: at most 64 bytes)


@dataclass(frozen=True)
class Incoming:
    """A message or a button press, from ``user`` (the service's user id) in ``chat``."""

    user: str
    chat: str
    text: str = ""
    button: str = ""  # the pressed button's data
    press_id: str = ""  # to answer the press (Telegram's callback_query id, Slack's envelope)
    user_name: str = ""
    extra: dict[str, str] = field(default_factory=dict, compare=False)


class Transport(Protocol):
    name: str
    #: The longest text one message may carry (longer replies are split, then cut).
    max_text: int

    def incoming(self) -> AsyncIterator[Incoming]: ...

    async def send(self, chat: str, text: str, buttons: list[Button] | None = None) -> None: ...

    async def answer_press(self, press: Incoming, text: str = "") -> None: ...

    async def aclose(self) -> None: ...
