from __future__ import annotations

import threading

import pytest

from ao_tui.errors import NotFound, TransitionRefused
from ao_tui.models import Session, SessionStatus


def test_session_ids_are_sequential_and_never_reused(ao_store):
    ids = [ao_store.next_session_id("app") for _ in range(3)]
    assert ids == ["app-1", "app-2", "app-3"]


def test_transition_records_event_and_refuses_impossible(ao_store):
    ao_store.insert_session(Session(id="app-1", project="p"))
    s = ao_store.transition("app-1", SessionStatus.WORKING, reason="agent started")
    assert s.status is SessionStatus.WORKING
    kinds = [(e.kind, e.from_status, e.to_status) for e in ao_store.events("app-1")]
    assert ("status", "spawning", "working") in kinds
    ao_store.transition("app-1", SessionStatus.KILLED)
    with pytest.raises(TransitionRefused):
        ao_store.transition("app-1", SessionStatus.MERGED)
    assert ao_store.get_session("app-1").status is SessionStatus.KILLED


def test_unknown_session_is_a_clear_error(ao_store):
    with pytest.raises(NotFound, match="no session 'nope'"):
        ao_store.get_session("nope")


def test_claim_is_exactly_once_across_threads(ao_store):
    ao_store.insert_session(Session(id="app-1", project="p"))
    wins: list[bool] = []

    def race() -> None:
        from ao_tui.store import Store

        st = Store(ao_store.path)
        wins.append(st.claim("ci:run-42", "app-1", "ci_failed", "send_to_agent"))
        st.close()

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_outbox_keyed_messages_deduplicate(ao_store):
    assert ao_store.enqueue_message("app-1", "fix CI", key="k1") is not None
    assert ao_store.enqueue_message("app-1", "fix CI", key="k1") is None
    (msg,) = ao_store.pending_messages("app-1")
    assert ao_store.mark_delivered(msg["id"]) is True
    assert ao_store.mark_delivered(msg["id"]) is False
    assert ao_store.pending_messages("app-1") == []


def test_a_transition_decided_on_an_older_read_is_dropped(ao_store) -> None:
    """The engine saw a session working and its pane gone; meanwhile the human restored it."""
    from ao_tui.models import Session, SessionStatus

    ao_store.insert_session(Session(id="app-1", project="app", branch="ao/app-1", workspace="/tmp/w"))
    ao_store.transition("app-1", SessionStatus.WORKING)
    seen = ao_store.get_session("app-1")
    ao_store.transition("app-1", SessionStatus.KILLED)
    ao_store.transition("app-1", SessionStatus.SPAWNING, reason="restore")
    kept = ao_store.transition("app-1", SessionStatus.EXITED, reason="agent not running", only_from={seen.status})
    assert kept.status is SessionStatus.SPAWNING
    assert [e.to_status for e in ao_store.events("app-1") if e.kind == "status"][-1] == "spawning"


def test_a_json_setting_is_read_changed_and_written_in_one_transaction(ao_store) -> None:
    def add(n: int):
        return lambda data: {**data, str(n): n}

    threads = [threading.Thread(target=ao_store.update_json_setting, args=("counts", add(n), {})) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ao_store.update_json_setting("counts", lambda data: data, {}) == {str(n): n for n in range(8)}
    ao_store.set_setting("broken", "{not json")
    assert ao_store.update_json_setting("broken", lambda data: data, {}) == {}
    assert ao_store.get_setting("broken") == "{}"  # an unreadable value is replaced, not kept


def test_a_released_claim_may_be_taken_again(ao_store) -> None:
    assert ao_store.claim("task:1", "s-1", "spawn", "spawn")
    assert not ao_store.claim("task:1", "s-2", "spawn", "spawn")
    ao_store.release_claim("task:1")
    assert ao_store.claim("task:1", "s-2", "spawn", "spawn")


def test_the_engine_reads_sessions_at_rest_only_when_asked(ao_store) -> None:
    """The loop's passes read the live fleet only: done and killed sessions (weeks of them) are left out
    by the store; a time keeps those that came to rest since (a day's budget)."""
    from datetime import timedelta

    from ao_tui.models import utcnow

    for n, status in enumerate([SessionStatus.WORKING, SessionStatus.DONE, SessionStatus.KILLED,
                                SessionStatus.MERGED, SessionStatus.EXITED]):
        ao_store.insert_session(Session(id=f"app-{n}", project="app", status=status))
    ao_store.insert_session(Session(id="web-1", project="web", status=SessionStatus.WORKING))
    assert [s.id for s in ao_store.list_sessions()] == ["app-0", "app-1", "app-2", "app-3", "app-4", "web-1"]
    assert [s.id for s in ao_store.list_sessions(include_at_rest=False)] == ["app-0", "app-3", "app-4", "web-1"]
    assert [s.id for s in ao_store.list_sessions("app", include_at_rest=False)] == ["app-0", "app-3", "app-4"]
    assert ao_store.count_sessions({SessionStatus.DONE, SessionStatus.MERGED}) == 2
    later = utcnow() + timedelta(seconds=1)
    ao_store.insert_session(Session(id="app-9", project="app", status=SessionStatus.DONE,
                                    updated_at=later + timedelta(seconds=1)))
    assert [s.id for s in ao_store.list_sessions(include_at_rest=later)] == ["app-0", "app-3", "app-4", "web-1", "app-9"]


def test_a_screen_reads_the_newest_sessions_at_rest_and_finds_older_ones(ao_store) -> None:
    """``at_rest_limit`` keeps the most recently changed done and killed sessions only (of the project
    asked, changed since the time given); ``search_sessions`` finds an older one by id or by what its
    record says (a PR number, a title word), reading only those."""
    from datetime import UTC, datetime, timedelta

    from ao_tui.lifecycle import AT_REST
    from ao_tui.models import PullRequest

    day = datetime(2026, 11, 1, tzinfo=UTC)
    ao_store.insert_session(Session(id="app-1", project="app", status=SessionStatus.WORKING, updated_at=day))
    for n in range(2, 8):  # app-2 (oldest) .. app-7 (newest), web-8 newest of all
        ao_store.insert_session(Session(
            id=f"app-{n}", project="app", status=SessionStatus.DONE if n % 2 else SessionStatus.KILLED,
            task_title=f"Refactor step {n}", updated_at=day + timedelta(hours=n),
            pr=PullRequest(number=1100 + n) if n % 2 else None))
    ao_store.insert_session(Session(id="web-8", project="web", status=SessionStatus.DONE,
                                    updated_at=day + timedelta(hours=8)))

    def ids(**kwargs: object) -> list[str]:
        return sorted(s.id for s in ao_store.list_sessions(**kwargs))  # type: ignore[arg-type]

    assert ids(at_rest_limit=2) == ["app-1", "app-7", "web-8"]
    assert ids(project="app", at_rest_limit=2) == ["app-1", "app-6", "app-7"]
    assert ids(include_at_rest=day + timedelta(hours=6), at_rest_limit=5) == ["app-1", "app-6", "app-7", "web-8"]
    assert ids(include_at_rest=False, at_rest_limit=5) == ["app-1"]
    assert ids(at_rest_limit=0) == ["app-1"]

    assert [s.id for s in ao_store.search_sessions("app-3", AT_REST)] == ["app-3"]
    assert [s.id for s in ao_store.search_sessions("1105", AT_REST)] == ["app-5"]
    assert [s.id for s in ao_store.search_sessions("REFACTOR", AT_REST, limit=2)] == ["app-7", "app-6"]
    assert ao_store.search_sessions("app-1", AT_REST) == []  # live: the screens have it already
    assert ao_store.search_sessions("100%", AT_REST) == []  # a LIKE wildcard is a plain character
    # A PR number: that PR first, however many newer records mention the digits (times, costs).
    for n in range(20):
        ao_store.insert_session(Session(id=f"web-{20 + n}", project="web", status=SessionStatus.DONE,
                                        task_title=f"Mentions 1103 in its title {n}",
                                        updated_at=day + timedelta(days=1, hours=n)))
    assert [s.id for s in ao_store.search_sessions("1103", AT_REST, limit=3)][0] == "app-3"


def test_a_new_sessions_lessons_read_the_newest_outcomes_only(ao_store) -> None:
    """The lessons given to every new session come from the project's last outcomes: the store hands
    over the newest N written (an outcome written again counts as new), not the whole history."""
    for n in range(25):
        ao_store.put_outcome(f"app-{n}", "app", {"n": n})
    ao_store.put_outcome("web-1", "web", {"n": 99})
    assert [o["n"] for o in ao_store.outcomes("app", newest=3)] == [24, 23, 22]
    ao_store.put_outcome("app-2", "app", {"n": 2})
    assert [o["n"] for o in ao_store.outcomes("app", newest=3)] == [2, 24, 23]
    assert len(ao_store.outcomes("app")) == 25 and len(ao_store.outcomes()) == 26
