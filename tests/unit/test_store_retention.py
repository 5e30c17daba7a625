"""The event history stays bounded: old events move to the archive, claims stay; the store keys check."""

from __future__ import annotations

import errno
import json
from datetime import timedelta
from pathlib import Path

import pytest

from ao_tui.config import parse_config
from ao_tui.errors import ConfigError
from ao_tui.models import Event, Session, utcnow
from ao_tui.store import Store
from ao_tui.store_health import header_problem, is_no_space
from ao_tui.store_retention import archive_dir, prune


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
