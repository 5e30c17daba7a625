"""Waiting out usage limits: which accounts are limited, and continuing each agent once at the reset.

The activity detector marks a session ``rate_limited`` with the time its
limit lifts (``Activity.until``; None when the agent did not say, and then
``usage_limits.default_wait`` after the message counts). From that:

- the session's *account* (its agent's credentials location, see
  ``usage_limits.account_of``) is limited until then: ``Engine.spawn`` refuses
  to start agents on it (autopilot and waiting plan tasks retry later), and
  another account's fleet carries on;
- when the time comes, the project's ``usage_limits.continue_message`` is
  queued for the agent exactly once: a store claim keyed by session and reset
  time, so a restart, a second engine, or the clock jumping back and forth
  never sends it twice. It is typed even though the agent is not "idle"
  (everything else for that agent waits until it is working again).

Time comes from an injectable clock (epoch seconds) so tests can move it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ao_tui import lifecycle
from ao_tui.durations import parse_duration
from ao_tui.errors import AoError
from ao_tui.models import ActivityState, Event, Session
from ao_tui.usage_limits import account_of

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.limits")

#: The store setting holding every limited account: {account: {"until": iso, "session": id, "message": ...}}.
SETTING = "usage_limits"
#: Outbox keys of continue messages look like ``<session>:usage_limit_continue:<reset iso>``.
CONTINUE = "usage_limit_continue"


#: Newer Claude Code (2.1.3xx) continues by itself at the reset: "Usage limit reached · set to continue
#: automatically at 4:21am", then "Continuing automatically ... · Esc to cancel".
_RESUMES_ITSELF = re.compile(r"continue automatically|continuing automatically", re.IGNORECASE)
#: How long after the reset an agent that said it continues by itself is given to do so.
SELF_RESUME_GRACE = 120.0

#: Claude Code's dialog after a plan's limit ("/rate-limit-options").
_LIMIT_DIALOG = re.compile(r"Stop and wait for limit to reset|Upgrade your plan", re.IGNORECASE)


def is_continue_key(key: str | None) -> bool:
    return bool(key) and f":{CONTINUE}:" in str(key)


class AccountLimited(AoError):
    """A spawn refused because the account its agent would use is at its usage limit."""


def session_account(engine: Engine, session: Session) -> str:
    cfg = engine.project_config(session.project)
    return account_of(session.agent, {**os.environ, **cfg.agent.env})


def reset_of(engine: Engine, session: Session) -> tuple[datetime, bool]:
    """When a rate-limited session's limit lifts, and whether that time is ao's guess (default_wait)."""
    if session.activity.until is not None:
        return session.activity.until, False
    wait = parse_duration(engine.project_config(session.project).usage_limits.default_wait)
    return session.activity.since + timedelta(seconds=wait), True


def limited_accounts(engine: Engine, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Accounts limited at ``now`` (epoch seconds), from the store (any ao process sees them)."""
    try:
        data = json.loads(engine.store.get_setting(SETTING) or "{}")
    except ValueError:
        return {}
    now = time.time() if now is None else now
    out = {}
    for account, entry in data.items() if isinstance(data, dict) else ():
        try:
            if datetime.fromisoformat(entry["until"]).timestamp() > now:
                out[account] = entry
        except (KeyError, TypeError, ValueError):
            continue
    return out


def check_spawn(engine: Engine, project: str, agent: str | None = None, now: float | None = None) -> None:
    """Raise ``AccountLimited`` if the account ``project``'s agent would use is limited."""
    cfg = engine.project_config(project)
    account = account_of(agent or cfg.agent.plugin, {**os.environ, **cfg.agent.env})
    entry = limited_accounts(engine, now).get(account)
    if entry is not None:
        until = datetime.fromisoformat(entry["until"]).astimezone()
        raise AccountLimited(f"project {project}: the agent's account is at its usage limit until "
                             f"{until:%H:%M %Z} ({entry.get('message', '')}); new sessions start after that")


class LimitResume:
    """The engine loop's part: note limits as sessions report them, continue agents at the reset."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = clock

    def on_activity(self, session: Session) -> None:
        """A session's activity changed: a new limit marks its account and is recorded once."""
        if session.activity.state is not ActivityState.RATE_LIMITED:
            return
        reset, guessed = reset_of(self.engine, session)
        account = session_account(self.engine, session)
        self._mark(account, reset, session)
        key = f"{session.id}:usage_limit:{reset.isoformat()}"
        if self.store.claim(key, session.id, "usage_limit", "wait", {"until": reset.isoformat()}):
            wait = self.engine.project_config(session.project).usage_limits.default_wait
            note = f"the agent did not say when it lifts: waiting the default {wait}" if guessed else ""
            self.store.add_event(Event(session_id=session.id, kind="usage_limit", data={
                "message": session.activity.detail, "until": reset.isoformat(), "account": account,
                **({"note": note} if note else {})}))

    def _mark(self, account: str, until: datetime, session: Session) -> None:
        def mark(data: dict[str, Any]) -> dict[str, Any]:
            known = data.get(account)
            if known and known.get("until", "") >= until.astimezone(UTC).isoformat():
                return data
            data[account] = {"until": until.astimezone(UTC).isoformat(), "session": session.id,
                             "message": session.activity.detail}
            return data

        self.store.update_json_setting(SETTING, mark, {})  # read-modify-write in one transaction

    def tick(self, fence: Callable[[str], None] | None = None,
             unfence: Callable[[str], None] | None = None) -> list[str]:
        """Continue every session whose limit has lifted; the ids queued.

        Each due session is claimed, queued and (given ``fence``, as the engine loop does) typed on its
        own thread, so a fleet limited together resumes together: the store writes of one session
        overlap the typing of the others. Without ``fence`` the messages are only queued (``deliver``
        types them).
        """
        now = self.clock()
        self._forget_lifted(now)
        due = []
        for s in self.engine.sessions(include_at_rest=False):
            if s.activity.state is not ActivityState.RATE_LIMITED or not lifecycle.has_live_agent(s.status):
                continue
            reset, _ = reset_of(self.engine, s)
            if reset.timestamp() > now:
                continue
            cfg = self.engine.project_config(s.project).usage_limits
            if cfg.on:
                due.append((s, reset, cfg.continue_message))
        if not due:
            return []

        def one(item: tuple[Session, datetime, str]) -> str | None:
            s, reset, text = item
            if now < reset.timestamp() + SELF_RESUME_GRACE and self._resumes_itself(s):
                return None  # the agent continues by itself: ao types only if it has not, after the grace
            key = f"{s.id}:{CONTINUE}:{reset.isoformat()}"
            if not self.store.claim(key, s.id, "usage_limit_reset", "continue", {"until": reset.isoformat()}):
                return None  # sent before (or being sent): never twice for one reset
            msg_id = self.store.enqueue_message(s.id, text, key=key)
            self.store.add_event(Event(session_id=s.id, kind="usage_limit_reset",
                                       data={"until": reset.isoformat(), "continue": True}))
            if fence is not None and msg_id is not None:
                from ao_tui.budget import holds

                if not holds(self.engine, s):
                    self._type({"id": msg_id, "key": key, "text": text}, s, fence, unfence or (lambda _: None))
            return s.id

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(due)), thread_name_prefix="ao-continue") as pool:
            return [sid for sid in pool.map(one, due) if sid is not None]

    def _type(self, msg: dict[str, Any], session: Session, fence: Callable[[str], None],
              unfence: Callable[[str], None]) -> bool:
        """Type one continue message (outbox: attempted before, delivered after)."""
        self.store.mark_attempted(msg["id"])
        fence(session.id)
        try:
            runtime = self.engine.runtime(session)
            self.clear_dialog(session, runtime)
            runtime.send_text(session.runtime_handle, msg["text"], submit=True)
        except Exception as exc:  # noqa: BLE001 - tried again by deliver on the next tick
            log.warning("continuing %s failed: %s", session.id, exc)
            unfence(session.id)
            return False
        if self.store.mark_delivered(msg["id"]):
            self.store.add_event(Event(session_id=session.id, kind="message",
                                       data={"from": "ao", "key": msg["key"], "chars": len(msg["text"])}))
        return True

    def _forget_lifted(self, now: float) -> None:
        """Accounts whose limit has lifted by this loop's clock take new sessions again."""
        raw = self.store.get_setting(SETTING)
        if not raw or raw == "{}":
            return
        def lifted(data: Any) -> dict[str, Any]:
            try:
                return {a: e for a, e in data.items() if datetime.fromisoformat(e["until"]).timestamp() > now}
            except (ValueError, KeyError, TypeError, AttributeError):
                return {}

        self.store.update_json_setting(SETTING, lifted, {})

    def deliver(self, fence: Callable[[str], None], unfence: Callable[[str], None]) -> int:
        """Type every due continue message, all agents at once (a whole fleet resets together).

        The engine loop's outbox delivery types one message after another, each waiting for the
        agent to take it; twenty limited agents would then resume over ten seconds. Here each
        continue is typed on its own thread; ``mark_attempted`` before and ``mark_delivered`` after
        keep the outbox's exactly-once across a crash mid-typing.
        """
        due = []
        for msg in self.store.pending_messages():
            if not is_continue_key(msg.get("key")):
                continue
            try:
                session = self.engine.session(msg["session_id"])
            except AoError:
                continue
            if session.activity.state is not ActivityState.RATE_LIMITED:
                if self.store.mark_delivered(msg["id"]):  # it went on (the human typed?): not needed
                    self.store.add_event(Event(session_id=session.id, kind="message_dropped", data={
                        "key": msg["key"], "reason": "the agent is no longer at its usage limit"}))
                continue
            if not lifecycle.has_live_agent(session.status):
                continue
            from ao_tui.budget import holds

            if holds(self.engine, session):
                continue  # a spent budget: continuing waits until it is raised or the human says go on
            due.append((msg, session))
        if not due:
            return 0

        def one(item: tuple[dict[str, Any], Session]) -> bool:
            return self._type(item[0], item[1], fence, unfence)

        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(due)), thread_name_prefix="ao-continue") as pool:
            return sum(pool.map(one, due))

    def _resumes_itself(self, session: Session) -> bool:
        try:
            screen = self.engine.runtime(session).capture(session.runtime_handle)
        except Exception:  # noqa: BLE001 - no screen: ao continues it
            return False
        return bool(_RESUMES_ITSELF.search("\n".join(screen.splitlines()[-30:])))

    def clear_dialog(self, session: Session, runtime: Any) -> None:
        """Close the agent's own limit dialog before its continue message is typed.

        Claude Code opens "What do you want to do? 1. Stop and wait for limit to reset
        2. Upgrade your plan" right after a plan's limit; text typed into it is lost. Escape
        closes it (nothing chosen); ao never picks "Upgrade".
        """
        try:
            screen = runtime.capture(session.runtime_handle)
        except Exception as exc:  # noqa: BLE001 - no screen: type as usual
            log.debug("screen of %s unreadable: %s", session.id, exc)
            return
        if not _LIMIT_DIALOG.search("\n".join(screen.splitlines()[-25:])):
            return
        runtime.send_keys(session.runtime_handle, "Escape")
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                if not _LIMIT_DIALOG.search(runtime.capture(session.runtime_handle)):
                    return
            except Exception:  # noqa: BLE001
                return

    def next_due(self) -> float | None:
        """The earliest reset still ahead (epoch seconds), so the loop can wake for it."""
        dues = []
        for s in self.engine.sessions(include_at_rest=False):
            if s.activity.state is ActivityState.RATE_LIMITED and lifecycle.has_live_agent(s.status):
                dues.append(reset_of(self.engine, s)[0].timestamp())
        return min(dues) if dues else None
