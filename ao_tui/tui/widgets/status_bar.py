"""The top line: counts per attention zone, the project filter, who runs the engine, the time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.widgets import Static

from ao_tui.attention import ZONE_ORDER, ZONE_TITLES, Zone, zone_of
from ao_tui.models import Session
from ao_tui.tui.text import clean

SHORT_TITLES = {
    Zone.NEEDS_YOU: "need you",
    Zone.READY_TO_MERGE: "ready",
    Zone.FAILING: "failing",
    Zone.IN_REVIEW: "in review",
    Zone.WORKING: "working",
    Zone.DONE: "done",
}

ZONE_STYLES = {
    Zone.NEEDS_YOU: "bold red",
    Zone.READY_TO_MERGE: "bold green",
    Zone.FAILING: "bold yellow",
    Zone.IN_REVIEW: "cyan",
    Zone.WORKING: "blue",
    Zone.DONE: "dim",
}


def status_text(sessions: Sequence[Session], project: str | None, engine_state: str, now: datetime,
                width: int) -> Text:
    counts = {zone: 0 for zone in ZONE_ORDER}
    for s in sessions:
        counts[zone_of(s)] += 1
    text = Text(" ao ", style="reverse bold")
    text.append(" ")
    for zone in ZONE_ORDER:
        if counts[zone] and zone is not Zone.DONE:
            label = ZONE_TITLES[zone].lower() if width >= 100 else SHORT_TITLES[zone]
            text.append(f"{counts[zone]} {label}", style=ZONE_STYLES[zone])
            text.append("  ")
    if not any(counts[z] for z in ZONE_ORDER if z is not Zone.DONE):
        text.append("nothing running", style="dim")
        text.append("  ")
    right = Text()
    right.append(f"project: {clean(project)}" if project else "all projects", style="dim")
    right.append(f" │ engine {engine_state}", style="dim")
    right.append(f" │ {now.astimezone().strftime('%H:%M') if now.tzinfo else now.strftime('%H:%M')} ", style="dim")
    gap = width - text.cell_len - right.cell_len
    if gap > 0:
        text.append(" " * gap)
        text.append_text(right)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class StatusBar(Static):
    DEFAULT_CSS = "StatusBar { height: 1; }"

    _last: tuple = ()

    def show(self, sessions: Sequence[Session], project: str | None, engine_state: str, now: datetime) -> None:
        self._last = (sessions, project, engine_state, now)
        self.update(status_text(sessions, project, engine_state, now, self.size.width or self.app.size.width),
                    layout=False)

    def on_resize(self) -> None:
        if self._last:
            self.show(*self._last)
