"""Decomposition: a feature becomes tasks with dependencies.

The model proposes a ``Plan`` (tasks with plan-local keys and the keys they
depend on). Once the human approves it, ``apply_plan`` writes the tasks into
the project's tracker, spawns the ones with no dependencies at once, and
records the others as *waiting*; ``release_ready`` (called from the engine
loop through ``autopilot.tick``) spawns each waiting task when every task it
depends on is done, which the engine marks when a PR merges.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ao_tui.errors import AoError, NotFound
from ao_tui.models import Session, Task

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
    with engine.store.transaction() as conn:
        row = conn.execute("SELECT value FROM settings WHERE key=?", (WAITING_KEY,)).fetchone()
        waiting = json.loads(row["value"]) if row else []
        waiting = change(waiting)
        conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES(?,?)", (WAITING_KEY, json.dumps(waiting)))
    return waiting


def waiting_tasks(engine: Engine) -> list[dict[str, str]]:
    value = engine.store.get_setting(WAITING_KEY)
    return json.loads(value) if value else []


def spawn_task(engine: Engine, project: str, task_id: str, origin: str) -> Session | None:
    """Spawn a session for a task exactly once, whoever asks and however often."""
    if not engine.store.claim(f"spawn-task:{project}:{task_id}", "orchestrator", origin, "spawn"):
        return None
    return engine.spawn(project, task_id=task_id)


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
    for task in plan.independent():
        task_id = result.tasks[task.key].id
        try:
            session = spawn_task(engine, plan.project, task_id, "plan")
            if session is not None:
                result.spawned.append(session)
        except AoError as exc:
            result.errors.append(f"{task_id}: {exc}")
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
        if task.status == "done" or not all(_is_done(engine, project, d) for d in task.depends_on):
            if task.status == "done":
                _update_waiting(engine, lambda w, i=item: [x for x in w if x != i])
            continue
        _update_waiting(engine, lambda w, i=item: [x for x in w if x != i])
        try:
            session = spawn_task(engine, project, task_id, "dependencies merged")
        except AoError as exc:
            log.warning("spawning %s failed: %s", task_id, exc)
            continue
        if session is not None:
            spawned.append(session)
    return spawned
