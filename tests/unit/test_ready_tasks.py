"""Which backlog tasks are ready to start: one rule, for autopilot, the fleet summary the chat reads and the
spawn reaction."""

from __future__ import annotations

from ao_tui.backlog import GIVES_TASK_BACK, ready_tasks, taken_tasks
from ao_tui.models import Session, SessionStatus, Task


def test_ready_means_open_untaken_and_every_dependency_done() -> None:
    tasks = [Task(id="1", title="done", status="done"), Task(id="2", title="after 1", depends_on=["1"]),
             Task(id="3", title="after 2", depends_on=["2"]), Task(id="4", title="someone has it", status="in_progress"),
             Task(id="5", title="taken"), Task(id="6", title="given back"), Task(id="7", title="other project's")]
    sessions = [Session(id="s-1", project="app", task_id="5", status=SessionStatus.WORKING),
                Session(id="s-2", project="app", task_id="6", status=SessionStatus.KILLED),
                Session(id="s-3", project="web", task_id="7", status=SessionStatus.WORKING)]
    assert [t.id for t in ready_tasks(tasks, taken_tasks(sessions, "app"))] == ["2", "6", "7"]


def test_the_store_reads_the_same_taken_tasks(tmp_path) -> None:
    """What autopilot and the spawn reaction read from the store (no session parsed) is the same rule."""
    from ao_tui.store import Store

    store = Store(tmp_path / "ao.sqlite3")
    sessions = [Session(id=f"s-{n}", project=project, task_id=task, status=status) for n, (project, task, status) in
                enumerate([("app", "5", SessionStatus.WORKING), ("app", "6", SessionStatus.KILLED),
                           ("app", "8", SessionStatus.DONE), ("app", None, SessionStatus.WORKING),
                           ("web", "7", SessionStatus.WORKING)])]
    for s in sessions:
        store.insert_session(s)
    assert store.task_ids("app", except_status=GIVES_TASK_BACK) == taken_tasks(sessions, "app") == {"5", "8"}
