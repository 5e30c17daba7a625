"""Which backlog tasks are ready to start: one rule, for autopilot, the fleet summary the chat reads and the
spawn reaction (the tasks taken are read by the store, ``Store.task_ids``)."""

from __future__ import annotations

from pathlib import Path

from ao_tui.backlog import GIVES_TASK_BACK, ready_tasks
from ao_tui.models import Session, SessionStatus, Task
from ao_tui.store import Store


def test_ready_means_open_untaken_and_every_dependency_done(tmp_path: Path) -> None:
    tasks = [Task(id="1", title="done", status="done"), Task(id="2", title="after 1", depends_on=["1"]),
             Task(id="3", title="after 2", depends_on=["2"]), Task(id="4", title="someone has it", status="in_progress"),
             Task(id="5", title="taken"), Task(id="6", title="given back"), Task(id="7", title="other project's"),
             Task(id="8", title="merged long ago")]
    store = Store(tmp_path / "ao.sqlite3")
    for session in [Session(id="s-1", project="app", task_id="5", status=SessionStatus.WORKING),
                    Session(id="s-2", project="app", task_id="6", status=SessionStatus.KILLED),
                    Session(id="s-3", project="web", task_id="7", status=SessionStatus.WORKING),
                    Session(id="s-4", project="app", task_id="8", status=SessionStatus.DONE),
                    Session(id="s-5", project="app", status=SessionStatus.WORKING)]:
        store.insert_session(session)
    taken = store.task_ids("app", except_status=GIVES_TASK_BACK)
    assert taken == {"5", "8"}  # a killed session gives its task back; a done one keeps it
    assert [t.id for t in ready_tasks(tasks, taken)] == ["2", "6", "7"]
