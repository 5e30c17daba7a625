"""Autopilot: keep up to N sessions busy from the backlog, per project.

Off unless a project's config says ``autopilot: true`` (``ao autopilot on|off``
overrides it per project with ``set_autopilot``, kept in the store). The engine loop
calls ``Autopilot.run`` on every pass (a hook ``loop_hooks.leader_loop`` adds); it is
cheap when there is nothing to do, spawns each task exactly once (a store claim),
and never raises: one part failing does not stop the others, and each failure is
in the report's ``errors`` (the hook raises them, so the human hears of them).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ao_tui import lifecycle
from ao_tui.backlog import GIVES_TASK_BACK, ready_tasks
from ao_tui.errors import AoError
from ao_tui.models import Session, SessionStatus
from ao_tui.orchestrator import decompose, drift
from ao_tui.orchestrator.context import autopilot_enabled, cached_backlog

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.orchestrator")


def busy(session: Session) -> bool:
    """A session that occupies an autopilot slot: its agent is alive and its work not merged."""
    return lifecycle.has_live_agent(session.status) and session.status is not SessionStatus.ERRORED


#: Seconds between two looks at the tracker (it may be GitHub) when nothing merged; also
#: how long a task whose spawn failed waits before autopilot tries it again.
RECHECK_SECONDS = 20.0


@dataclass
class AutopilotReport:
    released: list[Session] = field(default_factory=list)  # plan tasks whose dependencies merged
    autopilot: list[Session] = field(default_factory=list)
    drift_started: bool = False
    errors: list[str] = field(default_factory=list)  # the parts that failed: "what: error"


class Autopilot:
    """The orchestrator's background work for one engine, with what it remembers between passes:
    when each part last ran (and how many sessions had merged then), and which tasks' spawns failed
    a moment ago. The leader's loop owns one (``loop_hooks.leader_loop``) and calls its ``run`` on every pass."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.last_run: dict[str, tuple[float, int]] = {}  # part -> (when, sessions merged then)
        self.deferred: dict[tuple[str, str], float] = {}  # (project, task id) -> when its spawn failed

    def fill(self, project: str) -> list[Session]:
        """Spawn ready backlog tasks until the project has N busy sessions."""
        engine = self.engine
        limit = engine.config.orchestrator.autopilot_max_sessions
        sessions = engine.sessions(project, include_at_rest=False)  # a busy one is never at rest
        free = limit - sum(1 for s in sessions if busy(s))
        # The project's own cap counts every live agent (errored ones too): spawning past it only fails.
        free = min(free, engine.project_config(project).max_sessions
                   - sum(1 for s in sessions if lifecycle.has_live_agent(s.status)))
        if free <= 0:
            return []
        ready = ready_tasks(cached_backlog(engine, project), engine.store.task_ids(project, except_status=GIVES_TASK_BACK))
        spawned: list[Session] = []
        now = time.monotonic()
        for task in ready:
            if len(spawned) >= free:
                break
            failed_at = self.deferred.get((project, task.id))
            if failed_at is not None and now - failed_at < RECHECK_SECONDS:
                continue  # failed a moment ago: not on every pass
            try:
                session = decompose.spawn_task(engine, project, task.id, "autopilot")
            except decompose.SpawnDeferred as exc:  # nothing was made: the task stays in the backlog
                self.deferred[(project, task.id)] = now
                log.warning("autopilot could not spawn %s (tries again later): %s", task.id, exc)
                continue
            except AoError as exc:
                log.warning("autopilot could not spawn %s: %s", task.id, exc)
                continue
            if session is not None:  # None: claimed before (e.g. spawned, then killed by the human)
                spawned.append(session)
        return spawned

    def _due(self, what: str, force: bool) -> bool:
        """Whether ``what`` should run now: forced, a session merged since, or enough time passed."""
        merged = self.engine.store.count_sessions({SessionStatus.MERGED, SessionStatus.DONE})
        last = self.last_run.get(what)
        now = time.monotonic()
        if force or last is None or last[1] != merged or now - last[0] >= RECHECK_SECONDS:
            self.last_run[what] = (now, merged)
            return True
        return False

    def run(self, *, force: bool = False) -> AutopilotReport:
        """One pass of the orchestrator's background work; called by the engine loop.

        Cheap when there is nothing to do: the tracker is read again only when a
        session merged, a slot freed, or ``RECHECK_SECONDS`` passed (``force``
        skips the wait).
        """
        engine = self.engine
        report = AutopilotReport()
        try:
            if decompose.waiting_tasks(engine) and self._due("release", force):
                report.released = decompose.release_ready(engine)
        except Exception as exc:
            log.exception("releasing waiting tasks failed")
            report.errors.append(f"releasing waiting tasks: {_said(exc)}")
        for project in engine.config.projects:
            try:
                if autopilot_enabled(engine, project):
                    report.autopilot.extend(self.fill(project))
            except Exception as exc:
                log.exception("autopilot for %s failed", project)
                report.errors.append(f"autopilot for {project}: {_said(exc)}")
        try:
            if engine.config.orchestrator.drift_check_minutes > 0 and self._due("drift", force):
                report.drift_started = drift.maybe_check(engine)
        except Exception as exc:
            log.exception("drift checks failed")
            report.errors.append(f"drift checks: {_said(exc)}")
        return report


def _said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
