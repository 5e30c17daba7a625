"""The embedded store: SQLite in WAL mode under ``$AO_HOME``.

Several processes (``ao run``, the CLI, one or more ``ao-tui``) read and write
the same file at once. Every status change is one ``BEGIN IMMEDIATE``
transaction that re-reads the session, checks the state machine, writes the
new row and appends the event, so no two writers can interleave.

Reactions use ``claim``: the row's primary key is what caused the reaction
(check run, comment id, head commit), so only one engine, once, ever acts on it.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ao_tui.errors import NotFound
from ao_tui.lifecycle import AT_REST, check_transition
from ao_tui.models import Event, Session, SessionStatus, utcnow
from ao_tui.names import validate_prefix, validate_session_id

log = logging.getLogger("ao.store")

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX sessions_project ON sessions(project);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_session ON events(session_id, id);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE claims (
        key TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        event TEXT NOT NULL,
        action TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'claimed',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX claims_session ON claims(session_id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        key TEXT UNIQUE,
        text TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempted_at TEXT,
        delivered_at TEXT
    );
    CREATE INDEX outbox_pending ON outbox(session_id, delivered_at);
    CREATE TABLE chat (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation TEXT NOT NULL,
        at TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL
    );
    CREATE TABLE outcomes (session_id TEXT PRIMARY KEY, project TEXT NOT NULL, data TEXT NOT NULL);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    2: """
    CREATE TABLE merge_predictions (
        a_sha TEXT NOT NULL,
        b_sha TEXT NOT NULL,
        files TEXT NOT NULL,
        conflicts TEXT NOT NULL,
        computed_at TEXT NOT NULL,
        PRIMARY KEY (a_sha, b_sha)
    );
    CREATE TABLE branch_pairs (
        project TEXT NOT NULL,
        a TEXT NOT NULL,
        b TEXT NOT NULL,
        a_sha TEXT NOT NULL,
        b_sha TEXT NOT NULL,
        later TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, a, b)
    );
    CREATE TABLE rebases (
        session_id TEXT NOT NULL,
        onto TEXT NOT NULL,
        branch TEXT NOT NULL,
        workspace TEXT NOT NULL,
        backup TEXT NOT NULL,
        state TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (session_id, onto)
    );
    CREATE TABLE merge_train (
        session_id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        position INTEGER NOT NULL,
        state TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL
    );
    """,
    # The engine's passes read the live sessions only: by status, without reading the history's rows.
    3: """
    CREATE INDEX sessions_status ON sessions(status, updated_at);
    """,
}


def known_schema_version() -> int:
    """The newest schema this ao knows (``SCHEMA_VERSION``, read from the migrations so a test can add one)."""
    return max(_MIGRATIONS)


def _ts(value: datetime) -> str:
    return value.isoformat()


def _status_in(statuses: Iterable[SessionStatus]) -> tuple[str, list[str]]:
    """``status IN (?, ...)`` and its values: each status by name, so the store answers from its
    status index (``sessions_status``)."""
    values = sorted(s.value for s in statuses)
    return f"status IN ({','.join('?' * len(values))})", values


class Store:
    """A thread-safe handle on the store; each thread gets its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        #: Tell the running engine (the leader) after each committed write; the leader turns it off
        #: for its own store (it knows what it wrote). See ao_tui/leader.py.
        self.announce = True
        from ao_tui import store_health

        store_health.check_at_open(self.path)
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise (store_health.describe(exc, self.path) or exc) from None

    # -- connections -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self, *, announce: bool = True) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction, rolled back on error; once committed, the
        leader hears of it (unless ``announce`` is False or this is the leader's own store)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        if announce and self.announce:
            from ao_tui.leader import announce_change

            announce_change()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _migrate(self) -> None:
        from ao_tui import store_backup
        from ao_tui.store_health import StoreTooNew

        known = known_schema_version()
        found = self._recorded_version()
        if found > known:
            raise StoreTooNew(self.path, found, known)
        if 0 < found < known:
            store_backup.take_backup(self.path, reason=f"before-schema-{known}")
        with self.transaction(announce=False) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row["value"]) if row else 0
            if version > known:  # a newer ao migrated it meanwhile
                raise StoreTooNew(self.path, version, known)
            for target in sorted(v for v in _MIGRATIONS if v > version):
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)", (str(target),)
                )

    def _recorded_version(self) -> int:
        try:
            row = self._conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        return int(row["value"]) if row else 0

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row["value"])

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap 'anything new?'."""
        return int(self._conn().execute("PRAGMA data_version").fetchone()[0])

    # -- sessions ----------------------------------------------------------

    def next_session_id(self, prefix: str) -> str:
        """Reserve ``<prefix>-<n>``; never hands out the same id twice."""
        validate_prefix(prefix)
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM counters WHERE name=?", (prefix,)).fetchone()
            n = (row["value"] if row else 0) + 1
            while conn.execute("SELECT 1 FROM sessions WHERE id=?", (f"{prefix}-{n}",)).fetchone():
                n += 1
            conn.execute("INSERT OR REPLACE INTO counters(name, value) VALUES(?, ?)", (prefix, n))
        return f"{prefix}-{n}"

    def insert_session(self, session: Session) -> Session:
        validate_session_id(session.id)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions(id, project, status, created_at, updated_at, data) VALUES(?,?,?,?,?,?)",
                (
                    session.id,
                    session.project,
                    session.status.value,
                    _ts(session.created_at),
                    _ts(session.updated_at),
                    session.model_dump_json(),
                ),
            )
            self._insert_event(conn, Event(session_id=session.id, kind="created", to_status=session.status.value))
        return session

    def get_session(self, session_id: str) -> Session:
        row = self._conn().execute("SELECT data FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None:
            raise NotFound(f"no session {session_id!r} (see `ao ls`)")
        return Session.model_validate_json(row["data"])

    def find_session(self, session_id: str) -> Session | None:
        try:
            return self.get_session(session_id)
        except NotFound:
            return None

    def list_sessions(self, project: str | None = None, *, include_at_rest: bool | datetime = True,
                      at_rest_limit: int | None = None) -> list[Session]:
        """Every session (of ``project``), oldest first.

        ``include_at_rest=False`` leaves out the done and killed ones (``lifecycle.AT_REST``)
        before any is parsed, and a datetime keeps only those of them changed since then: what
        the engine's passes read, so their cost follows the live fleet, not the history.
        ``at_rest_limit`` keeps at most that many of them, the most recently changed.
        """
        where, params = [], []
        if project is not None:
            where.append("project=?")
            params.append(project)
        live, live_values = _status_in(s for s in SessionStatus if s not in AT_REST)
        rest, rest_values = _status_in(AT_REST)
        if include_at_rest is False:
            where.append(live)
            params.extend(live_values)
        elif isinstance(include_at_rest, datetime) or at_rest_limit is not None:
            kept: list[str] = [rest]
            kept_params: list[Any] = [*rest_values]
            if project is not None:
                kept.append("project=?")
                kept_params.append(project)
            if isinstance(include_at_rest, datetime):
                kept.append("updated_at >= ?")
                kept_params.append(_ts(include_at_rest.astimezone(UTC)))
            sub = f"SELECT id FROM sessions WHERE {' AND '.join(kept)}"
            if at_rest_limit is not None:
                sub += " ORDER BY updated_at DESC, id DESC LIMIT ?"
                kept_params.append(at_rest_limit)
            where.append(f"({live} OR id IN ({sub}))")
            params.extend([*live_values, *kept_params])
        sql = "SELECT data FROM sessions" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at, id"
        return [Session.model_validate_json(r["data"]) for r in self._conn().execute(sql, params).fetchall()]

    def search_sessions(self, text: str, statuses: frozenset[SessionStatus] | set[SessionStatus],
                        limit: int = 50) -> list[Session]:
        """Sessions in one of ``statuses`` whose id is ``text``, whose PR number it is (all digits), or whose
        record mentions it (any case): the id first, then the PR, then the most recently changed; at most
        ``limit``, and only those parsed."""
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        number = int(text) if text.isdigit() and len(text) < 19 else None
        pr = "json_extract(data, '$.pr.number') = ?"
        among, values = _status_in(statuses)
        sql = (f"SELECT data FROM sessions WHERE {among}"
               f" AND (id = ?{f' OR {pr}' if number is not None else ''} OR data LIKE ? ESCAPE '\\')"
               f" ORDER BY id = ? DESC,{f' {pr} DESC,' if number is not None else ''} updated_at DESC, id DESC LIMIT ?")
        exact = [number] if number is not None else []
        params = [*values, text, *exact, pattern, text, *exact, limit]
        return [Session.model_validate_json(r["data"]) for r in self._conn().execute(sql, params).fetchall()]

    def count_sessions(self, statuses: frozenset[SessionStatus] | set[SessionStatus], project: str | None = None) -> int:
        """How many sessions are in one of ``statuses`` (counted by the store, none parsed)."""
        among, params = _status_in(statuses)
        sql = f"SELECT COUNT(*) FROM sessions WHERE {among}"
        if project is not None:
            sql += " AND project=?"
            params.append(project)
        return int(self._conn().execute(sql, params).fetchone()[0])

    def task_ids(self, project: str, *, except_status: frozenset[SessionStatus] = frozenset()) -> set[str]:
        """The tasks the project's sessions took (all of them but those in ``except_status``),
        read by the store from each session's record without parsing any."""
        sql = "SELECT DISTINCT json_extract(data, '$.task_id') FROM sessions WHERE project=?"
        params = [project]
        if except_status:
            among, values = _status_in(except_status)
            sql += f" AND NOT {among}"
            params.extend(values)
        return {row[0] for row in self._conn().execute(sql, params).fetchall() if row[0]}

    def mutate(
        self,
        session_id: str,
        change: Callable[[Session], None],
        *,
        status: SessionStatus | None = None,
        reason: str = "",
        event: Event | None = None,
        only_from: frozenset[SessionStatus] | set[SessionStatus] | None = None,
    ) -> Session:
        """Read, change and write a session in one transaction.

        With ``only_from``, nothing is changed unless the session's status (as the
        transaction reads it) is one of those: a decision made on an older read
        (another process or thread moved the session on meanwhile) is dropped.

        ``status`` (if given and different) is checked against the state
        machine and recorded as a ``status`` event with ``reason``.
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT data FROM sessions WHERE id=?", (session_id,)).fetchone()
            if row is None:
                raise NotFound(f"no session {session_id!r} (see `ao ls`)")
            session = Session.model_validate_json(row["data"])
            before = session.status
            if only_from is not None and before not in only_from:
                return session
            change(session)
            now = utcnow()
            if status is not None and status != before:
                check_transition(session_id, before, status)
                session.status = status
                session.status_since = now
                self._insert_event(
                    conn,
                    Event(
                        session_id=session_id,
                        kind="status",
                        from_status=before.value,
                        to_status=status.value,
                        data={"reason": reason} if reason else {},
                    ),
                )
            session.updated_at = now
            conn.execute(
                "UPDATE sessions SET status=?, updated_at=?, data=? WHERE id=?",
                (session.status.value, _ts(now), session.model_dump_json(), session_id),
            )
            if event is not None:
                self._insert_event(conn, event)
        return session

    def transition(
        self, session_id: str, target: SessionStatus, reason: str = "",
        only_from: frozenset[SessionStatus] | set[SessionStatus] | None = None, **fields: Any,
    ) -> Session:
        """Change a session's status (and optionally other fields) atomically (see ``mutate``'s ``only_from``)."""

        def apply(session: Session) -> None:
            for key, value in fields.items():
                setattr(session, key, value)

        return self.mutate(session_id, apply, status=target, reason=reason, only_from=only_from)

    def update(self, session_id: str, **fields: Any) -> Session:
        """Change fields other than status."""

        def apply(session: Session) -> None:
            for key, value in fields.items():
                setattr(session, key, value)

        return self.mutate(session_id, apply)

    def delete_session(self, session_id: str) -> None:
        """Forget a session, and remove its session dir (its hook events: nothing reads them once
        the record is gone, and a dir with no record would look like an orphan to recovery)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE id=?", (session_id,))
            self._remove_session_dir(session_id)

    @property
    def sessions_root(self) -> Path:
        """Where the session dirs are: beside the store (``paths.session_dir`` with the store at ``paths.store_path``)."""
        return self.path.parent / "sessions"

    def _remove_session_dir(self, session_id: str) -> None:
        """Called inside the transaction that deletes the record: a crash before the commit leaves the
        record (deleted again by a retry), never a dir without one."""
        folder = self.sessions_root / validate_session_id(session_id)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():
                log.warning("could not remove %s (the session's record is deleted)", folder)

    def sessions_at_rest_before(self, cutoff: str, limit: int, after: tuple[str, str] = ("", "")) -> list[sqlite3.Row]:
        """Up to ``limit`` rows of the done and killed sessions (``lifecycle.AT_REST``) last changed
        before ``cutoff``, oldest change first, from after ``(updated_at, id)`` (a page's last)."""
        rest, values = _status_in(AT_REST)
        return self._conn().execute(
            f"SELECT * FROM sessions WHERE {rest} AND updated_at < ?"
            " AND (updated_at, id) > (?, ?) ORDER BY updated_at, id LIMIT ?",
            (*values, cutoff, *after, limit)).fetchall()

    def delete_sessions_at_rest(self, seen: list[tuple[str, str]]) -> list[str]:
        """Delete each ``(id, updated_at)`` session still at rest and unchanged since it was read
        (one restored meanwhile stays), with its session dir; returns the ids deleted."""
        rest, values = _status_in(AT_REST)
        deleted = []
        for i in range(0, len(seen), 20):  # each dir's removal is ~1 ms: the write lock is held briefly
            with self.transaction() as tx:
                for sid, updated_at in seen[i:i + 20]:
                    cur = tx.execute(f"DELETE FROM sessions WHERE id=? AND updated_at=? AND {rest}",
                                     (sid, updated_at, *values))
                    if cur.rowcount == 1:
                        self._remove_session_dir(sid)
                        deleted.append(sid)
        return deleted

    # -- events ------------------------------------------------------------

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: Event) -> int:
        cur = conn.execute(
            "INSERT INTO events(session_id, at, kind, from_status, to_status, data) VALUES(?,?,?,?,?,?)",
            (
                event.session_id,
                _ts(event.at),
                event.kind,
                event.from_status,
                event.to_status,
                json.dumps(event.data),
            ),
        )
        return int(cur.lastrowid or 0)

    def add_event(self, event: Event) -> int:
        with self.transaction() as conn:
            return self._insert_event(conn, event)

    def events(self, session_id: str | None = None, *, after_id: int = 0, limit: int = 500) -> list[Event]:
        if session_id is None:
            rows = self._conn().execute(
                "SELECT * FROM events WHERE id>? ORDER BY id LIMIT ?", (after_id, limit)
            ).fetchall()
        else:
            rows = self._conn().execute(
                "SELECT * FROM (SELECT * FROM events WHERE session_id=? AND id>? ORDER BY id DESC LIMIT ?) ORDER BY id",
                (session_id, after_id, limit),
            ).fetchall()
        return [
            Event(
                id=r["id"],
                session_id=r["session_id"],
                at=datetime.fromisoformat(r["at"]),
                kind=r["kind"],
                from_status=r["from_status"],
                to_status=r["to_status"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]

    def last_event_id(self) -> int:
        row = self._conn().execute("SELECT MAX(id) AS m FROM events").fetchone()
        return int(row["m"] or 0)

    # -- reactions: exactly once ------------------------------------------

    def claim(self, key: str, session_id: str, event: str, action: str, data: dict[str, Any] | None = None) -> bool:
        """Claim the right to act on ``key``. True for exactly one caller, ever."""
        now = _ts(utcnow())
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO claims(key, session_id, event, action, created_at, updated_at, data)"
                " VALUES(?,?,?,?,?,?,?)",
                (key, session_id, event, action, now, now, json.dumps(data or {})),
            )
            return cur.rowcount == 1

    def set_claim_state(self, key: str, state: str, data: dict[str, Any] | None = None) -> None:
        with self.transaction() as conn:
            if data is None:
                conn.execute(
                    "UPDATE claims SET state=?, attempts=attempts+1, updated_at=? WHERE key=?",
                    (state, _ts(utcnow()), key),
                )
            else:
                conn.execute(
                    "UPDATE claims SET state=?, attempts=attempts+1, updated_at=?, data=? WHERE key=?",
                    (state, _ts(utcnow()), json.dumps(data), key),
                )

    def release_claim(self, key: str) -> None:
        """Give a claim back, so a later attempt may take it."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM claims WHERE key=?", (key,))

    def claims(self, session_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM claims WHERE 1=1", list[str]()
        if session_id is not None:
            sql, args = sql + " AND session_id=?", [*args, session_id]
        if state is not None:
            sql, args = sql + " AND state=?", [*args, state]
        rows = self._conn().execute(sql + " ORDER BY created_at", args).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    # -- outbox: messages waiting for an agent to be at its prompt ---------

    def enqueue_message(self, session_id: str, text: str, key: str | None = None) -> int | None:
        """Queue ``text`` for delivery; with ``key``, a second enqueue is a no-op."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO outbox(session_id, key, text, created_at) VALUES(?,?,?,?)",
                (session_id, key, text, _ts(utcnow())),
            )
            return cur.lastrowid if cur.rowcount == 1 else None

    def pending_messages(self, session_id: str | None = None) -> list[dict[str, Any]]:
        if session_id is None:
            rows = self._conn().execute("SELECT * FROM outbox WHERE delivered_at IS NULL ORDER BY id").fetchall()
        else:
            rows = self._conn().execute(
                "SELECT * FROM outbox WHERE session_id=? AND delivered_at IS NULL ORDER BY id", (session_id,)
            ).fetchall()
        return [dict(r) for r in rows]

    def mark_attempted(self, message_id: int) -> None:
        """Recorded just before typing a message, so a crash mid-delivery is
        resolved on restart by looking for it in the agent's transcript."""
        with self.transaction() as conn:
            conn.execute("UPDATE outbox SET attempted_at=? WHERE id=?", (_ts(utcnow()), message_id))

    def mark_delivered(self, message_id: int) -> bool:
        """True if this call delivered it (it was still pending)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE outbox SET delivered_at=? WHERE id=? AND delivered_at IS NULL", (_ts(utcnow()), message_id)
            )
            return cur.rowcount == 1

    # -- chat, outcomes, settings ------------------------------------------

    def append_chat(self, conversation: str, role: str, content: Any) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO chat(conversation, at, role, content) VALUES(?,?,?,?)",
                (conversation, _ts(utcnow()), role, json.dumps(content)),
            )
            return int(cur.lastrowid or 0)

    def chat_history(self, conversation: str) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT * FROM chat WHERE conversation=? ORDER BY id", (conversation,)
        ).fetchall()
        return [{"id": r["id"], "at": r["at"], "role": r["role"], "content": json.loads(r["content"])} for r in rows]

    def clear_chat(self, conversation: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM chat WHERE conversation=?", (conversation,))

    def put_outcome(self, session_id: str, project: str, data: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO outcomes(session_id, project, data) VALUES(?,?,?)",
                (session_id, project, json.dumps(data)),
            )

    def outcomes(self, project: str | None = None, *, newest: int | None = None) -> list[dict[str, Any]]:
        """Recorded outcomes; ``newest=N``: only the N last written (a new session's lessons read those,
        not every outcome the project ever had)."""
        sql = "SELECT * FROM outcomes" + (" WHERE project=?" if project is not None else "")
        params: list[Any] = [project] if project is not None else []
        if newest is not None:
            sql += " ORDER BY rowid DESC LIMIT ?"  # a rewrite (INSERT OR REPLACE) takes a new, higher rowid
            params.append(newest)
        rows = self._conn().execute(sql, params).fetchall()
        return [{"session_id": r["session_id"], "project": r["project"], **json.loads(r["data"])} for r in rows]

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return row["value"] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES(?,?)", (key, value))

    def delete_setting(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM settings WHERE key=?", (key,))

    def update_json_setting(self, key: str, change: Callable[[Any], Any], default: Any) -> Any:
        """Read-modify-write a JSON setting in one transaction: ``change`` gets the stored value (a copy of
        ``default`` if none or unreadable) and returns the new one, written only if it differs."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
            try:
                old, readable = (json.loads(row["value"]) if row else copy.deepcopy(default)), True
            except ValueError:
                old, readable = copy.deepcopy(default), False
            new = change(copy.deepcopy(old))
            if new != old or not readable:
                conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES(?,?)", (key, json.dumps(new)))
        return new

    # -- conflict prediction (ao_tui.conflicts) -----------------------------

    @staticmethod
    def _ordered(a_sha: str, b_sha: str) -> tuple[str, str, bool]:
        return (a_sha, b_sha, False) if a_sha <= b_sha else (b_sha, a_sha, True)

    def get_prediction(self, a_sha: str, b_sha: str) -> dict[str, Any] | None:
        """What merging commit ``a_sha`` with ``b_sha`` gives (either order), if computed before."""
        first, second, _ = self._ordered(a_sha, b_sha)
        row = self._conn().execute(
            "SELECT * FROM merge_predictions WHERE a_sha=? AND b_sha=?", (first, second)).fetchone()
        if row is None:
            return None
        return {"files": json.loads(row["files"]), "conflicts": json.loads(row["conflicts"]),
                "computed_at": row["computed_at"]}

    def put_prediction(self, a_sha: str, b_sha: str, files: list[str], conflicts: list[dict[str, Any]]) -> None:
        """A merge prediction depends on the two commits alone: kept once per (unordered) pair."""
        first, second, _ = self._ordered(a_sha, b_sha)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO merge_predictions(a_sha, b_sha, files, conflicts, computed_at)"
                " VALUES(?,?,?,?,?)",
                (first, second, json.dumps(files), json.dumps(conflicts), _ts(utcnow())))

    def set_branch_pair(self, project: str, a: str, b: str, a_sha: str, b_sha: str, later: str) -> bool:
        """Record which commits of branches ``a`` and ``b`` were last compared; True if that changed."""
        if b < a:
            a, b, a_sha, b_sha = b, a, b_sha, a_sha
        with self.transaction() as conn:
            row = conn.execute("SELECT a_sha, b_sha FROM branch_pairs WHERE project=? AND a=? AND b=?",
                               (project, a, b)).fetchone()
            if row is not None and row["a_sha"] == a_sha and row["b_sha"] == b_sha:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO branch_pairs(project, a, b, a_sha, b_sha, later, updated_at)"
                " VALUES(?,?,?,?,?,?,?)", (project, a, b, a_sha, b_sha, later, _ts(utcnow())))
            return True

    def drop_branch_pairs(self, project: str, keep: set[str] | frozenset[str]) -> None:
        """Forget the pairs of branches no longer live (any member outside ``keep``)."""
        with self.transaction() as conn:
            rows = conn.execute("SELECT a, b FROM branch_pairs WHERE project=?", (project,)).fetchall()
            for r in rows:
                if r["a"] not in keep or r["b"] not in keep:
                    conn.execute("DELETE FROM branch_pairs WHERE project=? AND a=? AND b=?", (project, r["a"], r["b"]))

    def branch_pairs(self, project: str | None = None, member: str | None = None) -> list[dict[str, Any]]:
        """Current pairs with their prediction (``files``/``conflicts``; None while not computed)."""
        sql = ("SELECT p.*, m.files AS files, m.conflicts AS conflicts FROM branch_pairs p"
               " LEFT JOIN merge_predictions m ON m.a_sha = MIN(p.a_sha, p.b_sha) AND m.b_sha = MAX(p.a_sha, p.b_sha)"
               " WHERE 1=1")
        args: list[Any] = []
        if project is not None:
            sql, args = sql + " AND p.project=?", [*args, project]
        if member is not None:
            sql, args = sql + " AND (p.a=? OR p.b=?)", [*args, member, member]
        rows = self._conn().execute(sql + " ORDER BY p.project, p.a, p.b", args).fetchall()
        return [{"project": r["project"], "a": r["a"], "b": r["b"], "a_sha": r["a_sha"], "b_sha": r["b_sha"],
                 "later": r["later"], "updated_at": r["updated_at"],
                 "files": json.loads(r["files"]) if r["files"] is not None else None,
                 "conflicts": json.loads(r["conflicts"]) if r["conflicts"] is not None else None} for r in rows]

    # -- rebases (a journal, so a rebase cut off by a crash is undone on restart) ------

    def start_rebase(self, session_id: str, onto: str, branch: str, workspace: str, backup: str) -> bool:
        """Record a rebase about to start; False if one onto ``onto`` was already recorded."""
        now = _ts(utcnow())
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO rebases(session_id, onto, branch, workspace, backup, state, started_at,"
                " updated_at) VALUES(?,?,?,?,?,'started',?,?)", (session_id, onto, branch, workspace, backup, now, now))
            return cur.rowcount == 1

    def finish_rebase(self, session_id: str, onto: str, state: str, data: dict[str, Any] | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE rebases SET state=?, data=?, updated_at=? WHERE session_id=? AND onto=?",
                         (state, json.dumps(data or {}), _ts(utcnow()), session_id, onto))

    def rebases(self, session_id: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM rebases WHERE 1=1", list[str]()
        if session_id is not None:
            sql, args = sql + " AND session_id=?", [*args, session_id]
        if state is not None:
            sql, args = sql + " AND state=?", [*args, state]
        rows = self._conn().execute(sql + " ORDER BY started_at", args).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    # -- the merge train ---------------------------------------------------------

    def train_add(self, project: str, session_ids: list[str]) -> list[str]:
        """Append sessions to the project's train (ones already on it stay where they are)."""
        added = []
        with self.transaction() as conn:
            row = conn.execute("SELECT MAX(position) AS m FROM merge_train").fetchone()
            position = int(row["m"] or 0)
            for sid in session_ids:
                position += 1
                cur = conn.execute(
                    "INSERT OR IGNORE INTO merge_train(session_id, project, position, state, updated_at)"
                    " VALUES(?,?,?,'queued',?)", (sid, project, position, _ts(utcnow())))
                if cur.rowcount == 1:
                    added.append(sid)
        return added

    def train(self, project: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM merge_train", []
        if project is not None:
            sql, args = sql + " WHERE project=?", [project]
        rows = self._conn().execute(sql + " ORDER BY position", args).fetchall()
        return [{**dict(r), "data": json.loads(r["data"])} for r in rows]

    def train_update(self, session_id: str, state: str, data: dict[str, Any] | None = None) -> None:
        with self.transaction() as conn:
            if data is None:
                conn.execute("UPDATE merge_train SET state=?, updated_at=? WHERE session_id=?",
                             (state, _ts(utcnow()), session_id))
            else:
                conn.execute("UPDATE merge_train SET state=?, data=?, updated_at=? WHERE session_id=?",
                             (state, json.dumps(data), _ts(utcnow()), session_id))

    def train_remove(self, session_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM merge_train WHERE session_id=?", (session_id,))

    # -- retention (ao_tui.store_retention archives these rows, then deletes them) ------------

    #: The tables retention archives, with the column that keys a row.
    ARCHIVED_KEYS = {"events": "id", "claims": "key"}

    def events_to_archive(self, cutoff: str, keep_per_session: int, limit: int) -> list[sqlite3.Row]:
        """The oldest ``limit`` events older than ``cutoff``, of a session that is gone, or past the newest
        ``keep_per_session`` of their session."""
        return self._conn().execute(
            """SELECT * FROM events WHERE id IN (
                   SELECT id FROM events WHERE at < ?
                   UNION
                   SELECT id FROM events WHERE session_id NOT IN (SELECT id FROM sessions)
                   UNION
                   SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY id DESC) AS r
                                   FROM events) WHERE r > ?)
               ORDER BY id LIMIT ?""",
            (cutoff, keep_per_session, limit),
        ).fetchall()

    def claims_to_archive(self, limit: int) -> list[sqlite3.Row]:
        """The oldest ``limit`` settled claims of sessions that are gone, the engine's claim that a
        gone session's task was closed (``<session>:task_done``) included."""
        return self._conn().execute(
            "SELECT * FROM claims WHERE state != 'claimed' AND ("
            " (session_id != 'engine' AND session_id NOT IN (SELECT id FROM sessions))"
            " OR (session_id = 'engine' AND event = 'pr_merged' AND action = 'task_done'"
            "     AND substr(key, -10) = ':task_done'"
            "     AND substr(key, 1, length(key) - 10) NOT IN (SELECT id FROM sessions)))"
            " ORDER BY created_at LIMIT ?", (limit,)).fetchall()

    def delete_archived(self, table: str, keys: list[Any]) -> None:
        """Delete the rows of ``table`` (one of ``ARCHIVED_KEYS``) with these keys, in one transaction."""
        key_column = self.ARCHIVED_KEYS[table]
        with self.transaction() as tx:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                tx.execute(f"DELETE FROM {table} WHERE {key_column} IN ({','.join('?' * len(chunk))})", chunk)

    def drop_stale_predictions(self, before: str) -> int:
        """Forget merge predictions computed before ``before`` for commits no current branch pair has.

        They are a cache keyed by two commits: once either branch has moved on or gone, nothing reads
        them again (``branch_pairs`` joins only the pairs' current heads), and every commit of every
        live branch would otherwise add one for each other branch, for ever."""
        with self.transaction() as tx:
            return tx.execute(
                "DELETE FROM merge_predictions WHERE computed_at < ? AND NOT EXISTS (SELECT 1 FROM branch_pairs p"
                " WHERE MIN(p.a_sha, p.b_sha) = merge_predictions.a_sha AND MAX(p.a_sha, p.b_sha) = merge_predictions.b_sha)",
                (before,)).rowcount

    def drop_delivered_messages(self, before: str) -> None:
        """Forget outbox messages delivered before ``before``."""
        with self.transaction() as tx:
            tx.execute("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < ?", (before,))


def open_store(path: Path | None = None) -> Store:
    from ao_tui.paths import store_path

    return Store(path or store_path())
