"""Durations in config: ``90s``, ``30m``, ``2h``, ``1d`` or a number of seconds."""

from __future__ import annotations

import re

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
