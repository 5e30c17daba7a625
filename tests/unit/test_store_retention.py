"""The store stays bounded: old events and old sessions at rest move to the archive; claims and outcomes
stay while they matter; the store keys check."""

from __future__ import annotations

import errno
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.errors import ConfigError
from ao_tui.fleet_stats import fleet_stats
from ao_tui.models import Event, Session, SessionStatus, utcnow
from ao_tui.outcomes import summary
from ao_tui.store import Store
from ao_tui.store_health import header_problem, is_no_space
from ao_tui.store_recovery import adopt, find_orphans
from ao_tui.store_retention import AtRestCheck, archive_dir, prune, prune_sessions
from tests.support.gitrepo import git, make_repo


def test_old_events_and_a_sessions_oldest_beyond_the_cap_move_to_the_archive(tmp_path: Path) -> None:
    store = Store(tmp_path / "ao.sqlite3")
    for sid in ("a-1", "a-2", "a-3"):
        store.insert_session(Session(id=sid, project="demo"))  # each adds its "created" event
    store.delete_session("a-3")  # gone: its history goes to the archive
    old = utcnow() - timedelta(days=40)
    for i in range(5):
        store.add_event(Event(session_id="a-1", kind="old", at=old, data={"i": i}))
    for i in range(150):
        store.add_event(Event(session_id="a-2", kind="chatty", data={"i": i}))
    store.claim("a-1:ci_failed:x", "a-1", "ci_failed", "send_to_agent")
    store.claim("a-3:ci_failed:y", "a-3", "ci_failed", "send_to_agent")
    store.set_claim_state("a-3:ci_failed:y", "done")
    for sid in ("a-1", "a-3"):  # the engine's claim that the session's task was closed (Engine.close_task)
        store.claim(f"{sid}:task_done", "engine", "pr_merged", "task_done")
        store.set_claim_state(f"{sid}:task_done", "done")
    store.claim("engine:budget", "engine", "budget", "notify")  # another of the engine's own: kept
    store.set_claim_state("engine:budget", "done")
    store.enqueue_message("a-1", "typed long ago", key="k")

    moved = prune(store, keep_days=30, keep_per_session=100)

    assert moved == 5 + 51 + 1 + 2  # events, and the deleted session's settled claims (its own, the engine's)
    assert [e.data["i"] for e in store.events("a-2", limit=1000)] == list(range(50, 150))
    assert [e.kind for e in store.events("a-1")] == ["created"]
    assert store.events("a-3") == []
    assert {c["key"] for c in store.claims()} == {"a-1:ci_failed:x", "a-1:task_done", "engine:budget"}
    claims_archive = next(archive_dir(store).glob("claims-*.jsonl")).read_text()
    assert "a-3:ci_failed:y" in claims_archive and "a-3:task_done" in claims_archive
    archived = [json.loads(line) for f in sorted(archive_dir(store).glob("events-*.jsonl"))
                for line in f.read_text().splitlines()]
    assert len(archived) == 57
    assert {a["kind"] for a in archived} == {"old", "chatty", "created"}
    assert prune(store, keep_days=30, keep_per_session=100) == 0


def test_what_counts_as_no_space_and_what_a_header_says(tmp_path: Path) -> None:
    assert is_no_space(OSError(errno.ENOSPC, "No space left on device"))
    assert is_no_space(OSError(errno.EFBIG, "File too large"))
    assert not is_no_space(OSError(errno.ENOENT, "No such file"))
    assert header_problem(tmp_path / "missing") is None
    (tmp_path / "empty").write_bytes(b"")
    assert header_problem(tmp_path / "empty") is None
    (tmp_path / "text").write_text("hello")
    assert header_problem(tmp_path / "text") == "it is not an SQLite database"
    Store(tmp_path / "real.sqlite3").close()
    assert header_problem(tmp_path / "real.sqlite3") is None
    (tmp_path / "short").write_bytes((tmp_path / "real.sqlite3").read_bytes()[:5000])
    assert "cut short" in (header_problem(tmp_path / "short") or "")


def test_store_keys_are_checked_with_a_line_number(tmp_path: Path) -> None:
    text = "projects: {}\nstore:\n  backup_every: soon\n"
    with pytest.raises(ConfigError, match=r":3: store.backup_every: not a duration"):
        parse_config(text, str(tmp_path / "ao.config.yaml"))
    config = parse_config("store:\n  keep_backups: 3\n", str(tmp_path / "ao.config.yaml"))
    assert config.store.keep_backups == 3 and config.store.backup_every == "6h"


def test_merge_predictions_no_branch_pair_uses_are_dropped_after_an_hour(tmp_path: Path) -> None:
    """Every commit of every live branch stores a prediction against each other branch: without this
    the store grew for ever (4.6 -> 8.1 MB in a 14-minute soak of 621 sessions)."""
    store = Store(tmp_path / "ao.sqlite3")
    store.put_prediction("b" * 40, "a" * 40, ["x.py"], [])  # the pair's current heads: kept
    store.set_branch_pair("demo", "ao/one", "ao/two", "a" * 40, "b" * 40, "ao/two")
    store.put_prediction("c" * 40, "d" * 40, ["old.py"], [])  # heads long moved on
    store.put_prediction("e" * 40, "f" * 40, ["new.py"], [])  # just computed, not paired yet: kept
    with store.transaction() as tx:  # computed two hours ago
        tx.execute("UPDATE merge_predictions SET computed_at=? WHERE a_sha<>?",
                   ((utcnow() - timedelta(hours=2)).isoformat(), "e" * 40))

    prune(store, keep_days=30, keep_per_session=100)

    assert (store.get_prediction("a" * 40, "b" * 40) or {}).get("files") == ["x.py"]
    assert store.get_prediction("c" * 40, "d" * 40) is None
    assert store.get_prediction("e" * 40, "f" * 40) is not None
    assert [p["files"] for p in store.branch_pairs("demo")] == [["x.py"]]


# -- sessions at rest (store.keep_finished_days) ------------------------------------------------


def _engine_with_fleet(ao_home: Path, tmp_path: Path) -> Engine:
    """A project on a real repo with a fleet in every state the policy tells apart."""
    repo = make_repo(tmp_path)
    engine = Engine(parse_config(f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n"
                                 "    notifiers: []\n", str(tmp_path / "ao.config.yaml")), store=Store(ao_home / "ao.sqlite3"))
    workspaces = ao_home / "workspaces" / "demo"
    for n, status, host in ((1, SessionStatus.WORKING, "local"), (2, SessionStatus.KILLED, "local"),
                            (3, SessionStatus.KILLED, "local"), (4, SessionStatus.KILLED, "local"),
                            (5, SessionStatus.KILLED, "local"), (6, SessionStatus.KILLED, "local"),
                            (7, SessionStatus.KILLED, "build-1")):
        sid = f"dm-{n}"
        engine.store.insert_session(Session(id=sid, project="demo", task_title=f"task {n}", branch=f"ao/{sid}",
                                            workspace=str(workspaces / sid), runtime_handle=sid, host=host))
        engine.store.transition(sid, SessionStatus.WORKING)
        if status is not SessionStatus.WORKING:
            engine.store.transition(sid, status, reason="killed by the human")
        folder = ao_home / "sessions" / sid
        folder.mkdir(parents=True)
        (folder / "hook-events.jsonl").write_text('{"event": "Stop"}\n')
    engine.store.transition("dm-3", SessionStatus.DONE, reason="merged; workspace removed")
    engine.store.put_outcome("dm-3", "demo", {"ci_cycles": 2, "failing_checks": ["lint"], "recorded_at": "x"})
    engine.store.claim("dm-3:ci_failed:1", "dm-3", "ci_failed", "send_to_agent")
    engine.store.set_claim_state("dm-3:ci_failed:1", "done")
    (workspaces / "dm-4").mkdir(parents=True)  # killed, its worktree (maybe the only copy of its work) still there
    git(repo, "branch", "ao/dm-5")  # killed, its branch holds work main does not have
    git(repo, "checkout", "-q", "ao/dm-5")
    (repo / "work.py").write_text("print('only here')\n")
    git(repo, "add", "work.py")
    git(repo, "commit", "-q", "-m", "unmerged work")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "ao/dm-6")  # killed, its branch adds nothing to main: it may go
    with engine.store.transaction() as tx:  # every one but dm-2 last changed 40 days ago
        old = (utcnow() - timedelta(days=40)).isoformat()
        tx.execute("UPDATE sessions SET updated_at=?, data=json_set(data, '$.updated_at', ?) WHERE id<>'dm-2'",
                   (old, old))
    return engine


def _archived_sessions(store: Store) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(archive_dir(store).glob("sessions-*.jsonl"))
            for line in f.read_text().splitlines() if line.startswith("{") and line.endswith("}")]


def test_old_sessions_at_rest_move_to_the_archive_and_nothing_with_work_left_does(ao_home: Path, tmp_path: Path) -> None:
    engine = _engine_with_fleet(ao_home, tmp_path)
    store = engine.store

    gone = prune_sessions(store, keep_days=30, kept=AtRestCheck(engine))

    assert sorted(gone) == ["dm-3", "dm-6"]
    # live; at rest but recent; worktree on disk; unmerged branch; on an SSH host: all kept
    assert [s.id for s in store.list_sessions()] == ["dm-1", "dm-2", "dm-4", "dm-5", "dm-7"]
    archived = {a["id"]: a for a in _archived_sessions(store)}
    assert set(archived) == {"dm-3", "dm-6"}
    assert archived["dm-3"]["status"] == "done" and archived["dm-3"]["data"]["task_title"] == "task 3"
    assert Session.model_validate(archived["dm-6"]["data"]).status is SessionStatus.KILLED
    assert not (ao_home / "sessions" / "dm-3").exists() and not (ao_home / "sessions" / "dm-6").exists()
    assert (ao_home / "sessions" / "dm-4" / "hook-events.jsonl").exists()
    # the outcome stays (learning and `ao retro` read it); the events and claims follow as a deleted session's
    assert [o["session_id"] for o in store.outcomes("demo")] == ["dm-3"]
    assert summary(store, "demo")["sessions"] == 1
    fleet_stats(store, "demo")
    prune(store, keep_days=30, keep_per_session=2000)
    assert store.events("dm-3") == [] and store.claims("dm-3") == []
    # recovery finds nothing left of them to adopt or list
    assert not {"dm-3", "dm-6"} & set(find_orphans(engine).ids)
    assert not [line for line in adopt(engine) if "dm-3" in line or "dm-6" in line]  # `ao store recover`
    assert {"dm-3", "dm-6"}.isdisjoint(s.id for s in store.list_sessions())
    # nothing more goes on the next pass; with 0 nothing ever goes
    assert prune_sessions(store, keep_days=30, kept=AtRestCheck(engine)) == []
    assert len(_archived_sessions(store)) == 2
    with store.transaction() as tx:
        tx.execute("UPDATE sessions SET updated_at='2000-01-01T00:00:00+00:00' WHERE id='dm-2'")
    assert prune_sessions(store, keep_days=0, kept=AtRestCheck(engine)) == []


def test_a_crash_between_the_archive_and_the_delete_loses_nothing_and_writes_nothing_twice(
        ao_home: Path, tmp_path: Path) -> None:
    engine = _engine_with_fleet(ao_home, tmp_path)
    store = engine.store
    store._conn().execute("PRAGMA busy_timeout=200")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the store: the delete after the archive fails
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        prune_sessions(store, keep_days=30, kept=AtRestCheck(engine))
    other.execute("ROLLBACK")
    other.close()
    assert {a["id"] for a in _archived_sessions(store)} == {"dm-3", "dm-6"}
    assert {"dm-3", "dm-6"} <= {s.id for s in store.list_sessions()}  # both still in the store
    assert (ao_home / "sessions" / "dm-3").is_dir()
    archive = next(archive_dir(store).glob("sessions-*.jsonl"))
    with archive.open("a") as f:
        f.write('{"id": "dm-9", "upd')  # and a line a crash cut short

    assert sorted(prune_sessions(store, keep_days=30, kept=AtRestCheck(engine))) == ["dm-3", "dm-6"]

    assert sorted(a["id"] for a in _archived_sessions(store)) == ["dm-3", "dm-6"]  # once each
    assert not (ao_home / "sessions" / "dm-3").exists()
    assert [s.id for s in store.list_sessions()] == ["dm-1", "dm-2", "dm-4", "dm-5", "dm-7"]


def test_a_session_restored_after_it_was_read_is_not_deleted(ao_home: Path, tmp_path: Path) -> None:
    engine = _engine_with_fleet(ao_home, tmp_path)
    check = AtRestCheck(engine)

    def restored_meanwhile(session: Session) -> str:
        if session.id == "dm-6":  # `ao restore dm-6` in another process, just after the pruning read it
            engine.store.transition("dm-6", SessionStatus.SPAWNING, reason="restore")
        return check(session)

    assert prune_sessions(engine.store, keep_days=30, kept=restored_meanwhile) == ["dm-3"]
    assert engine.session("dm-6").status is SessionStatus.SPAWNING
    assert (ao_home / "sessions" / "dm-6").is_dir()


def test_deleting_a_session_removes_its_session_dir(ao_home: Path) -> None:
    store = Store(ao_home / "ao.sqlite3")
    store.insert_session(Session(id="dm-1", project="demo"))
    (ao_home / "sessions" / "dm-1").mkdir(parents=True)
    (ao_home / "sessions" / "dm-1" / "hook-events.jsonl").write_text("{}\n")
    store.delete_session("dm-1")
    assert not (ao_home / "sessions" / "dm-1").exists()
    store.delete_session("dm-2")  # none: nothing to do


def test_keep_finished_days_is_checked_with_a_line_number(tmp_path: Path) -> None:
    path = str(tmp_path / "ao.config.yaml")
    with pytest.raises(ConfigError) as err:
        parse_config("projects: {}\nstore:\n  keep_events_days: 30\n  keep_finished_days: -1\n", path)
    assert str(err.value) == f"{path}:4: store.keep_finished_days: Input should be greater than or equal to 0"
    assert "\n" not in str(err.value)
    assert parse_config("store:\n  keep_finished_days: 0\n", path).store.keep_finished_days == 0
    assert parse_config("projects: {}\n", path).store.keep_finished_days == 30
