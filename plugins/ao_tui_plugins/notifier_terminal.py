"""Notifier ``terminal``: one line on ao's own output (``ao run``'s log).

Text from agents and reviewers may hold escape sequences; they are stripped
so a notification can never move the cursor or retitle the terminal.
Options: ``stream`` (``stderr``, default, or ``stdout``), ``bell`` (ring the
terminal bell for critical notifications when writing to a terminal; default
true).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import datetime
from typing import Literal, TextIO

from pydantic import Field

from ao_tui.slots.base import PluginContext, PluginOptions
from ao_tui.slots.notifier import Notification, Notifier

log = logging.getLogger("ao.notifier.terminal")

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]|[\x00-\x1f\x7f-\x9f]")


def one_line(text: str, limit: int = 300) -> str:
    """``text`` without control characters or escape sequences, on one line."""
    flat = _ESCAPES.sub(" ", text.replace("\n", " ").replace("\t", " "))
    flat = re.sub(r" {2,}", " ", flat).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class TerminalNotifier(Notifier):
    class Options(PluginOptions):
        stream: Literal["stderr", "stdout"] = Field(default="stderr", description="Where the line is written.")
        bell: bool = Field(default=True, description="Ring the bell for critical notifications on a terminal.")

    options: Options

    def __init__(self, context: PluginContext, stream: TextIO | None = None) -> None:
        super().__init__(context)
        self._stream = stream
        self.bell = self.options.bell

    @property
    def stream(self) -> TextIO:
        if self._stream is not None:
            return self._stream
        return sys.stdout if self.options.stream == "stdout" else sys.stderr

    def format(self, notification: Notification) -> str:
        stamp = datetime.now().strftime("%H:%M:%S")
        mark = {"critical": "!", "low": "."}.get(notification.urgency, "*")
        line = f"[ao {stamp}] {mark} {one_line(notification.title, 120)}"
        if notification.body.strip():
            line += f" — {one_line(notification.body)}"
        return line

    def notify(self, notification: Notification) -> None:
        try:
            stream = self.stream
            ring = self.bell and notification.urgency == "critical" and stream.isatty()
            stream.write(("\a" if ring else "") + self.format(notification) + "\n")
            stream.flush()
        except Exception as exc:  # a closed stream must not break the engine
            log.warning("terminal notification failed: %s", exc)
