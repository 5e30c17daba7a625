"""Budgets: what the fleet spends against the caps in ``budget:``, and what ao holds back at a cap.

Caps (``BudgetConfig``) are set for the whole fleet (top-level ``budget:``) and
per project (a project's ``budget:``): spend per day (``daily_usd``), tokens per
day (``daily_tokens``), and per session (``session_usd``, ``session_tokens``).
Cost and tokens are the sessions' own, read from their transcripts.

A day's spend is what sessions cost since local midnight: the engine keeps a
ledger in the store (each session's cost when the day began, or when it was
first seen that day; a session created today starts at zero), so any ao
process reads the same figures.

At ``warn_at`` (80 %) of a cap ao notifies once; at 100 % it notifies once,
refuses new sessions on that budget (``ao spawn``, autopilot, plan tasks) and
holds the messages ao itself would type into agents (CI failures, review
comments, continue after a usage limit, drift corrections; what you type is
never held), until you raise the cap or say go on for the day (one
confirmation: ``ao budget --continue`` or the control room's dialog).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ao_tui.errors import AoError
from ao_tui.models import Event, Session

if TYPE_CHECKING:
    from ao_tui.config import BudgetConfig
    from ao_tui.engine import Engine

log = logging.getLogger("ao.budget")

LEDGER = "budget.ledger"  # {"day": "2026-12-05", "base": {session: [usd, tokens]}, "days": {day: usd}}
STATE = "budget.state"  # what the TUI shows: [Standing.as_dict(), ...] as of the engine's last look
GO_ON = "budget.go_on"  # {scope: day} the human said go on for


class BudgetReached(AoError):
    """A spawn refused because a budget it would spend from is spent (until raised or confirmed)."""


def today(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).astimezone().date().isoformat()


def start_of_day(now: datetime | None = None) -> datetime:
    """Local midnight before ``now``: where a day's spend begins."""
    return (now or datetime.now(UTC)).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Standing:
    """One budget's spend against its cap."""

    scope: str  # "all", "project:<name>", "session:<id>"
    label: str  # "today, all projects", "today, project app", "session app-3"
    spent_usd: float
    spent_tokens: int
    limit_usd: float | None
    limit_tokens: int | None
    warn_at: float = 0.8
    go_on: bool = False  # the human confirmed going on past the cap (today)

    @property
    def fraction(self) -> float:
        parts = []
        if self.limit_usd:
            parts.append(self.spent_usd / self.limit_usd)
        if self.limit_tokens:
            parts.append(self.spent_tokens / self.limit_tokens)
        return max(parts, default=0.0)

    @property
    def state(self) -> str:
        """``ok``, ``warn`` (past warn_at), ``over`` (at or past the cap), ``confirmed`` (over, go on said)."""
        f = self.fraction
        if f >= 1.0:
            return "confirmed" if self.go_on else "over"
        return "warn" if f >= self.warn_at else "ok"

    @property
    def holding(self) -> bool:
        return self.state == "over"

    def words(self) -> str:
        parts = []
        if self.limit_usd:
            parts.append(f"${self.spent_usd:.2f} of ${self.limit_usd:.2f}")
        if self.limit_tokens:
            parts.append(f"{self.spent_tokens:,} of {self.limit_tokens:,} tokens")
        return f"{self.label}: {' and '.join(parts)} ({self.fraction:.0%})"

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "label": self.label, "spent_usd": round(self.spent_usd, 4),
                "spent_tokens": self.spent_tokens, "limit_usd": self.limit_usd, "limit_tokens": self.limit_tokens,
                "warn_at": self.warn_at, "go_on": self.go_on, "fraction": round(self.fraction, 4),
                "state": self.state, "words": self.words()}


def _json_setting(engine: Engine, key: str, default: Any) -> Any:
    try:
        value = json.loads(engine.store.get_setting(key) or "null")
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def _cost(s: Session) -> tuple[float, int]:
    return s.usage.cost_usd, s.usage.total_tokens


def spent_today(sessions: list[Session], ledger: dict[str, Any], day: str) -> dict[str, tuple[float, int]]:
    """Each session's cost and tokens since the day began, by the ledger (pure)."""
    base = ledger.get("base", {}) if ledger.get("day") == day else {}
    out = {}
    for s in sessions:
        usd, tokens = _cost(s)
        if s.id in base:
            b_usd, b_tokens = base[s.id]
        elif s.created_at.astimezone().date().isoformat() == day:
            b_usd, b_tokens = 0.0, 0
        else:
            b_usd, b_tokens = usd, tokens  # first seen today: what it cost before is yesterday's
        out[s.id] = (max(0.0, usd - b_usd), max(0, tokens - b_tokens))
    return out


def update_ledger(engine: Engine, sessions: list[Session], now: datetime | None = None) -> dict[str, Any]:
    """The engine's part: note each new session's starting point today; keep each day's total."""
    day = today(now)

    def note(ledger: dict[str, Any]) -> dict[str, Any]:
        if ledger.get("day") != day:
            ledger = {"day": day, "base": {}, "days": ledger.get("days", {})}
        spent = spent_today(sessions, ledger, day)
        base = ledger["base"]
        for s in sessions:
            if s.id not in base:
                usd, tokens = _cost(s)
                d_usd, d_tokens = spent[s.id]
                base[s.id] = [usd - d_usd, tokens - d_tokens]
        ledger["days"][day] = round(sum(v[0] for v in spent.values()), 4)
        ledger["days"] = dict(sorted(ledger["days"].items())[-90:])
        return ledger

    ledger: dict[str, Any] = engine.store.update_json_setting(LEDGER, note, {})
    return ledger


def configured(engine: Engine) -> bool:
    return not engine.config.budget.empty or any(not p.budget.empty for p in engine.config.projects.values())


def standings(engine: Engine, now: datetime | None = None, sessions: list[Session] | None = None) -> list[Standing]:
    """Every configured budget's standing right now (only budgets with a cap)."""
    if not configured(engine):
        return []
    sessions = engine.sessions() if sessions is None else sessions
    day = today(now)
    ledger = _json_setting(engine, LEDGER, {})
    spent = spent_today(sessions, ledger, day)
    go_on = {k for k, v in _json_setting(engine, GO_ON, {}).items() if v == day}
    out: list[Standing] = []

    def daily(scope: str, label: str, cfg: BudgetConfig, members: list[Session]) -> None:
        if cfg.daily_usd is None and cfg.daily_tokens is None:
            return
        usd = sum(spent[s.id][0] for s in members)
        tokens = sum(spent[s.id][1] for s in members)
        out.append(Standing(scope, label, usd, tokens, cfg.daily_usd, cfg.daily_tokens, cfg.warn_at, scope in go_on))

    daily("all", "today, all projects", engine.config.budget, sessions)
    for name, pcfg in engine.config.projects.items():
        daily(f"project:{name}", f"today, project {name}", pcfg.budget, [s for s in sessions if s.project == name])
    for s in sessions:
        own = engine.config.projects.get(s.project)
        cfgs = [c for c in (own.budget if own else None, engine.config.budget) if c is not None]
        cap_usd = next((c.session_usd for c in cfgs if c.session_usd is not None), None)
        cap_tokens = next((c.session_tokens for c in cfgs if c.session_tokens is not None), None)
        if cap_usd is None and cap_tokens is None:
            continue
        scope = f"session:{s.id}"
        usd, tokens = _cost(s)
        out.append(Standing(scope, f"session {s.id}", usd, tokens, cap_usd, cap_tokens, cfgs[0].warn_at,
                            scope in go_on))
    return out


def check_spawn(engine: Engine, project: str, now: datetime | None = None) -> None:
    """Raise ``BudgetReached`` if the fleet's or ``project``'s daily budget is spent (and not confirmed)."""
    for st in standings(engine, now):
        if st.scope in ("all", f"project:{project}") and st.holding:
            raise BudgetReached(f"budget reached, {st.words()}: no new sessions until the budget is raised "
                                "or you go on (`ao budget --continue`)")


def holds(engine: Engine, session: Session, now: datetime | None = None) -> str:
    """Why ao's own messages to ``session`` are held ("" if they are not)."""
    for st in standings(engine, now):
        if st.scope in ("all", f"project:{session.project}", f"session:{session.id}") and st.holding:
            return f"budget reached, {st.words()}"
    return ""


def go_on(engine: Engine, scope: str | None = None, now: datetime | None = None) -> list[Standing]:
    """The human's "go on" for today: every budget at its cap (or just ``scope``) stops holding."""
    day = today(now)
    over = [st for st in standings(engine, now) if st.holding and (scope is None or st.scope == scope)]

    def confirm(data: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in data.items() if v == day}  # yesterday's confirmations are spent
        for st in over:
            data[st.scope] = day
        return data

    engine.store.update_json_setting(GO_ON, confirm, {})
    return over


def shown_state(engine: Engine) -> list[dict[str, Any]]:
    """The standings as the engine last wrote them (for the status bar: no computing in the UI)."""
    state: list[dict[str, Any]] = _json_setting(engine, STATE, [])
    return state


class BudgetWatch:
    """The engine loop's part: keep the ledger, publish the standings, notify at warn_at and at the cap once."""

    def __init__(self, engine: Engine, clock: Any = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self._last: str = ""

    def tick(self) -> list[Standing]:
        if not configured(self.engine):
            return []
        now = self.clock()
        # one that came to rest before today spent nothing today: a pass reads the live and today's
        sessions = self.engine.sessions(include_at_rest=start_of_day(now))
        update_ledger(self.engine, sessions, now)
        result = standings(self.engine, now, sessions)
        shown = json.dumps([st.as_dict() for st in result])
        if shown != self._last:
            self._last = shown
            self.engine.store.set_setting(STATE, shown)
        day = today(now)
        for st in result:
            levels = {"ok": (), "warn": ("warn",)}.get(st.state, ("warn", "over"))
            for what in levels:
                key = f"budget:{st.scope}:{day}:{what}"
                if not self.engine.store.claim(key, st.scope.split(":", 1)[-1], "budget", what, st.as_dict()):
                    continue
                title = (f"Budget at {st.fraction:.0%}" if what == "warn" else "Budget reached: holding new "
                         "sessions and ao's messages to agents")
                body = st.words() + ("" if what == "warn" else
                                     " · raise the budget or go on: `ao budget --continue` or the dialog in ao-tui")
                session_id = st.scope.split(":", 1)[1] if st.scope.startswith("session:") else None
                try:
                    self.engine.notify(title, body, session_id=session_id,
                                       urgency="normal" if what == "warn" else "critical")
                except Exception:  # noqa: BLE001 - a notifier failing must not stop the budget
                    log.exception("budget notification failed")
                if session_id:
                    self.engine.store.add_event(Event(session_id=session_id, kind=f"budget_{what}",
                                                      data=st.as_dict()))
        return result
