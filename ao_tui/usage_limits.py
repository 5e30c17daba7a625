"""Provider usage limits: recognising an agent stopped by one, when it lifts, and whose account it is.

Pure text logic shared by the activity detector (which marks a session
``rate_limited``) and the engine (which waits the limit out and continues the
agent once, see ``limit_resume``). What the agents say, as seen:

- Claude Code on a claude.ai plan, from the API's 429 with the
  ``anthropic-ratelimit-unified-*`` headers, on screen and as a synthetic
  assistant record in its transcript (``"error": "rate_limit"``):
  ``You've hit your session limit · resets 4:20am (UTC)`` (older releases:
  ``Claude usage limit reached. Your limit will reset at 9am (America/Chicago)``,
  ``5-hour limit reached ∙ resets 9pm``, and in the transcript
  ``Claude AI usage limit reached|1749924000``, an epoch).
- Claude Code with an API key, after its own retries:
  ``API Error: Request rejected (429) · ...`` (no reset time).
- Codex: ``You've hit your usage limit ... try again in 2 hours 5 minutes``
  or ``... try again at 3:45 PM``; ``exceeded retry limit, last status: 429``.
  Codex 0.171 writes it with a typographic apostrophe (``You’ve``) in its
  rollout's ``task_complete`` error, marked ``"codex_error_info": "usage_limit_exceeded"``.
- Aider (litellm): ``RateLimitError ... retry after 30 seconds``.

A time shown to the minute ("4:20am") is rounded *up* to the next minute: the
limit lifts somewhere in that minute and continuing early would only hit it again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

#: Text that says the agent is stopped by its provider's limit (not a retry in progress).
_LIMIT = re.compile(
    r"usage limit reached|you[’']?ve hit your\b[^\n]{0,40}\blimit|you[’']?ve reached your\b[^\n]{0,40}\blimit"
    r"|\b\d+-hour limit reached|weekly limit reached|limit reached\|\d{9,}"
    r"|request rejected \(429\)|rate_limit_error|\b429 too many requests|last status: 429"
    r"|ratelimiterror|rate limit (?:exceeded|reached)",
    re.IGNORECASE,
)
_EPOCH = re.compile(r"\|(\d{9,11})\b")
_CLOCK = (r"(?:(?P<mon>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? (?P<day>\d{1,2}),? (?:at )?)?"
          r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>[ap]\.?m\.?)?(?![\w:])"
          r"(?:\s*\((?P<tz>[A-Za-z][A-Za-z0-9_+\-/]*)\))?")
_RESETS_AT = re.compile(r"(?:resets?|reset at|try again at|available again at)\s+(?:at\s+)?" + _CLOCK, re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b",
                            re.IGNORECASE)
_RESETS_IN = re.compile(r"(?:try again in|retry after|retry in|resets in|retry-after:?)\s+((?:\d+(?:\.\d+)?\s*"
                        r"(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b[\s,and]*)+)",
                        re.IGNORECASE)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


@dataclass(frozen=True)
class LimitHit:
    """An agent stopped by a usage limit: the message, and when the limit lifts (None: not said)."""

    message: str
    resets_at: datetime | None


def is_limit(text: str) -> bool:
    return bool(text) and _LIMIT.search(text) is not None


def find_limit(text: str, at: datetime) -> LimitHit | None:
    """The limit ``text`` reports, read as of ``at`` (when the message was written), or None."""
    if not is_limit(text):
        return None
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    line = next((ln for ln in lines if _LIMIT.search(ln)), text.strip())
    message, resets_at = _tidy(line), reset_time(line, at)
    if resets_at is None:  # the time is on a line of its own ("try again in 2 hours")
        timed = next((ln for ln in lines if reset_time(ln, at) is not None), "")
        if timed:
            message, resets_at = f"{message} · {_tidy(timed)}", reset_time(timed, at)
    return LimitHit(message=message[:240], resets_at=resets_at)


def screen_limit(screen: str, at: datetime, lines: int = 12) -> LimitHit | None:
    """A limit message among the last ``lines`` non-empty lines of an agent's screen."""
    tail = [ln for ln in screen.splitlines() if ln.strip()][-lines:]
    return find_limit("\n".join(tail), at)


def reset_time(text: str, at: datetime) -> datetime | None:
    """When the limit in ``text`` lifts (UTC), relative to ``at``; None if the text does not say."""
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    epoch = _EPOCH.search(text)
    if epoch:
        return datetime.fromtimestamp(int(epoch.group(1)), UTC)
    match = _RESETS_IN.search(text)
    if match:
        seconds = sum(float(n) * _UNIT_SECONDS[u[0].lower()] for n, u in _DURATION_PART.findall(match.group(1)))
        if seconds > 0:
            return (at + timedelta(seconds=seconds)).astimezone(UTC)
    for match in _RESETS_AT.finditer(text):
        when = _clock_time(match, at)
        if when is not None:
            return when
    return None


def _clock_time(match: re.Match[str], at: datetime) -> datetime | None:
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    ampm = (match.group("ap") or "").lower().replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match.group("m") is None:
        return None  # a bare number ("resets 5") is not a time
    if hour > 23 or minute > 59:
        return None
    zone = _zone(match.group("tz"))
    base = at.astimezone(zone)
    when = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if match.group("mon"):
        month, day = _MONTHS.index(match.group("mon").lower()[:3]) + 1, int(match.group("day"))
        try:
            when = when.replace(month=month, day=day)
        except ValueError:
            return None
        if when < base - timedelta(days=1):
            when = when.replace(year=when.year + 1)
    elif when <= base - timedelta(minutes=1):
        when += timedelta(days=1)  # "resets 4:20am" said at 11pm: tomorrow
    return (when + timedelta(minutes=1)).astimezone(UTC)  # shown to the minute: its end


def _zone(name: str | None) -> tzinfo:
    if name:
        if name.upper() in ("UTC", "GMT", "Z"):
            return UTC
        try:
            from zoneinfo import ZoneInfo

            return ZoneInfo(name)
        except Exception:  # noqa: BLE001 - an unknown zone name: local time is the best guess
            pass
    return datetime.now().astimezone().tzinfo or UTC


def _tidy(line: str) -> str:
    line = re.sub(r"^[\s⎿│|>•■✗*-]+", "", line).strip()
    line = re.sub(r"\|\d{9,11}\b", "", line)  # the transcript's epoch suffix
    return line[:200]


def account_of(agent: str, env: Mapping[str, str]) -> str:
    """Which provider account an agent with this environment uses: its credentials' location.

    One account per config dir: two Claude Code fleets with different
    ``CLAUDE_CONFIG_DIR`` (or ``HOME``) are limited independently.
    """
    home = env.get("HOME") or os.environ.get("HOME") or str(Path.home())
    if agent == "claude-code":
        where = env.get("CLAUDE_CONFIG_DIR") or os.path.join(home, ".claude")
    elif agent == "codex":
        where = env.get("CODEX_HOME") or os.path.join(home, ".codex")
    else:
        where = home
    return f"{agent}:{os.path.normpath(os.path.expanduser(where))}"
