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

Sessions at rest (``store.keep_finished_days``, 30; 0 keeps them for ever): a done or
killed session last changed longer ago than that is appended to
``sessions-YYYY-MM.jsonl`` (by the month of its last change) and deleted from
the store with its session dir; its events and claims then follow the rules
for a deleted session, its outcome stays (learning and ``ao retro`` read it).
Never one with something left to lose or come back to (``AtRestCheck``): its
workspace on disk, its branch holding work not in the default branch, its tmux
session still there, one on an SSH host (ao does not look at the host's disk
here), or one of a project no longer configured. A crash between the archive and
the delete is harmless: the retry finds the line already there (same id, same
last change) and does not write it again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git, paths
from ao_tui.config import LOCAL_HOST
from ao_tui.errors import AoError
from ao_tui.lifecycle import AT_REST
from ao_tui.models import Session
from ao_tui.store import Store

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.retention")


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
    _append_by_month(archive_dir(store), table, rows, at_column)
    store.delete_archived(table, [r[Store.ARCHIVED_KEYS[table]] for r in rows])


def _line(row: Any) -> dict[str, Any]:
    return {**dict(row), "data": json.loads(row["data"])}


def _append_by_month(folder: Path, table: str, rows: list[Any], at_column: str) -> None:
    by_month: dict[str, list[str]] = {}
    for r in rows:
        by_month.setdefault(r[at_column][:7], []).append(json.dumps(_line(r)))
    folder.mkdir(parents=True, exist_ok=True)
    for month, lines in by_month.items():
        _append_lines(folder / f"{table}-{month}.jsonl", lines)


def _append_lines(path: Path, lines: list[str]) -> None:
    """Append whole lines and fsync; a line a crash cut short is ended first, so it spoils no other."""
    with path.open("ab") as f:
        if f.tell() and _last_byte(path) != b"\n":
            f.write(b"\n")
        f.write(("\n".join(lines) + "\n").encode())
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


# -- sessions at rest ----------------------------------------------------------------------


class AtRestCheck:
    """Why a session at rest must stay in the store (``""`` if nothing keeps it), from what is on
    disk, in git and in tmux. Each runtime's sessions are listed once per check."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._handles: dict[int, set[str] | None] = {}
        self._branches: dict[str, set[str] | None] = {}

    def __call__(self, session: Session) -> str:
        if session.status not in AT_REST:
            return f"it is {session.status.value}"
        if session.host != LOCAL_HOST:
            return f"it ran on host {session.host}"
        if session.project not in self.engine.config.projects:
            return f"its project {session.project} is not configured"
        workspace = (Path(session.workspace) if session.workspace
                     else paths.workspaces_root() / session.project / session.id)
        if workspace.exists():
            return f"its workspace {workspace} is on disk"
        handles = self._live_handles(session)
        if handles is None:
            return "its runtime's sessions cannot be listed"
        if session.runtime_handle in handles:
            return f"its {session.runtime} session {session.runtime_handle} is still there"
        return self._unmerged(session)

    def _live_handles(self, session: Session) -> set[str] | None:
        try:
            runtime = self.engine.runtime(session)
        except Exception as exc:
            log.debug("no runtime for %s: %s", session.id, exc)
            return None
        if id(runtime) not in self._handles:
            try:
                self._handles[id(runtime)] = set(runtime.list_handles())
            except Exception as exc:
                log.warning("pruning: cannot list %s sessions: %s", runtime.name, exc)
                self._handles[id(runtime)] = None
        return self._handles[id(runtime)]

    def _branches_of(self, repo: Path) -> set[str] | None:
        """The repository's branches, listed once (one git call, not one per session); None if they cannot be."""
        if str(repo) not in self._branches:
            try:
                listed: set[str] | None = set(
                    git.out(repo, "for-each-ref", "--format=%(refname:lstrip=2)", "refs/heads/").split())
            except AoError as exc:
                log.warning("pruning: cannot list the branches of %s: %s", repo, exc)
                listed = None
            self._branches[str(repo)] = listed
        return self._branches[str(repo)]

    def _unmerged(self, session: Session) -> str:
        cfg = self.engine.project_config(session.project)
        if not session.branch:
            return ""
        branches = self._branches_of(cfg.repo)
        if branches is None:
            return f"the branches of {cfg.repo} cannot be listed"
        if session.branch not in branches:
            return ""  # no branch, nothing on it
        try:
            if git.merge_changes_nothing(cfg.repo, cfg.default_branch, session.branch):
                return ""
        except AoError as exc:
            return f"its branch {session.branch} cannot be checked ({exc})"
        return f"its branch {session.branch} holds work not in {cfg.default_branch}"


def prune_sessions(store: Store, *, keep_days: int, kept: Callable[[Session], str],
                   batch: int = 500) -> list[str]:
    """Archive and delete up to ``batch`` sessions at rest last changed more than ``keep_days`` ago
    that ``kept`` finds no reason to keep (see the module's docstring); the ids deleted."""
    if keep_days <= 0:
        return []
    cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat()
    chosen: list[Any] = []
    after = ("", "")
    while len(chosen) < batch:
        page = store.sessions_at_rest_before(cutoff, 200, after)
        if not page:
            break
        after = (page[-1]["updated_at"], page[-1]["id"])
        for row in page:
            why = kept(Session.model_validate_json(row["data"]))
            if why:
                log.debug("keeping %s: %s", row["id"], why)
            elif len(chosen) < batch:
                chosen.append(row)
    if not chosen:
        return []
    folder = archive_dir(store)
    written = _archived_sessions(folder, {r["updated_at"][:7] for r in chosen})
    fresh = [r for r in chosen if (r["id"], r["updated_at"]) not in written]
    if fresh:
        _append_by_month(folder, "sessions", fresh, "updated_at")
    return store.delete_sessions_at_rest([(r["id"], r["updated_at"]) for r in chosen])


def _archived_sessions(folder: Path, months: set[str]) -> set[tuple[str, str]]:
    """The (id, last change) of each session already in these months' archives."""
    found: set[tuple[str, str]] = set()
    for month in months:
        path = folder / f"sessions-{month}.jsonl"
        if not path.is_file():
            continue
        with path.open("rb") as f:
            for raw in f:
                try:
                    line = json.loads(raw)
                    found.add((line["id"], line["updated_at"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line a crash cut short
    return found
