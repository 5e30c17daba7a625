"""The top line: counts per attention zone, a running merge train, the project filter, who runs the engine, the time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import Static

from ao_tui.attention import ZONE_LABELS, ZONE_ORDER, ZONE_TITLES, Zone, zone_of
from ao_tui.models import Session
from ao_tui.tui.text import clean, fit

ZONE_STYLES = {
    Zone.NEEDS_YOU: "bold red",
    Zone.READY_TO_MERGE: "bold green",
    Zone.FAILING: "bold yellow",
    Zone.IN_REVIEW: "cyan",
    Zone.WORKING: "blue",
    Zone.DONE: "dim",
}


def _zones(counts: dict[Zone, int], level: int) -> Text:
    """The busy zones' counts, from whole titles (level 0) down to glyphs (level 3)."""
    text = Text()
    busy = [zone for zone in ZONE_ORDER if counts[zone] and zone is not Zone.DONE]
    for zone in busy:
        if level == 0:
            label = f"{counts[zone]} {ZONE_TITLES[zone].lower()}"
        elif level == 1:
            label = f"{counts[zone]} {ZONE_LABELS[zone].short}"
        elif level == 2:
            label = f"{counts[zone]} {ZONE_LABELS[zone].tiny}"
        else:
            label = f"{ZONE_LABELS[zone].glyph}{counts[zone]}"
        text.append(label, style=ZONE_STYLES[zone])
        text.append("  " if level < 3 else " ")
    if not busy:
        text.append("nothing running", style="dim")
        text.append("  ")
    return text


def _right(project: str | None, engine_state: str, clock: str, compact: bool) -> Text:
    """Which projects show, who runs the engine, the time: never dropped, only shortened."""
    right = Text(style="dim")
    if compact:
        right.append(fit(clean(project), 16) if project else "all", style="dim")
        right.append(f" │ engine {engine_state} │ {clock} ", style="dim")
    else:
        right.append(f"project: {clean(project)}" if project else "all projects", style="dim")
        right.append(f" │ engine {engine_state}", style="dim")
        right.append(f" │ {clock} ", style="dim")
    return right


def budget_text(standings: Sequence[dict[str, Any]]) -> Text:
    """The worst budget as a few words: ``budget 85%``, ``budget reached``, ``over budget (go on)``."""
    rank = {"over": 3, "confirmed": 2, "warn": 1}
    worst = max((s for s in standings if s.get("state") in rank), key=lambda s: (rank[s["state"]], s["fraction"]),
                default=None)
    if worst is None:
        return Text()
    if worst["state"] == "over":
        return Text(" budget reached ", style="reverse bold red")
    if worst["state"] == "confirmed":
        return Text(f"over budget {worst['fraction']:.0%} (go on)", style="bold yellow")
    return Text(f"budget {worst['fraction']:.0%}", style="yellow")


#: What a train's front PR waits for, in fewer words for a narrow screen.
BRIEF_DOING = {"waiting for CI": "in CI", "waiting to rebase": "to rebase", "needs approval": "to approve"}


def train_text(trains: Sequence[dict[str, Any]], level: int = 0) -> Text:
    """Each running merge train (``merge_train.progress``): ``train 2/4 · app-3 waiting for CI``;
    level 1 says it briefly (``… app-3 in CI``), level 2 not at all (``train 2/4 · app-3``)."""
    text = Text()
    for t in trains:
        text.append(f"train {t['position']}/{t['of']} · {clean(t['session'])}", style="bold magenta")
        doing = str(t["doing"]) if level == 0 else BRIEF_DOING.get(t["doing"], str(t["doing"]))
        if level < 2:
            text.append(f" {clean(doing)}", style="magenta")
        text.append("  ")
    return text


def status_text(sessions: Sequence[Session], project: str | None, engine_state: str, now: datetime,
                width: int, budget: Text | None = None, trains: Sequence[dict[str, Any]] = ()) -> Text:
    """The status line for ``width`` columns.

    The zone counts shorten (whole titles, short words, one word, glyphs) before the right side
    (project filter, engine, clock) is shortened; the right side is never dropped. A running merge
    train comes after the counts: it says what it waits for more briefly only once the counts are glyphs.
    """
    counts = {zone: 0 for zone in ZONE_ORDER}
    for s in sessions:
        counts[zone_of(s)] += 1
    clock = now.astimezone().strftime('%H:%M') if now.tzinfo else now.strftime('%H:%M')
    text = Text(" ao ", style="reverse bold")
    text.append(" ")
    plans = [(0, False), (1, False), (2, False), (2, True), (3, False), (3, True)]
    if width < 100:
        plans = plans[1:]  # the whole titles are for wide screens only
    steps = [(level, compact, 0) for level, compact in plans] + [(3, True, 1), (3, True, 2)]
    extra = budget.cell_len + 2 if budget and trains else 0
    for level, compact, brief in steps:
        zones, right = _zones(counts, level), _right(project, engine_state, clock, compact)
        train = train_text(trains, brief)
        if text.cell_len + zones.cell_len + extra + train.cell_len + right.cell_len <= width:
            break
    text.append_text(zones)
    if budget:
        text.append_text(budget)
        if trains:
            text.append("  ")
    text.append_text(train)
    room = width - right.cell_len
    if text.cell_len > room:  # not even the glyphs fit: the counts are cut, not the right side
        text.truncate(max(0, room - 1), overflow="ellipsis")
    text.append(" " * max(0, room - text.cell_len))
    text.append_text(right)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class StatusBar(Static):
    DEFAULT_CSS = "StatusBar { height: 1; }"

    _last: tuple[Any, ...] = ()

    budget: Text | None = None  # the worst budget's words (budget_text), set by the app
    trains: Sequence[dict[str, Any]] = ()  # each running merge train's progress, set by the app

    def show(self, sessions: Sequence[Session], project: str | None, engine_state: str, now: datetime) -> None:
        self._last = (sessions, project, engine_state, now)
        self.update(status_text(sessions, project, engine_state, now, self.size.width or self.app.size.width,
                                self.budget, self.trains), layout=False)

    def on_resize(self) -> None:
        if self._last:
            self.show(*self._last)
