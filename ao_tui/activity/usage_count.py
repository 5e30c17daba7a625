"""Tokens and cost from Claude Code transcript records' ``message.usage``, de-duplicated by API response.

Standard library only: ao on a host (``ao_tui.hostd``, where pydantic is not installed) counts a remote
session's usage with this same code as the local transcript reader (``TranscriptParser``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ao_tui.activity.pricing import cost_usd

#: How many (message id, request id) usage entries are remembered for de-duplication.
USAGE_KEYS_KEPT = 1024


class UsageCount:
    """Running totals ``[input, output, cache_write, cache_read, cost_usd]`` (``totals`` is never rebound:
    readers may hold the list)."""

    def __init__(self, totals: list[float] | None = None) -> None:
        self.totals: list[float] = totals if totals is not None else [0, 0, 0, 0, 0.0]
        self._seen: OrderedDict[tuple[str, str], tuple[str, int, int, int, int]] = OrderedDict()

    def account(self, record: dict[str, Any], model: str) -> bool:
        """Count an assistant record's usage (``model``: the one in force when the record names none).
        True if the totals changed."""
        message = record.get("message")
        if not isinstance(message, dict):
            return False
        usage = message.get("usage")
        if not isinstance(usage, dict) or record.get("isApiErrorMessage"):
            return False
        named = message.get("model")
        model_name = named if isinstance(named, str) else model

        def num(name: str) -> int:
            value = usage.get(name)
            return value if isinstance(value, int) else 0

        new = (model_name, num("input_tokens"), num("output_tokens"),
               num("cache_creation_input_tokens"), num("cache_read_input_tokens"))
        key = (str(message.get("id", "")), str(record.get("requestId", "")))
        old = self._seen.get(key) if key != ("", "") else None
        if old is not None:  # same API response seen again: keep the largest figures
            new = (model_name, max(old[1], new[1]), max(old[2], new[2]), max(old[3], new[3]), max(old[4], new[4]))
            self._seen.move_to_end(key)
            self.add(old, -1)
        self.add(new, 1)
        if key != ("", ""):
            self._seen[key] = new
            if len(self._seen) > USAGE_KEYS_KEPT:
                self._seen.popitem(last=False)
        return True

    def add(self, entry: tuple[str, int, int, int, int], sign: int = 1) -> None:
        model, i, o, cw, cr = entry
        t = self.totals
        t[0] += sign * i
        t[1] += sign * o
        t[2] += sign * cw
        t[3] += sign * cr
        t[4] += sign * cost_usd(model, i, o, cw, cr)


def named_model(record: dict[str, Any]) -> str:
    """The model a main-chain assistant record names ('' for none, a placeholder or a subagent's)."""
    message = record.get("message")
    model = message.get("model") if isinstance(message, dict) else None
    if isinstance(model, str) and model and not model.startswith("<") and not record.get("isSidechain"):
        return model
    return ""
