"""Mid-session checks: is the agent still doing its task?

``check_drift`` shows the model the task, the agent's last messages and its
screen, and asks it to report through a forced tool call whether the agent
drifted and, if so, the one message that would put it back on track. The
report is recorded as a ``drift`` event; under autopilot the correction is
queued for the agent, otherwise it is proposed to the human: the triage and the
fleet summary the chat carries show it until the human writes to the agent (or
a later check finds it on track), and a periodic check notifies once per
proposal. A failed check is recorded as a ``drift_failed`` event and tried
again after a back-off (1, 2, 4… minutes, at most the check interval).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ao_tui.errors import AoError
from ao_tui.models import Event, utcnow
from ao_tui.orchestrator.client import ModelClient, has_api_key
from ao_tui.orchestrator.context import CHECKABLE, autopilot_enabled, last_lines, transcript_summary

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.orchestrator")

REPORT_TOOL: dict[str, Any] = {
    "name": "report_drift",
    "description": "Report whether the agent is still working on its task.",
    "input_schema": {
        "type": "object",
        "properties": {
            "on_track": {"type": "boolean"},
            "summary": {"type": "string", "description": "one line: what the agent is doing now"},
            "correction": {"type": "string", "description": "if drifted: the message to send the agent"},
        },
        "required": ["on_track", "summary"],
    },
}

SYSTEM = """\
You check whether a coding agent is still working on the task it was given. Drift means working on \
something the task did not ask for, rewriting unrelated code, going in circles, or waiting on a question \
it could answer itself. Exploring the code, running tests and fixing what the task needs is on track. \
When it drifted, write the one short message that puts it back on track, addressed to the agent."""



@dataclass(frozen=True)
class DriftReport:
    session_id: str
    on_track: bool
    summary: str
    correction: str = ""
    sent: bool = False

    def text(self) -> str:
        if self.on_track:
            return f"{self.session_id} is on track: {self.summary}"
        text = f"{self.session_id} drifted: {self.summary}. Proposed correction: {self.correction!r}"
        return text + (" (queued for the agent by autopilot)" if self.sent else "")


def evidence(engine: Engine, session_id: str) -> str:
    s = engine.session(session_id)
    parts = [f"Task given to the agent:\n{s.prompt[:3000]}", f"Status: {s.status.value}, activity: "
             f"{s.activity.state.value} {s.activity.detail}".rstrip()]
    said = transcript_summary(engine, s, limit=6)
    if said:
        parts.append("The agent's last messages:\n" + said)
    try:
        parts.append("Its screen now:\n" + last_lines(engine.peek(session_id), 40))
    except AoError:
        pass
    return "\n\n".join(parts)


async def check_drift(engine: Engine, session_id: str, client: ModelClient | None = None,
                      *, autopilot: bool = False, notify: bool = False) -> DriftReport:
    """Ask the model whether the session drifted; record (and under autopilot send) the correction.
    With ``notify`` (the periodic checks), a correction left to the human is also a notification."""
    s = engine.session(session_id)
    text = await asyncio.to_thread(evidence, engine, session_id)
    client = client or ModelClient(engine.config.orchestrator.model, max_tokens=1024)
    reply = await client.stream(
        system=SYSTEM,
        messages=[{"role": "user", "content": text}],
        tools=[REPORT_TOOL],
        tool_choice={"type": "tool", "name": "report_drift"},
    )
    data = reply.tool_uses[0]["input"] if reply.tool_uses else {"on_track": True, "summary": reply.text[:200]}
    report = DriftReport(
        s.id, bool(data.get("on_track", True)), str(data.get("summary", "")).strip(),
        str(data.get("correction", "") or "").strip(),
    )
    sent = False
    if not report.on_track and report.correction and autopilot:
        engine.queue_message(s.id, report.correction, key=f"drift:{s.id}:{utcnow():%Y%m%d%H%M}")
        sent = True
    report = DriftReport(report.session_id, report.on_track, report.summary, report.correction, sent)
    engine.store.add_event(Event(session_id=s.id, kind="drift", data={
        "on_track": report.on_track, "summary": report.summary, "correction": report.correction, "sent": sent,
    }))
    if notify and not report.on_track and report.correction and not sent:
        engine.notify(f"{s.id} drifted from its task", f"{report.summary}. Proposed correction: {report.correction}",
                      session_id=s.id)
    return report


# -- periodic checks ------------------------------------------------------------

_running = threading.Lock()


def _retry_minutes(failures: int, interval: int) -> float:
    """How long after ``failures`` failed checks in a row the next one waits: 1, 2, 4… minutes, at most ``interval``."""
    return float(min(interval, 2 ** (failures - 1)))


def due_sessions(engine: Engine) -> list[str]:
    minutes = engine.config.orchestrator.drift_check_minutes
    if minutes <= 0:
        return []
    now = utcnow()
    cutoff = now - timedelta(minutes=minutes)
    due = []
    for s in engine.sessions(include_at_rest=False):
        if s.status not in CHECKABLE or s.created_at > cutoff:
            continue  # too young to judge
        checks = [e for e in engine.events(s.id, limit=50) if e.kind in ("drift", "drift_failed")]
        if checks and checks[-1].kind == "drift_failed":
            failures = 0
            for e in reversed(checks):
                if e.kind != "drift_failed":
                    break
                failures += 1
            if checks[-1].at > now - timedelta(minutes=_retry_minutes(failures, minutes)):
                continue  # backing off
        elif checks and checks[-1].at > cutoff:
            continue
        due.append(s.id)
    return due


def maybe_check(engine: Engine) -> bool:
    """Start the periodic checks that are due, in the background. True if started."""
    if engine.config.orchestrator.drift_check_minutes <= 0 or not has_api_key():
        return False
    due = due_sessions(engine)
    if not due or not _running.acquire(blocking=False):
        return False

    async def check_all() -> None:
        client = ModelClient(engine.config.orchestrator.model, max_tokens=1024)
        try:
            for session_id in due:
                try:
                    project = engine.session(session_id).project
                    await check_drift(engine, session_id, client, autopilot=autopilot_enabled(engine, project),
                                      notify=True)
                except Exception as exc:
                    error = " ".join(str(exc).split())[:300] or type(exc).__name__
                    log.warning("drift check of %s failed: %s", session_id, error)
                    try:  # recorded, so the next try waits (due_sessions backs off)
                        engine.store.add_event(Event(session_id=session_id, kind="drift_failed",
                                                     data={"error": error}))
                    except Exception:
                        log.exception("recording the failed drift check of %s", session_id)
        finally:
            await client.aclose()

    def run() -> None:
        try:
            asyncio.run(check_all())
        finally:
            _running.release()

    threading.Thread(target=run, name="ao-drift", daemon=True).start()
    return True
