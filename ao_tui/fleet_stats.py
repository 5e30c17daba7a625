"""What the fleet cost and how it went: the figures behind ``ao retro`` and the control room's stats screen.

Pure reading of the store: spend per day (the budget ledger's daily totals,
and for days before it existed each session's cost on the day it was
created), per merged PR, per task and per agent kind; CI cycles per PR and
time to merge.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ao_tui.models import Session, SessionStatus
from ao_tui.store import Store


@dataclass
class MergedPR:
    session_id: str
    number: int | None
    title: str
    cost_usd: float
    ci_cycles: int
    time_to_merge_s: float | None


@dataclass
class FleetStats:
    days: list[tuple[str, float]] = field(default_factory=list)  # oldest first, every day in the window
    merged: list[MergedPR] = field(default_factory=list)  # newest merge first
    per_task: list[tuple[str, float]] = field(default_factory=list)  # most expensive first
    per_agent: list[tuple[str, float, int]] = field(default_factory=list)  # (agent, usd, sessions)
    total_usd: float = 0.0
    total_tokens: int = 0

    @property
    def mean_ci_cycles(self) -> float | None:
        return round(sum(m.ci_cycles for m in self.merged) / len(self.merged), 2) if self.merged else None

    @property
    def mean_time_to_merge_s(self) -> float | None:
        times = [m.time_to_merge_s for m in self.merged if m.time_to_merge_s is not None]
        return round(sum(times) / len(times), 1) if times else None

    @property
    def cost_per_merged_pr(self) -> float | None:
        return round(sum(m.cost_usd for m in self.merged) / len(self.merged), 4) if self.merged else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [{"day": d, "cost_usd": round(v, 4)} for d, v in self.days],
            "merged_prs": [m.__dict__ for m in self.merged],
            "per_task": [{"task": t, "cost_usd": round(v, 4)} for t, v in self.per_task],
            "per_agent": [{"agent": a, "cost_usd": round(v, 4), "sessions": n} for a, v, n in self.per_agent],
            "total_usd": round(self.total_usd, 4), "total_tokens": self.total_tokens,
            "mean_ci_cycles_per_pr": self.mean_ci_cycles, "mean_time_to_merge_s": self.mean_time_to_merge_s,
            "cost_per_merged_pr": self.cost_per_merged_pr,
        }


def _local_day(at: datetime) -> str:
    return at.astimezone().date().isoformat()


def fleet_stats(store: Store, project: str | None = None, *, days: int = 14,
                now: datetime | None = None) -> FleetStats:
    sessions: list[Session] = store.list_sessions(project)
    now = now or datetime.now(UTC)
    out = FleetStats()
    out.total_usd = sum(s.usage.cost_usd for s in sessions)
    out.total_tokens = sum(s.usage.total_tokens for s in sessions)
    by_created: dict[str, float] = defaultdict(float)
    for s in sessions:
        by_created[_local_day(s.created_at)] += s.usage.cost_usd
    ledger_days: dict[str, float] = {}
    if project is None:  # the ledger counts the whole fleet
        try:
            ledger_days = json.loads(store.get_setting("budget.ledger") or "{}").get("days", {})
        except (ValueError, AttributeError):
            ledger_days = {}
    end = now.astimezone().date()
    for i in range(days - 1, -1, -1):
        day = (end - timedelta(days=i)).isoformat()
        out.days.append((day, float(ledger_days.get(day, by_created.get(day, 0.0)))))
    merged = [s for s in sessions if s.status in (SessionStatus.MERGED, SessionStatus.DONE) and (s.merged_at or s.pr)]
    merged.sort(key=lambda s: s.merged_at or s.updated_at, reverse=True)
    out.merged = [MergedPR(s.id, s.pr.number if s.pr else None, s.title, round(s.usage.cost_usd, 4), s.ci_cycles,
                           round((s.merged_at - s.created_at).total_seconds(), 1) if s.merged_at else None)
                  for s in merged]
    per_task: dict[str, float] = defaultdict(float)
    for s in sessions:
        per_task[s.task_id or f"{s.id} (prompt)"] += s.usage.cost_usd
    out.per_task = sorted(per_task.items(), key=lambda kv: kv[1], reverse=True)
    per_agent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for s in sessions:
        per_agent[s.agent][0] += s.usage.cost_usd
        per_agent[s.agent][1] += 1
    out.per_agent = sorted(((a, v[0], int(v[1])) for a, v in per_agent.items()), key=lambda t: t[1], reverse=True)
    return out


def span(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    secs = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600)):
        if secs >= size:
            return f"{secs / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{secs // 60}m" if secs >= 60 else f"{secs}s"


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """``[0, 1, 4]`` → `` ▂█``: one cell per value, scaled to the largest."""
    top = max(values, default=0.0)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(8, round(v / top * 8))] if v > 0 else BARS[0] for v in values)


def bar(value: float, top: float, width: int) -> str:
    """A horizontal bar of ``width`` cells at most, in eighths."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * width * 8)
    return "█" * (eighths // 8) + ("▏▎▍▌▋▊▉"[eighths % 8 - 1] if eighths % 8 else "")
