"""Turning untrusted text (task titles, agent output, review comments) into safe display text.

Everything a user, an issue or an agent wrote is shown as text: control
characters and escape sequences become visible symbols, bidi overrides are
neutralised, and nothing is ever parsed as markup (callers build ``rich.Text``).
"""

from __future__ import annotations

import unicodedata

from rich.cells import cell_len
from rich.text import Text

from ao_tui.models import Usage

_C0 = {i: chr(0x2400 + i) for i in range(0x20)}  # ␀ … ␟ (ESC shows as ␛)
_C0[0x7F] = "␡"


def _visible(ch: str) -> str:
    code = ord(ch)
    if code in _C0:
        return _C0[code]
    category = unicodedata.category(ch)
    if category == "Cc":  # C1 controls (e.g. CSI 0x9b)
        return "�"
    if category == "Cf" or category in ("Zl", "Zp"):  # bidi overrides, zero-width joiners, separators
        return "�" if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 else ""
    return ch


def clean(text: str) -> str:
    """One printable line: newlines and tabs become spaces, controls become symbols."""
    text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    return "".join(_visible(ch) for ch in text)


def clean_block(text: str) -> str:
    """Printable text keeping its lines (and tabs expanded)."""
    lines = text.replace("\r\n", "\n").split("\n")
    return "\n".join(clean(line.expandtabs(4)) for line in lines)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells, with an ellipsis when cut."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def safe(text: str, style: str = "") -> Text:
    """A ``rich.Text`` of untrusted text: never markup, never escapes."""
    return Text(clean(text), style=style, no_wrap=True, overflow="ellipsis")


def compact(n: float) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(int(n))


def usage_short(usage: Usage) -> str:
    """Cost when known, else tokens: ``$1.24`` or ``820k``."""
    if usage.cost_usd > 0:
        return f"${usage.cost_usd:.2f}" if usage.cost_usd < 100 else f"${usage.cost_usd:.0f}"
    total = usage.total_tokens
    return compact(total) if total else ""
