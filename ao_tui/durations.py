"""Durations: read from config (``90s``, ``30m``, ``2h``, ``1d`` or a number of seconds), and shown (``ago``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(value: str | int | float) -> float:
    """Seconds in ``value``; raises ValueError with a readable message."""
    if isinstance(value, (int, float)):
        return float(value)
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 30m, 2h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """How long since ``when``, short: ``45s``, ``12m``, ``3h``, ``2d`` (whole units, rounded down);
    "" for None. The one way ao says "time ago" (the TUI, ``ao ls``, the orchestrator's context)."""
    if when is None:
        return ""
    secs = int(((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{max(secs, 0)}s"
