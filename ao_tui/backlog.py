"""Which backlog tasks are ready to start: the one rule autopilot, the fleet summary the chat reads and
the ``spawn`` reaction all use."""

from __future__ import annotations

from ao_tui.models import Session, SessionStatus, Task


def ready_tasks(tasks: list[Task], sessions: list[Session], project: str) -> list[Task]:
    """The backlog tasks autopilot would start now, in backlog order: open, not taken by a session of the
    project (a killed one gives its task back), and every dependency done."""
    done = {t.id for t in tasks if t.status == "done"}
    taken = {s.task_id for s in sessions if s.task_id and s.project == project and s.status is not SessionStatus.KILLED}
    return [t for t in tasks if t.status == "open" and t.id not in taken and all(d in done for d in t.depends_on)]
