"""Which backlog tasks are ready to start: the one rule autopilot, the fleet summary the chat reads and
the ``spawn`` reaction all use."""

from __future__ import annotations

from ao_tui.models import SessionStatus, Task

#: A session in one of these gives its task back: the task may be started again.
GIVES_TASK_BACK = frozenset({SessionStatus.KILLED})


def ready_tasks(tasks: list[Task], taken: set[str]) -> list[Task]:
    """The backlog tasks autopilot would start now, in backlog order: open, not ``taken`` by a
    session of the project (``Store.task_ids`` of every session but those that give it back), and every
    dependency done."""
    done = {t.id for t in tasks if t.status == "done"}
    return [t for t in tasks if t.status == "open" and t.id not in taken and all(d in done for d in t.depends_on)]
