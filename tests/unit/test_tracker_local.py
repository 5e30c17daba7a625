"""The local backlog file: what a user writes, what ao reads and writes back."""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import pytest
import yaml

from ao_tui.backlog import ready_tasks
from ao_tui.errors import ConfigError, NotFound
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.tracker_local import LocalTracker


def tracker(repo: Path, ao_home: Path, **options) -> LocalTracker:
    return LocalTracker(PluginContext(ao_home=ao_home, options={"repo": str(repo), **options}))


def test_missing_file_is_an_empty_backlog(git_repo: Path, ao_home: Path):
    t = tracker(git_repo, ao_home)
    assert t.list_tasks() == []
    assert not (git_repo / "backlog.yaml").exists()


def test_list_get_and_hide_done(git_repo: Path, ao_home: Path):
    (git_repo / "backlog.yaml").write_text(
        "- id: T-1\n  title: First\n  body: do it\n  labels: [small]\n"
        "- id: T-2\n  title: Second\n  depends_on: [T-1]\n"
        "- id: T-3\n  title: Old\n  status: done\n"
    )
    t = tracker(git_repo, ao_home)
    assert [x.id for x in t.list_tasks()] == ["T-1", "T-2"]
    assert [x.id for x in t.list_tasks(include_done=True)] == ["T-1", "T-2", "T-3"]
    task = t.get_task("T-2")
    assert task.title == "Second" and task.depends_on == ["T-1"]
    assert t.get_task("T-1").labels == ["small"]
    with pytest.raises(NotFound, match="T-9"):
        t.get_task("T-9")
    assert [x.id for x in ready_tasks(t.list_tasks(include_done=True), set())] == ["T-1"]  # T-2 waits on T-1


def test_create_assigns_ids_and_writes_atomically(git_repo: Path, ao_home: Path):
    t = tracker(git_repo, ao_home)
    a = t.create_task("Add a greeting", "Write hello.txt")
    b = t.create_task("Then a farewell", depends_on=[a.id])
    assert (a.id, b.id) == ("T-1", "T-2")
    data = yaml.safe_load((git_repo / "backlog.yaml").read_text())
    assert data[1] == {"id": "T-2", "title": "Then a farewell", "depends_on": ["T-1"], "status": "open"}
    with pytest.raises(NotFound):
        t.create_task("Orphan", depends_on=["T-7"])
    # nothing but the backlog itself shows up in git status (the lock lives in .git)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=git_repo, capture_output=True, text=True).stdout
    assert status.split() == ["??", "backlog.yaml"]


def test_hand_written_entries_without_id_get_stable_ids(git_repo: Path, ao_home: Path):
    (git_repo / "backlog.yaml").write_text("- id: T-4\n  title: Kept\n- title: New one\n- title: Another\n")
    t = tracker(git_repo, ao_home)
    assert [x.id for x in t.list_tasks()] == ["T-4", "T-5", "T-6"]
    # written back: a later hand-added task above them does not shift them
    text = (git_repo / "backlog.yaml").read_text()
    (git_repo / "backlog.yaml").write_text("- title: Urgent\n" + text)
    assert [x.id for x in t.list_tasks()] == ["T-7", "T-4", "T-5", "T-6"]


def test_set_status(git_repo: Path, ao_home: Path):
    t = tracker(git_repo, ao_home)
    task = t.create_task("Work")
    t.set_status(task.id, "in_progress")
    assert t.get_task(task.id).status == "in_progress"
    t.set_status(task.id, "done")
    assert t.list_tasks() == []
    with pytest.raises(NotFound):
        t.set_status("T-99", "done")
    with pytest.raises(Exception, match="unknown task status"):
        t.set_status(task.id, "finished")


@pytest.mark.parametrize(
    ("text", "line", "field", "problem"),
    [
        ("- id: T-1\n  title: ok\n- id: T-2\n  titel: typo\n", 4, "T-2.titel", "unknown key"),
        ("- id: T-1\n  title: ok\n  status: finished\n", 3, "T-1.status", "Input should be"),
        ("- id: T-1\n  title: a\n- id: T-1\n  title: b\n", 3, "T-1.id", "duplicate task id"),
        ("- id: T-1\n  title: a\n  depends_on: [T-5]\n", 3, "T-1.depends_on", "no task 'T-5'"),
        ("- id: T-1\n  title: [unclosed\n", 3, None, "invalid YAML"),
        ("tasks: 3\n", 1, None, "must be a list"),
        ("- id: T-1\n- id: T-2\n  title: x\n", 1, "T-1.title", "required key is missing"),
    ],
)
def test_malformed_backlog_names_file_line_and_field(git_repo: Path, ao_home: Path, text, line, field, problem):
    (git_repo / "backlog.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        tracker(git_repo, ao_home).list_tasks()
    err = info.value
    assert err.file.endswith("backlog.yaml") and err.line == line and err.field == field
    assert problem in err.problem
    assert "\n" not in str(err)


def _create_many(repo: str, home: str, prefix: str, n: int) -> None:
    t = LocalTracker(PluginContext(ao_home=Path(home), options={"repo": repo}))
    for i in range(n):
        t.create_task(f"{prefix} {i}")


def test_two_processes_creating_at_once_lose_nothing(git_repo: Path, ao_home: Path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_create_many, args=(str(git_repo), str(ao_home), p, 15)) for p in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    tasks = tracker(git_repo, ao_home).list_tasks()
    assert len(tasks) == 30
    assert sorted(int(x.id.split("-")[1]) for x in tasks) == list(range(1, 31))


def test_custom_file_option_and_project_config(git_repo: Path, ao_home: Path):
    from ao_tui.config import ProjectConfig

    (git_repo / "work").mkdir()
    ctx = PluginContext(ao_home=ao_home, project="demo", project_config=ProjectConfig(repo=git_repo),
                        options={"file": "work/tasks.yaml"})
    t = LocalTracker(ctx)
    t.create_task("Elsewhere")
    assert yaml.safe_load((git_repo / "work" / "tasks.yaml").read_text())[0]["title"] == "Elsewhere"
