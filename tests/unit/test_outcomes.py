"""Outcomes per session and the lessons the next agents are given."""

from __future__ import annotations

from datetime import timedelta

from ao_tui.models import Session, SessionStatus, Usage, utcnow
from ao_tui.outcomes import failing_tests_in, lessons_for, record_outcome, retrospective, summary
from ao_tui.prompts import session_rules
from ao_tui.slots.reaction import Trigger
from ao_tui.store import Store
from tests.unit.test_reaction_runner import RecordingHost, make_runner

LOG = "....F.\nFAILED tests/test_api.py::test_login - AssertionError\nERROR tests/test_db.py::test_migrate\n1 failed"


def add_session(store: Store, sid: str, **kw) -> Session:
    return store.insert_session(Session(id=sid, project="demo", branch=f"ao/{sid}", **kw))


def fail_ci(store: Store, sid: str, head: str, checks=("pytest -q",), log: str = LOG) -> None:
    runner = make_runner(store, RecordingHost(store))
    runner.ci_logs = lambda session, check: log
    runner.handle(Trigger("ci_failed", sid, f"{sid}:ci_failed:{head}",
                          {"head": head, "failed": list(checks), "check_ids": [f"{head}:{c}" for c in checks]}))


def review(store: Store, sid: str, *comments: tuple[str, str | None]) -> None:
    data = [{"id": f"{sid}-c{i}", "body": body, "path": path, "line": 1 if path else None}
            for i, (body, path) in enumerate(comments)]
    make_runner(store, RecordingHost(store)).handle(
        Trigger("changes_requested", sid, f"{sid}:changes_requested:x", {"comments": data}))


def test_failing_tests_are_read_from_pytest_summaries():
    assert failing_tests_in(LOG) == ["tests/test_api.py::test_login", "tests/test_db.py::test_migrate"]


def test_outcome_records_cycles_times_tokens_and_feedback(ao_store: Store):
    start = utcnow() - timedelta(hours=2)
    add_session(ao_store, "s-1", created_at=start)
    fail_ci(ao_store, "s-1", "a1")
    review(ao_store, "s-1", ("Please add tests for the error path", "app.py"))
    ao_store.transition("s-1", SessionStatus.WORKING)
    ao_store.transition("s-1", SessionStatus.PR_OPEN)
    session = ao_store.update("s-1", ci_cycles=1, review_rounds=1, pr_opened_at=start + timedelta(minutes=30),
                              merged_at=start + timedelta(minutes=90),
                              usage=Usage(input_tokens=1000, output_tokens=500, cost_usd=0.12))
    data = record_outcome(ao_store, session)
    assert data["time_to_pr_s"] == 1800.0 and data["time_to_merge_s"] == 5400.0
    assert data["tokens"] == 1500 and data["cost_usd"] == 0.12
    assert data["ci_cycles"] == 1 and data["review_rounds"] == 1
    assert data["failing_checks"] == ["pytest -q"]
    assert data["failing_tests"] == ["tests/test_api.py::test_login", "tests/test_db.py::test_migrate"]
    assert data["review_comments"] == [{"body": "Please add tests for the error path", "path": "app.py", "line": 1}]
    [stored] = ao_store.outcomes("demo")
    assert stored["session_id"] == "s-1" and stored["failing_checks"] == ["pytest -q"]
    record_outcome(ao_store, session)  # idempotent: still one outcome
    assert len(ao_store.outcomes("demo")) == 1


def test_retrospective_keeps_only_what_recurs(ao_store: Store):
    assert retrospective(ao_store, "demo") == []
    for sid in ("s-1", "s-2", "s-3"):
        add_session(ao_store, sid)
    fail_ci(ao_store, "s-1", "a1", checks=("pytest -q", "ruff check ."))
    fail_ci(ao_store, "s-1", "a2")  # twice in one session still counts once
    fail_ci(ao_store, "s-2", "b1", log="FAILED tests/test_api.py::test_login\n")
    fail_ci(ao_store, "s-3", "c1", checks=("mypy",), log="error: nope\n")
    review(ao_store, "s-1", ("Missing tests for this branch", "api.py"))
    review(ao_store, "s-2", ("Please add a test", "api.py"), ("Rename x to user_count", None))
    review(ao_store, "s-3", ("This is unrelated to the task, revert it", None))
    for sid in ("s-1", "s-2", "s-3"):
        record_outcome(ao_store, ao_store.get_session(sid))
    lessons = retrospective(ao_store, "demo")
    assert lessons == [
        "CI check `pytest -q` failed in 2 of the last 3 sessions: run it yourself and make it pass before saying READY.",
        "Review comments keep landing on `api.py` (2 sessions): follow its existing conventions closely.",
        "Reviewers raised tests in 2 sessions: add or update tests for every behaviour you change.",
        "The test `tests/test_api.py::test_login` failed in 2 sessions: read it before changing the code it covers.",
    ]
    assert not any("mypy" in x or "ruff" in x or "naming" in x or "scope" in x for x in lessons)
    assert retrospective(ao_store, "demo", max_lessons=1) == lessons[:1]
    assert lessons_for(ao_store, "demo") == lessons
    assert retrospective(ao_store, "other") == []
    rules = session_rules("ao/s-4", "Co-Authored-By: x", "", lessons_for(ao_store, "demo"))
    assert "Lessons from earlier sessions in this project:\n- CI check `pytest -q` failed" in rules
    stats = summary(ao_store, "demo")
    assert stats["sessions"] == 3 and stats["merged"] == 0
