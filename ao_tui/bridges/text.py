"""Text for chat services: split to their limits, cut when too long."""

from __future__ import annotations

#: A reply longer than this many messages is cut: a phone is not a log viewer.
MAX_PARTS = 4
CUT = "\n… (cut: the rest is in ao-tui)"


def split(text: str, limit: int, max_parts: int = MAX_PARTS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, at line breaks where possible."""
    text = text.strip() or "(empty)"
    parts: list[str] = []
    while text:
        if len(parts) == max_parts - 1 and len(text) > limit:
            parts.append(text[: limit - len(CUT)].rstrip() + CUT)
            break
        if len(text) <= limit:
            parts.append(text)
            break
        cut = text.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    return parts


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
