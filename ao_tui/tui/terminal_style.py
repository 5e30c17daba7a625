"""A terminal's cells and SGR escapes as Rich segments: colours, attributes, scrollback rows.

Text from the terminal only ever becomes Segments (never markup); C0/C1 controls become U+FFFD, so
nothing the program printed reaches the host terminal as a control.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyte
from pyte.screens import Char
from rich.color import Color
from rich.segment import Segment
from rich.style import Style

#: A line of scrollback: its text (what selection copies) and its styled runs (no base style).
HistoryLine = tuple[str, tuple[Segment, ...]]

#: C0, DEL and C1 controls: never written to the host terminal, whatever pyte kept.
CONTROLS = {c: "\ufffd" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}

_ANSI_NAMES = {
    "black": "black", "red": "red", "green": "green", "brown": "yellow", "yellow": "yellow",
    "blue": "blue", "magenta": "magenta", "cyan": "cyan", "white": "white",
}


@lru_cache(maxsize=1024)
def _color(name: str) -> Color | None:
    """pyte's colour (a name, or 6 hex digits for 256-colour and truecolor) as a Rich colour."""
    if not name or name == "default":
        return None
    bright = name.startswith("bright")
    base = _ANSI_NAMES.get(name[6:] if bright else name)
    if base is not None:
        return Color.parse(f"bright_{base}" if bright else base)
    if len(name) == 6:
        try:
            return Color.parse(f"#{name}")
        except Exception:
            return None
    return None


@lru_cache(maxsize=4096)
def cell_style(fg: str, bg: str, bold: bool, italics: bool, underscore: bool,
               strikethrough: bool, reverse: bool, blink: bool) -> Style:
    """The Rich style of a pyte cell's attributes."""
    return Style(
        color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
        underline=underscore or None, strike=strikethrough or None, reverse=reverse or None,
        blink=blink or None,
    )


def line_text(line: Any, columns: int) -> str:
    """A row's characters as text (wide characters once, like the screen shows them)."""
    return "".join(line[x].data for x in range(columns)).translate(CONTROLS)


def line_segments(
    line: Any,
    columns: int,
    overlay: Callable[[int], Style | None] | None = None,
) -> list[Segment]:
    """Segments for one row, runs of equal attributes merged.

    ``overlay(char_index)`` may add a style per character (selection, cursor).
    """
    segments: list[Segment] = []
    run: list[str] = []
    run_style: Style | None = None
    run_key: tuple[Any, ...] | None = None
    index = 0
    for x in range(columns):
        char: Char = line[x]
        data = char.data
        if not data:  # the right half of a wide character
            continue
        extra = overlay(index) if overlay is not None else None
        key = (char[1:], extra)
        if key != run_key:
            if run:
                segments.append(Segment("".join(run).translate(CONTROLS), run_style))
                run = []
            run_key = key
            run_style = cell_style(*char[1:])
            if extra is not None:
                run_style = run_style + extra
        run.append(data)
        index += len(data)
    if run:
        segments.append(Segment("".join(run).translate(CONTROLS), run_style))
    return segments


def compact_line(line: Any, columns: int) -> HistoryLine:
    """A screen row as scrollback: text and styled runs, trailing default blanks dropped."""
    default = line.default
    used = [x for x, ch in line.items() if x < columns and ch != default]
    width = max(used) + 1 if used else 0
    return line_text(line, width), tuple(line_segments(line, width))


_ESCAPE = re.compile(r"\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")
_FG_NAMES = {30 + i: name for i, name in enumerate(("black", "red", "green", "brown", "blue", "magenta", "cyan", "white"))}


def _sgr(params: str, state: list[Any]) -> None:
    """Apply one SGR sequence to ``state`` = [fg, bg, bold, italics, underscore, strike, reverse, blink]."""
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            state[:] = ["default", "default", False, False, False, False, False, False]
        elif code in (1, 3, 4, 9, 7, 5):
            state[{1: 2, 3: 3, 4: 4, 9: 5, 7: 6, 5: 7}[code]] = True
        elif code in (22, 23, 24, 29, 27, 25):
            state[{22: 2, 23: 3, 24: 4, 29: 5, 27: 6, 25: 7}[code]] = False
        elif 30 <= code <= 37 or 40 <= code <= 47:
            state[0 if code < 40 else 1] = _FG_NAMES[30 + code % 10]
        elif 90 <= code <= 97 or 100 <= code <= 107:
            state[0 if code < 100 else 1] = "bright" + _FG_NAMES[30 + code % 10]
        elif code in (39, 49):
            state[0 if code == 39 else 1] = "default"
        elif code in (38, 48) and i + 1 < len(codes):
            slot = 0 if code == 38 else 1
            if codes[i + 1] == 5 and i + 2 < len(codes):
                state[slot] = pyte.graphics.FG_BG_256[codes[i + 2] % 256]
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                state[slot] = "".join(f"{min(255, c):02x}" for c in codes[i + 2 : i + 5])
                i += 4
        i += 1


def sgr_lines(rows: list[str]) -> list[HistoryLine]:
    """Scrollback rows printed by ``capture-pane -e`` as history lines.

    The attributes carry from one row to the next, as tmux prints them; any
    escape but SGR is dropped.
    """
    state: list[Any] = ["default", "default", False, False, False, False, False, False]
    result: list[HistoryLine] = []
    for row in rows:
        segments: list[Segment] = []
        texts: list[str] = []
        position = 0
        for match in _ESCAPE.finditer(row):
            if match.start() > position:
                chunk = row[position : match.start()].translate(CONTROLS)
                texts.append(chunk)
                segments.append(Segment(chunk, cell_style(*state)))
            if match.group(2) == "m":
                _sgr(match.group(1) or "", state)
            position = match.end()
        if position < len(row):
            chunk = row[position:].translate(CONTROLS)
            texts.append(chunk)
            segments.append(Segment(chunk, cell_style(*state)))
        result.append(("".join(texts), tuple(segments)))
    return result


def highlight(segments: tuple[Segment, ...] | list[Segment], start: int, end: int, style: Style) -> list[Segment]:
    """``segments`` with ``style`` added to characters ``start``..``end`` (``end`` -1: to the end)."""
    result: list[Segment] = []
    index = 0
    for segment in segments:
        text, seg_style = segment.text, segment.style
        lo, hi = index, index + len(text)
        index = hi
        a = max(start, lo) - lo
        b = (len(text) if end == -1 else min(end, hi) - lo)
        if a >= b or a >= len(text):
            result.append(segment)
            continue
        if a:
            result.append(Segment(text[:a], seg_style))
        result.append(Segment(text[a:b], seg_style + style if seg_style else style))
        if b < len(text):
            result.append(Segment(text[b:], seg_style))
    return result
