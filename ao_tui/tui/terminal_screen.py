"""The terminal's screen model: a pyte screen with a scrollback, and screens made from tmux captures.

Lines that scroll off the top are kept as text and styled runs (``terminal_style.HistoryLine``), and a
full-screen scroll is counted rather than marking every row dirty, so the view shifts its rows instead of
redrawing them. Title/OSC sequences are consumed here, never forwarded to the host terminal.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

import pyte
from pyte.screens import Margins

from ao_tui.tui.terminal_style import CONTROLS, HistoryLine, compact_line, sgr_lines


class ScrollbackScreen(pyte.Screen):
    """A pyte screen that keeps lines scrolled off the top and counts scrolls.

    Cheaper than ``pyte.HistoryScreen`` (no wrapper around every event), and
    a line leaving the screen is kept as text and styled runs, not as a dict
    of cells (a tenth of the memory). A full-screen scroll shifts the dirty
    set with the lines instead of marking every row dirty, so the view can
    shift its row cache and redraw one line.
    """

    def __init__(self, columns: int, lines: int, history: int = 5000) -> None:
        self.history: deque[HistoryLine] = deque(maxlen=history)
        self.pushed = 0  # lines ever pushed into history (absolute numbering)
        self.scrolled = 0  # full-screen scrolls since the view last looked
        self.history_reset = False
        super().__init__(columns, lines)

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != bottom or top != 0 or bottom != self.lines - 1:
            super().index()
            return
        shifted = {y - 1 for y in self.dirty if y > 0}
        self.history.append(compact_line(self.buffer[0], self.columns))
        self.pushed += 1
        self.scrolled += 1
        super().index()
        self.dirty.clear()
        self.dirty.update(shifted)
        self.dirty.add(bottom)

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        super().erase_in_display(how, *args, **kwargs)
        if how == 3:  # "clear scrollback"
            self.history.clear()
            self.history_reset = True

    def reset(self) -> None:
        super().reset()
        self.history.clear()
        self.history_reset = True

    def set_title(self, param: str) -> None:
        super().set_title(param.translate(CONTROLS))

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        super().resize(lines, columns)
        self.scrolled = 0


_SGR = re.compile(r"\x1b\[[0-9;:]*m")


def screen_from_capture(text: str, columns: int, lines: int, history: int = 5000,
                        *, visible_only: bool = False) -> ScrollbackScreen:
    """A screen holding what ``capture-pane -e`` printed (history lines scroll into scrollback).

    Lines wider than the screen are cut, not wrapped (the pane may not have
    followed our size yet). For a capture of the visible screen only
    (``visible_only``) taller than ours, blank rows at the bottom are dropped
    first so the content stays in view. The capture does not say where the
    cursor is; it is put at the end of the last non-blank line, which is where
    shells and Ink-drawn UIs (Claude Code) leave it.
    """
    screen = ScrollbackScreen(columns, lines, history)
    rows = [row[:-1] if row.endswith("\r") else row for row in text.split("\n")]
    if rows and rows[-1] == "":
        rows.pop()
    if visible_only:
        while len(rows) > lines and not _SGR.sub("", rows[-1]).strip():
            rows.pop()
    if len(rows) > lines + 1:  # scrollback: decoded directly (pyte is ten times slower and heavier)
        older, rows = rows[: len(rows) - lines - 1], rows[len(rows) - lines - 1:]
        screen.history.extend(sgr_lines(older))
        screen.pushed += len(older)
    screen.reset_mode(pyte.modes.DECAWM)
    pyte.Stream(screen).feed("\r\n".join(rows))
    screen.set_mode(pyte.modes.DECAWM)
    last = -1
    for y in range(screen.lines - 1, -1, -1):
        line = screen.buffer.get(y) if y in screen.buffer else None
        if line and any(ch.data.strip() for ch in line.values()):
            last = y
            break
    if last >= 0:
        line = screen.buffer[last]
        width = max((x + 1 for x, ch in line.items() if ch.data.strip()), default=0)
        screen.cursor_position(last + 1, min(width, screen.columns - 1) + 1)
    else:
        screen.cursor_position(1, 1)
    screen.dirty.clear()
    screen.scrolled = 0
    screen.history_reset = False
    return screen


def _capture_rows(text: str) -> list[str]:
    rows = [row[:-1] if row.endswith("\r") else row for row in text.split("\n")]
    if rows and rows[-1] == "":
        rows.pop()
    return rows


def seeded_screen(visible: str, full: str, columns: int, lines: int, history: int = 5000) -> ScrollbackScreen:
    """A screen from a capture of the pane's visible rows and its scrollback from a capture with history.

    The pane can be taller than the view (a human's terminal attached at another size, a second
    ao-tui of another size, a resize not applied yet). A capture with history alone cannot say
    where the pane's screen starts, and taking its last rows showed the pane's blank bottom rows
    while its content sat above them (QA: blank for seconds after a palette jump, until the agent
    printed again). The visible capture gives the pane's height: the history capture's rows above
    that many are the scrollback, and the screen is what the visible capture shows, its blank
    bottom rows dropped as for any visible capture.
    """
    screen_rows = _capture_rows(visible)
    all_rows = _capture_rows(full)
    older = all_rows[: max(0, len(all_rows) - len(screen_rows))]
    while len(screen_rows) > lines and not _SGR.sub("", screen_rows[-1]).strip():
        screen_rows.pop()
    return screen_from_capture("\n".join(older + screen_rows) + "\n", columns, lines, history)
