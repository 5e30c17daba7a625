"""Decomposition: a feature becomes tasks with dependencies.

The model proposes a ``Plan`` (tasks with plan-local keys and the keys they
depend on). Once the human approves it, ``apply_plan`` writes the tasks into
the project's tracker, spawns the ones with no dependencies at once, and
records the others as *waiting*; ``release_ready`` (called from the engine
loop through ``autopilot.Autopilot.run``) spawns each waiting task when every task it
depends on is done, which the engine marks when a PR merges (by ao, or found
merged by the engine loop). A spawn that fails before making a session (the
project's ``max_sessions`` reached, say) leaves the task waiting, to be tried
again on a later pass; a task is never spawned twice (a store claim).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ao_tui.errors import AoError, NotFound
from ao_tui.models import Session, SessionStatus, Task

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.orchestrator")

WAITING_KEY = "orchestrator.waiting_tasks"


@dataclass(frozen=True)
class PlanTask:
    key: str
    title: str
    body: str = ""
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    project: str
    goal: str
    tasks: tuple[PlanTask, ...]

    def independent(self) -> list[PlanTask]:
        return [t for t in self.tasks if not t.depends_on]

    def describe(self) -> list[str]:
        """Exactly what approving will do, one line a task."""
        lines = []
        for n, task in enumerate(self.tasks, 1):
            after = f" — after {', '.join(task.depends_on)}" if task.depends_on else " — starts now"
            lines.append(f"{n}. [{task.key}] {task.title}{after}")
        return lines


@dataclass
class PlanResult:
    tasks: dict[str, Task] = field(default_factory=dict)  # plan key -> created task
    spawned: list[Session] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # task ids spawned later
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"created {len(self.tasks)} tasks: " + ", ".join(f"{k}={t.id}" for k, t in self.tasks.items())]
        if self.spawned:
            parts.append("spawned " + ", ".join(f"{s.id} ({s.task_id})" for s in self.spawned))
        if self.waiting:
            parts.append("waiting for dependencies: " + ", ".join(self.waiting))
        if self.errors:
            parts.append("errors: " + "; ".join(self.errors))
        return "; ".join(parts)


def parse_plan(data: dict[str, Any], default_project: str) -> Plan:
    """Validate a proposed plan: unique keys, known dependencies, no cycles."""
    raw_tasks = data.get("tasks") or []
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise AoError("a plan needs at least one task")
    tasks: list[PlanTask] = []
    seen: set[str] = set()
    for n, raw in enumerate(raw_tasks, 1):
        if not isinstance(raw, dict) or not str(raw.get("title", "")).strip():
            raise AoError(f"plan task {n} has no title")
        key = str(raw.get("key") or n).strip()
        if key in seen:
            raise AoError(f"plan task key {key!r} is used twice")
        seen.add(key)
        deps = tuple(str(d).strip() for d in raw.get("depends_on") or [])
        tasks.append(PlanTask(key, str(raw["title"]).strip(), str(raw.get("body", "")).strip(), deps))
    for task in tasks:
        unknown = [d for d in task.depends_on if d not in seen]
        if unknown:
            raise AoError(f"plan task {task.key!r} depends on unknown task {unknown[0]!r}")
    ordered = topological(tasks)
    return Plan(str(data.get("project") or default_project), str(data.get("goal", "")).strip(), tuple(ordered))


def topological(tasks: list[PlanTask]) -> list[PlanTask]:
    by_key = {t.key: t for t in tasks}
    done: list[PlanTask] = []
    state: dict[str, int] = {}

    def visit(task: PlanTask, trail: tuple[str, ...]) -> None:
        if state.get(task.key) == 2:
            return
        if state.get(task.key) == 1:
            raise AoError("the plan has a dependency cycle: " + " -> ".join((*trail, task.key)))
        state[task.key] = 1
        for dep in task.depends_on:
            visit(by_key[dep], (*trail, task.key))
        state[task.key] = 2
        done.append(task)

    for task in tasks:
        visit(task, ())
    return done


# -- waiting tasks, kept in the store -------------------------------------------


def _update_waiting(engine: Engine, change: Any) -> list[dict[str, str]]:
    waiting: list[dict[str, str]] = engine.store.update_json_setting(WAITING_KEY, change, [])
    return waiting


def waiting_tasks(engine: Engine) -> list[dict[str, str]]:
    value = engine.store.get_setting(WAITING_KEY)
    return json.loads(value) if value else []


class SpawnDeferred(AoError):
    """A spawn that failed before any session was made (e.g. ``max_sessions`` reached): the
    task's claim was given back, so a later attempt may start it."""


def _release_claim(engine: Engine, key: str) -> None:
    engine.store.release_claim(key)


def spawn_task(engine: Engine, project: str, task_id: str, origin: str) -> Session | None:
    """Spawn a session for a task exactly once, whoever asks and however often.

    Returns None when the task was claimed before. A spawn that fails before any
    session exists gives the claim back and raises ``SpawnDeferred`` (try again
    later); one that made a session (which then errored) keeps the claim, so the
    task is never spawned twice: that session is there to restore.
    """
    key = f"spawn-task:{project}:{task_id}"
    if not engine.store.claim(key, "orchestrator", origin, "spawn"):
        return None
    before = {s.id for s in engine.sessions(project) if s.task_id == task_id}
    try:
        return engine.spawn(project, task_id=task_id)
    except Exception as exc:
        made = any(s.task_id == task_id and s.id not in before for s in engine.sessions(project))
        if made:
            raise
        _release_claim(engine, key)
        raise SpawnDeferred(str(exc)) from exc


def apply_plan(engine: Engine, plan: Plan) -> PlanResult:
    """Create every task, spawn the independent ones, remember the rest."""
    result = PlanResult()
    tracker = engine.tracker(plan.project)
    for task in plan.tasks:  # topological order: dependencies exist first
        deps = [result.tasks[d].id for d in task.depends_on]
        body = task.body
        if plan.goal:
            body = f"{body}\n\nPart of: {plan.goal}".strip()
        result.tasks[task.key] = tracker.create_task(task.title, body, deps)
    from ao_tui.orchestrator.context import forget_backlog

    forget_backlog(engine)
    later = [
        {"project": plan.project, "task_id": result.tasks[t.key].id} for t in plan.tasks if t.depends_on
    ]
    if later:
        _update_waiting(engine, lambda waiting: waiting + later)
        result.waiting = [w["task_id"] for w in later]
    deferred = []
    for task in plan.independent():
        task_id = result.tasks[task.key].id
        try:
            session = spawn_task(engine, plan.project, task_id, "plan")
            if session is not None:
                result.spawned.append(session)
        except SpawnDeferred as exc:  # not started: it waits, and starts when a slot frees
            deferred.append({"project": plan.project, "task_id": task_id})
            result.errors.append(f"{task_id}: {exc} (it starts later)")
        except Exception as exc:
            result.errors.append(f"{task_id}: {exc}")
    if deferred:
        _update_waiting(engine, lambda waiting: waiting + [d for d in deferred if d not in waiting])
        result.waiting += [d["task_id"] for d in deferred]
    return result


def _is_done(engine: Engine, project: str, task_id: str) -> bool:
    try:
        return engine.tracker(project).get_task(task_id).status == "done"
    except NotFound:
        return True  # a dependency that vanished blocks nothing


def release_ready(engine: Engine) -> list[Session]:
    """Spawn each waiting task whose dependencies are all done."""
    spawned: list[Session] = []
    for item in waiting_tasks(engine):
        project, task_id = item["project"], item["task_id"]
        try:
            task = engine.tracker(project).get_task(task_id)
        except NotFound:
            _update_waiting(engine, lambda w, i=item: [x for x in w if x != i])
            continue
        except Exception as exc:
            log.warning("cannot read task %s: %s", task_id, exc)
            continue
        started = any(s.task_id == task_id and s.status is not SessionStatus.KILLED for s in engine.sessions(project))
        if task.status == "done" or started:  # finished, or started by hand meanwhile
            _update_waiting(engine, lambda w, i=item: [x for x in w if x != i])
            continue
        if not all(_is_done(engine, project, d) for d in task.depends_on):
            continue
        try:
            session = spawn_task(engine, project, task_id, "dependencies merged")
        except SpawnDeferred as exc:  # stays waiting: tried again on a later pass
            log.info("spawning %s deferred: %s", task_id, exc)
            continue
        except Exception as exc:  # a session was made and errored: the human restores it
            log.warning("spawning %s failed: %s", task_id, exc)
        else:
            if session is not None:
                spawned.append(session)
        # Spawned, errored, or spawned before (claimed): in every case it waits no more.
        _update_waiting(engine, lambda w, i=item: [x for x in w if x != i])
    return spawned
