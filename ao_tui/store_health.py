"""Is the store file whole? Cheap checks at every open, a thorough one on demand.

At every open (every ``ao`` command, every ``ao-tui``) ao checks the file's
100-byte header (the SQLite magic, a sane page size, a page count the file's
length can hold: a copy cut short shows here) and, once SQLite has opened it,
the schema version (a store from a newer ao is refused, never migrated down):
0.25 ms together. ``PRAGMA quick_check`` reads every page: 0.8 ms per MB in the
page cache (80 ms for 100 MB; more from a cold disk: docs/benchmarks.md). So it
also runs at open while the store is at most ``QUICK_CHECK_AT_OPEN`` bytes (the
event pruning keeps a store there: a few ms), and above that only in ``ao store
check``, on every backup and once in the background when the engine starts.
Damage it does not see at open is found by SQLite when a query reaches it;
``describe`` turns that error into the same one line.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ao_tui.errors import AoError

#: What SQLite raises for a file it cannot read: callers outside the store catch it by this name
#: (only the store's modules import sqlite3; tests/unit/test_layering.py keeps it so).
DatabaseError = sqlite3.DatabaseError

MAGIC = b"SQLite format 3\x00"
RECOVER_HINT = "run `ao store recover` (the damaged file is kept aside; see README, When things go wrong)"


class StoreDamaged(AoError):
    """The store file cannot be read as ao's database."""

    exit_code = 6

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"the store {path} is damaged: {what}; {RECOVER_HINT}")
        self.path, self.what = Path(path), what


class StoreTooNew(AoError):
    """Written by a newer ao: refused, never migrated down."""

    exit_code = 6

    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            f"the store {path} was written by a newer ao (schema {found}; this ao knows up to {known}): "
            "upgrade ao (`pip install -U ao-tui`), or go back with `ao store restore BACKUP`"
        )
        self.path, self.found, self.known = Path(path), found, known


class NoSpace(AoError):
    """A write failed for lack of space (a full disk, a quota, or a file-size limit)."""

    exit_code = 7

    def __init__(self, where: Path | str, detail: str = "") -> None:
        super().__init__(
            f"no space to write {where} ({detail or 'disk full or a file-size limit'}): "
            "free some space; ao keeps its sessions and retries its writes"
        )
        self.where = str(where)


#: errno values that mean "no room", whatever the file system calls it.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_SQLITE_NO_SPACE = ("SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC", "SQLITE_IOERR_TRUNCATE",
                    "SQLITE_IOERR_SHMSIZE", "SQLITE_IOERR_SHMMAP")
_SQLITE_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def header_problem(path: Path) -> str | None:
    """What is wrong with the file's header, or None (also for a missing or empty file: a new store)."""
    try:
        size = path.stat().st_size
        if size == 0:
            return None
        with path.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    if not head.startswith(MAGIC[: min(len(head), 16)]) or len(head) < 16:
        return "it is not an SQLite database"
    if len(head) < 100:
        return f"it is cut short ({size} bytes, less than a header)"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"its header is overwritten (page size {page_size})"
    pages = int.from_bytes(head[28:32], "big")
    counter_ok = head[24:28] == head[92:96]  # the page count is trustworthy only then (SQLite's own rule)
    if counter_ok and pages and size < pages * page_size:
        return f"it is cut short ({size} bytes of {pages * page_size})"
    return None


#: Up to this size the whole file is read at open (about 13 ms in the page cache).
QUICK_CHECK_AT_OPEN = 16 * 1024 * 1024


#: Store files this process has opened through SQLite. Their header is never read again with a plain
#: open()/close() here: a close drops every POSIX lock the process holds on the file (SQLite's among
#: them), and another process's write could then corrupt it. SQLite's own reads are safe.
_OPENED: set[str] = set()


def check_at_open(path: Path) -> None:
    """The header (the first time this process opens the file); every page too while the file is
    small. Raises ``StoreDamaged``; afterwards the file counts as opened by this process."""
    key = os.path.realpath(path)
    first = key not in _OPENED
    problem = header_problem(path) if first else None
    if problem is None and path.exists() and 0 < path.stat().st_size <= QUICK_CHECK_AT_OPEN:
        problem = quick_check(path, header=False)
    if problem:
        raise StoreDamaged(path, problem)
    _OPENED.add(key)


def opened_here(path: Path) -> bool:
    """Whether this process has the file open through SQLite (so it must not open()/close() it)."""
    return os.path.realpath(path) in _OPENED


def is_no_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for lack of space (or a file-size limit)."""
    if isinstance(exc, NoSpace):
        return True
    if isinstance(exc, OSError):
        return exc.errno in NO_SPACE_ERRNOS
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        return name.startswith(_SQLITE_NO_SPACE) or "database or disk is full" in str(exc)
    text = str(exc)
    return "No space left on device" in text or "File too large" in text or "Disk quota exceeded" in text


def is_damage(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    return name.startswith(_SQLITE_DAMAGE) or "malformed" in text or "not a database" in text


def describe(exc: BaseException, path: Path) -> AoError | None:
    """The one-line error for an SQLite failure on the store, or None if it is not about the file."""
    if isinstance(exc, AoError):
        return exc
    if is_no_space(exc):
        where = getattr(exc, "filename", None) or path
        return NoSpace(where, getattr(exc, "strerror", None) or str(exc))
    if is_damage(exc):
        return StoreDamaged(path, str(exc))
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in str(exc):
        return AoError(f"cannot open the store {path} ({exc}): is its directory writable?")
    return None


def quick_check(path: Path, *, header: bool = True) -> str | None:
    """Read every page (SQLite's ``quick_check``): the first problem found, or None.

    ``header=False`` in a process that has the store open (the engine): reading the header with
    a plain ``open``/``close`` would drop every POSIX lock SQLite holds on the file in this
    process (a close releases them all), and another process's write could then corrupt it.
    """
    problem = header_problem(path) if header and not opened_here(path) else None
    if problem:
        return problem
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check(5)").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return str(exc)
        raise describe(exc, path) or exc from None  # no space, locked, unreadable: not damage
    # one row may hold several lines (a "*** in database main ***" heading, then a line per page): one line out
    found = [line.strip() for r in rows if r[0] != "ok" for line in str(r[0]).splitlines()
             if line.strip() and not line.startswith("*** in database")]
    if not found:
        return None
    return "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else "")


def schema_version_of(path: Path) -> int:
    """The schema version a (whole) store file records; 0 for none."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
    return int(row[0]) if row else 0
