"""The reaction runner: each triggering event is acted on exactly once.

How "exactly once" holds across restarts and across several engines:

1. **Claim.** A trigger's key names what caused it (``s-3:ci_failed:<head>``,
   ``s-3:review_comment:c7``). ``store.claim(key, ...)`` inserts a row whose
   primary key is that key, in one SQLite transaction: exactly one caller,
   in any process, ever gets True. Everyone else sees a duplicate and does
   nothing (pr_evaluation re-emits triggers on every poll; that is by design).
2. **Act.** The claimed action runs through its ``reactions`` plugin. Sending
   to an agent does not type anything: it puts the message in the store's
   outbox *under the same key* (``enqueue_message(..., key=key)``), which the
   engine delivers when the agent is at its prompt. A second enqueue with the
   key is a no-op, so replaying this step is harmless.
3. **Record.** The claim's state becomes ``done`` / ``failed`` /
   ``escalated`` and a ``reaction`` event is appended.

A crash between 1 and 3 leaves the claim in state ``claimed`` with the
trigger saved in it; ``resume()`` (run by the engine that holds the engine
lock, at start) replays exactly those. Because step 2 is idempotent for
messages, a crash never drops nor doubles a message to an agent. ``notify``
may be repeated after such a crash (at-least-once), ``merge`` is idempotent
in the SCMs, and ``spawn`` may in the worst case start a second session.

Retries, escalation and cooldown are counted from the claims table per
(session, event): with ``retries: 2`` the agent is told three times, the
fourth occurrence escalates instead; ``escalate_after`` is a count of
attempts or a duration after which a still-pending condition (pr_evaluation keeps
re-emitting it) escalates, itself claimed once under ``<key>:escalated``.
Escalation asks the host to put the session in *Needs you* with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ao_tui.backlog import GIVES_TASK_BACK, ready_tasks
from ao_tui.config import EVENT_WORDS, ReactionConfig
from ao_tui.durations import parse_duration
from ao_tui.models import Check, CheckState, Event, Session, utcnow
from ao_tui.outcomes import failing_tests_in
from ao_tui.slots.reaction import Reaction, ReactionHost, Trigger
from ao_tui.store import Store

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.reactions")

# What ``handle`` reports.
DONE, FAILED, ESCALATED = "done", "failed", "escalated"
DUPLICATE, COOLDOWN, UNCONFIGURED, SKIPPED = "duplicate", "cooldown", "unconfigured", "skipped"
COVERED = "covered"  # a review_comment key already delivered inside a changes_requested message


CiLogs = Callable[[Session, Check], str]


def _escalate_count(cfg: ReactionConfig) -> int | None:
    value = cfg.escalate_after
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _escalate_duration(cfg: ReactionConfig) -> float | None:
    value = cfg.escalate_after
    if isinstance(value, str) and not value.strip().isdigit():
        return parse_duration(value)
    return None


class ReactionRunner:
    """Turns triggers into actions, once each.

    ``reactions_for(project)`` gives the project's event → ``ReactionConfig``
    mapping; ``load_action(name)`` gives the ``reactions`` plugin for an
    action; ``ci_logs(session, check)`` (optional) the log excerpt of a failed
    check, attached to ``ci_failed`` triggers as ``data["logs"]``.
    """

    def __init__(
        self,
        store: Store,
        reactions_for: Callable[[str], Mapping[str, ReactionConfig]],
        host: ReactionHost,
        load_action: Callable[[str], Reaction],
        *,
        ci_logs: CiLogs | None = None,
        clock: Callable[[], datetime] = utcnow,
        conflict_detail: Callable[[Session, Trigger], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.reactions_for = reactions_for
        self.host = host
        self.load_action = load_action
        self.ci_logs = ci_logs
        self.clock = clock
        self.conflict_detail = conflict_detail

    @classmethod
    def for_engine(cls, engine: Engine) -> ReactionRunner:
        """The runner the engine loop uses: actions from the registry, the engine as host."""
        from ao_tui import paths
        from ao_tui.registry import create
        from ao_tui.slots.base import PluginContext

        host: ReactionHost = EngineHost(engine)
        actions: dict[str, Reaction] = {}

        def load_action(name: str) -> Reaction:
            if name not in actions:
                context = PluginContext(ao_home=paths.ao_home(), tmux_socket=paths.tmux_socket_name())
                actions[name] = create("reactions", name, context)
            return actions[name]

        def ci_logs(session: Session, check: Check) -> str:
            if session.pr is None:
                return ""
            cfg = engine.project_config(session.project)
            return engine.scm(session.project).ci_logs(cfg.repo, session.pr, check)

        def conflict_detail(session: Session, trigger: Trigger) -> dict[str, Any]:
            from ao_tui.conflicts import Predictor, describe_hunks

            cfg = engine.project_config(session.project)
            head = str(trigger.data.get("head") or "")
            base = str(trigger.data.get("base") or cfg.default_branch)
            if not head:
                return {}
            prediction = Predictor(cfg.repo).predict(head, f"refs/heads/{base}")
            return {"files": [c["path"] for c in prediction.conflicts],
                    "hunks": describe_hunks(prediction.conflicts, session.id, base)}

        return cls(engine.store, lambda p: engine.project_config(p).reactions, host, load_action, ci_logs=ci_logs,
                   conflict_detail=conflict_detail)

    # -- the public surface -------------------------------------------------------------

    def handle(self, trigger: Trigger) -> str:
        """Act on ``trigger`` unless its key was already claimed; returns what happened."""
        session = self.store.find_session(trigger.session_id)
        if session is None:
            return SKIPPED
        cfg = self._config(session.project, trigger.event)
        if cfg is None:
            return UNCONFIGURED
        existing = self._claim(trigger.key, session.id)
        if existing is not None:
            self._maybe_overdue(existing, cfg, session)
            return DUPLICATE
        history = self._history(session.id, trigger.event)
        if cfg.cooldown and history:
            last = max(datetime.fromisoformat(c["updated_at"]) for c in history)
            if self.clock() - last < timedelta(seconds=parse_duration(cfg.cooldown)):
                return COOLDOWN  # not claimed: pr_evaluation re-emits it once the cooldown is over
        attempts = sum(1 for c in history if c["action"] != "escalate")
        trigger = self._without_delivered_comments(trigger)
        saved = {"trigger": trigger.data}
        exhausted = self._exhausted(cfg, attempts)
        if exhausted:
            if not self.store.claim(trigger.key, session.id, trigger.event, "escalate", saved):
                return DUPLICATE
            reason = f"{EVENT_WORDS.get(trigger.event, trigger.event)} {attempts + 1} times; {exhausted}"
            return self._escalate(trigger, session, reason)
        if not self.store.claim(trigger.key, session.id, trigger.event, cfg.action, saved):
            return DUPLICATE
        self._cover(trigger)
        return self._execute(trigger, session, cfg, attempts + 1)

    def resume(self) -> int:
        """Replay claims a crash left half done (state ``claimed``). Run once at engine start."""
        replayed = 0
        for row in self.store.claims(state="claimed"):
            trigger = Trigger(event=row["event"], session_id=row["session_id"], key=row["key"],
                              data=dict(row["data"].get("trigger", {})))
            session = self.store.find_session(row["session_id"])
            if session is None:
                self.store.set_claim_state(row["key"], SKIPPED)
                continue
            replayed += 1
            if row["action"] == COVERED:
                self.store.set_claim_state(row["key"], COVERED)
            elif row["action"] == "escalate":
                self._escalate(trigger, session, row["data"].get("reason") or
                               f"{EVENT_WORDS.get(trigger.event, trigger.event)}; retries exhausted")
            else:
                cfg = self._config(session.project, trigger.event)
                if cfg is None or cfg.action != row["action"]:
                    cfg = ReactionConfig(action=row["action"])
                attempts = sum(1 for c in self._history(session.id, trigger.event) if c["action"] != "escalate")
                self._cover(trigger)
                self._execute(trigger, session, cfg, attempts)
        return replayed

    # -- steps --------------------------------------------------------------------------

    def _config(self, project: str, event: str) -> ReactionConfig | None:
        try:
            cfg = self.reactions_for(project).get(event)
        except Exception as exc:
            log.warning("no reactions config for %s: %s", project, exc)
            return None
        if cfg is None or cfg.action == "none":
            return None
        return cfg

    def _claim(self, key: str, session_id: str) -> dict[str, Any] | None:
        return next((c for c in self.store.claims(session_id) if c["key"] == key), None)

    def _history(self, session_id: str, event: str) -> list[dict[str, Any]]:
        """Earlier reactions to ``event`` for this session (not covered ones or escalation markers)."""
        return [c for c in self.store.claims(session_id)
                if c["event"] == event and c["action"] != COVERED and not c["key"].endswith(":escalated")]

    @staticmethod
    def _exhausted(cfg: ReactionConfig, attempts: int) -> str:
        if cfg.retries is not None and attempts > cfg.retries:
            return f"retries exhausted ({cfg.retries})"
        count = _escalate_count(cfg)
        if count is not None and attempts >= count:
            return f"escalate_after {count} attempts"
        return ""

    def _without_delivered_comments(self, trigger: Trigger) -> Trigger:
        """Drop comments an earlier message already carried (their review_comment key is claimed)."""
        if not trigger.data.get("covers"):
            return trigger
        claimed = {c["key"] for c in self.store.claims(trigger.session_id)}
        prefix = f"{trigger.session_id}:review_comment:"
        comments = [c for c in trigger.data.get("comments", []) if f"{prefix}{c.get('id')}" not in claimed]
        covers = [k for k in trigger.data["covers"] if k not in claimed]
        if comments == trigger.data.get("comments") and covers == trigger.data["covers"]:
            return trigger
        if trigger.data.get("comments") and not comments:
            comments = trigger.data["comments"]  # nothing new: say it all again rather than send nothing
        return Trigger(trigger.event, trigger.session_id, trigger.key, {**trigger.data, "comments": comments,
                                                                        "covers": covers})

    def _cover(self, trigger: Trigger) -> None:
        """Mark the review comments this message carries as delivered."""
        for key in trigger.data.get("covers", []):
            if self.store.claim(key, trigger.session_id, "review_comment", COVERED, {"by": trigger.key}):
                self.store.set_claim_state(key, COVERED)

    def _enrich(self, trigger: Trigger, session: Session) -> Trigger:
        if trigger.event == "merge_conflict" and self.conflict_detail is not None and not trigger.data.get("files"):
            try:  # which files and hunks collide, for a conflict the SCM reported without them
                return Trigger(trigger.event, trigger.session_id, trigger.key,
                               {**trigger.data, **self.conflict_detail(session, trigger)})
            except Exception as exc:
                log.warning("conflict detail for %s: %s", session.id, exc)
                return trigger
        if trigger.event != "ci_failed" or self.ci_logs is None or "logs" in trigger.data:
            return trigger
        logs: dict[str, str] = {}
        for name, check_id in zip(trigger.data.get("failed", []), trigger.data.get("check_ids", [])):
            try:
                logs[name] = self.ci_logs(session, Check(name=name, state=CheckState.FAILED, id=check_id))
            except Exception as exc:
                log.warning("CI log of %s for %s: %s", name, session.id, exc)
        return Trigger(trigger.event, trigger.session_id, trigger.key, {**trigger.data, "logs": logs})

    def _execute(self, trigger: Trigger, session: Session, cfg: ReactionConfig, attempt: int) -> str:
        options = {**cfg.model_dump(exclude_none=True), "attempt": attempt}
        try:
            action = self.load_action(cfg.action)
            enriched = self._enrich(trigger, session)
            result = action.run(enriched, session, options, self.host)
        except Exception as exc:
            detail = str(exc) or type(exc).__name__
            log.warning("reaction %s to %s for %s failed: %s", cfg.action, trigger.event, session.id, detail)
            self.store.set_claim_state(trigger.key, FAILED, {"trigger": trigger.data, "error": detail})
            self._record(trigger, cfg.action, FAILED, attempt, detail)
            self._notify_host_escalate(session.id, f"{cfg.action} after {trigger.event} failed: {detail}")
            return FAILED
        state = DONE if result.done else FAILED
        tests = [t for text in enriched.data.get("logs", {}).values() for t in failing_tests_in(text)]
        self.store.set_claim_state(trigger.key, state, {"trigger": trigger.data, "failing_tests": tests} if tests else None)
        self._record(trigger, cfg.action, state, attempt, result.message)
        return state

    def _escalate(self, trigger: Trigger, session: Session, reason: str) -> str:
        self.store.set_claim_state(trigger.key, ESCALATED, {"trigger": trigger.data, "reason": reason})
        self._record(trigger, "escalate", ESCALATED, 0, reason)
        self._notify_host_escalate(session.id, reason)
        return ESCALATED

    def _notify_host_escalate(self, session_id: str, reason: str) -> None:
        try:
            self.host.escalate(session_id, reason)
        except Exception:
            log.exception("escalating %s failed", session_id)

    def _maybe_overdue(self, row: dict[str, Any], cfg: ReactionConfig, session: Session) -> None:
        """A condition still pending ``escalate_after`` (a duration) after ao acted on it."""
        limit = _escalate_duration(cfg)
        if limit is None or row["state"] != DONE or row["action"] in (COVERED, "escalate"):
            return
        if self.clock() - datetime.fromisoformat(row["created_at"]) < timedelta(seconds=limit):
            return
        marker = f"{row['key']}:escalated"
        reason = f"{EVENT_WORDS.get(row['event'], row['event'])} and is unresolved after {cfg.escalate_after}"
        if self.store.claim(marker, session.id, row["event"], "escalate", {"reason": reason}):
            trigger = Trigger(row["event"], session.id, marker, dict(row["data"].get("trigger", {})))
            self._escalate(trigger, session, reason)

    def _record(self, trigger: Trigger, action: str, state: str, attempt: int, detail: str) -> None:
        self.store.add_event(Event(session_id=trigger.session_id, kind="reaction", data={
            "event": trigger.event, "key": trigger.key, "action": action, "state": state,
            "attempt": attempt, "detail": detail,
        }))


class EngineHost:
    """The engine as a ``ReactionHost`` (used unless the engine provides its own)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def send_to_agent(self, session_id: str, text: str, key: str | None = None) -> None:
        self.engine.queue_message(session_id, text, key=key)

    def notify(self, title: str, body: str, session_id: str | None = None, urgency: str = "normal") -> None:
        self.engine.notify(title, body, session_id=session_id, urgency=urgency)

    def merge(self, session_id: str, method: str = "squash") -> None:
        self.engine.merge(session_id, method)

    def spawn(self, project: str, task_id: str | None = None, prompt: str | None = None) -> str:
        if not task_id and not prompt:
            task_id = self._next_ready_task(project)
            if task_id is None:
                return ""
        return self.engine.spawn(project, task_id=task_id, prompt=prompt).id

    def _next_ready_task(self, project: str) -> str | None:
        """The first backlog task ready to start (``backlog.ready_tasks``: the rule autopilot uses)."""
        taken = self.engine.store.task_ids(project, except_status=GIVES_TASK_BACK)
        ready = ready_tasks(self.engine.backlog(project, include_done=True), taken)
        return ready[0].id if ready else None

    def escalate(self, session_id: str, reason: str) -> None:
        self.engine.escalate(session_id, reason)
