"""Which backlog tasks are ready to start: one rule, for autopilot, the fleet summary the chat reads and the
spawn reaction."""

from __future__ import annotations

from ao_tui.backlog import ready_tasks
from ao_tui.models import Session, SessionStatus, Task


def test_ready_means_open_untaken_and_every_dependency_done() -> None:
    tasks = [Task(id="1", title="done", status="done"), Task(id="2", title="after 1", depends_on=["1"]),
             Task(id="3", title="after 2", depends_on=["2"]), Task(id="4", title="someone has it", status="in_progress"),
             Task(id="5", title="taken"), Task(id="6", title="given back"), Task(id="7", title="other project's")]
    sessions = [Session(id="s-1", project="app", task_id="5", status=SessionStatus.WORKING),
                Session(id="s-2", project="app", task_id="6", status=SessionStatus.KILLED),
                Session(id="s-3", project="web", task_id="7", status=SessionStatus.WORKING)]
    assert [t.id for t in ready_tasks(tasks, sessions, "app")] == ["2", "6", "7"]
