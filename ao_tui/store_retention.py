"""Keeping the store's event history bounded: the oldest events move to an archive.

Policy (``store.keep_events_days``, ``store.keep_events_per_session``): an event
older than the day limit, beyond a session's newest N, or of a session no longer
in the store (deleted: its history is all that is left of it), is appended to
``<ao_home>/archive/events-YYYY-MM.jsonl`` (one JSON object a line, by the
month it happened) and then deleted from the store. Delivered queued messages
older than the day limit are deleted (they were typed; their event stays).
Claims make every reaction happen once, so a claim is kept while its session is
in the store; a deleted session's settled claims go to ``claims-YYYY-MM.jsonl``
(nothing can trigger for a session that is gone), and so does the engine's claim
that a deleted session's task was closed (``<session>:task_done``, one per merged session).
The engine's other claims and claims still under way are never touched.
The engine runs this every ``store.prune_every`` (1h); a run moves at most
``batch`` events so it never holds the write lock long.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ao_tui.store import Store


def archive_dir(store: Store) -> Path:
    return store.path.parent / "archive"


#: How long a merge prediction no branch pair uses is kept (a scan stores it just before pairing it).
PREDICTIONS_UNUSED_FOR = timedelta(hours=1)


def prune(store: Store, *, keep_days: int, keep_per_session: int, batch: int = 20000) -> int:
    """Archive and delete events past the policy; returns how many moved."""
    cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat()
    rows = store.events_to_archive(cutoff, keep_per_session, batch)
    if rows:
        _archive_and_delete(store, rows, "events", "at")
    store.drop_delivered_messages(cutoff)
    # A cache, not history: not archived. An hour's grace keeps one a scan is about to pair.
    store.drop_stale_predictions((datetime.now(UTC) - PREDICTIONS_UNUSED_FOR).isoformat())
    return len(rows) + _archive_orphan_claims(store, batch)


def _archive_orphan_claims(store: Store, batch: int) -> int:
    rows = store.claims_to_archive(batch)
    if not rows:
        return 0
    _archive_and_delete(store, rows, "claims", "created_at")
    return len(rows)


def _archive_and_delete(store: Store, rows: list[Any], table: str, at_column: str) -> None:
    """Append rows to the monthly ``<table>-YYYY-MM.jsonl`` archives (fsynced), then delete them from the table."""
    by_month: dict[str, list[str]] = {}
    for r in rows:
        by_month.setdefault(r[at_column][:7], []).append(json.dumps({**dict(r), "data": json.loads(r["data"])}))
    folder = archive_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    for month, lines in by_month.items():
        with (folder / f"{table}-{month}.jsonl").open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
    store.delete_archived(table, [r[Store.ARCHIVED_KEYS[table]] for r in rows])
