"""Backups of the store: consistent online copies, kept in a bounded number.

A copy is made with SQLite's backup API (consistent while other processes
write), checked with ``quick_check`` and only then given its final name, so
every file in the backup directory is a whole store. Taken by the engine on a
schedule (``store.backup_every``), before every schema migration, and by hand
(``ao store backup``). A store is never deleted: restoring moves the current
file (and its WAL) aside under a dated name.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ao_tui import paths
from ao_tui.errors import AoError
from ao_tui.store_health import quick_check, schema_version_of

DEFAULT_KEEP = 10
_NAME = re.compile(r"^ao-(\d{8}T\d{6}\.\d{6}Z)-([a-z0-9-]+)\.sqlite3$")
_SIDECARS = ("-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Backup:
    path: Path
    taken_at: datetime
    reason: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def backups_dir(store_path: Path | None = None) -> Path:
    """Beside the store: ``<ao_home>/backups``."""
    return (Path(store_path).parent if store_path else paths.ao_home()) / "backups"


def _stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")


def list_backups(store_path: Path | None = None) -> list[Backup]:
    """Newest first."""
    folder = backups_dir(store_path)
    found = []
    for p in folder.glob("ao-*.sqlite3") if folder.is_dir() else []:
        m = _NAME.match(p.name)
        if m:
            when = datetime.strptime(m.group(1), "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
            found.append(Backup(p, when, m.group(2)))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def take_backup(store_path: Path, *, reason: str = "manual", keep: int = DEFAULT_KEEP) -> Backup:
    """Copy the store online into the backup dir; drop the oldest beyond ``keep``."""
    store_path = Path(store_path)
    if not store_path.exists():
        raise AoError(f"no store at {store_path} to back up")
    folder = paths.ensure_dir(backups_dir(store_path))
    reason = re.sub(r"[^a-z0-9-]+", "-", reason.lower()).strip("-") or "manual"
    final = folder / f"ao-{_stamp()}-{reason}.sqlite3"
    partial = folder / f".{final.name}.partial"
    try:
        src = sqlite3.connect(store_path, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=256)  # steps: writers are held up for a moment at a time only
            finally:
                dst.close()
        finally:
            src.close()
        problem = quick_check(partial)
        if problem:
            raise AoError(f"the store {store_path} could not be backed up whole ({problem}); "
                          "run `ao store check`")
        _fsync(partial)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    prune_backups(store_path, keep)
    return Backup(final, datetime.now(UTC), reason)


def prune_backups(store_path: Path, keep: int) -> list[Path]:
    """Delete the oldest backups beyond ``keep`` (never fewer than one is kept)."""
    removed = []
    for b in list_backups(store_path)[max(keep, 1):]:
        b.path.unlink(missing_ok=True)
        removed.append(b.path)
    return removed


def newest_good_backup(store_path: Path, known_schema: int) -> tuple[Backup | None, list[str]]:
    """The newest backup that reads whole and that this ao can open; and why others were passed over."""
    passed: list[str] = []
    for b in list_backups(store_path):
        problem = quick_check(b.path)
        if problem is None and schema_version_of(b.path) > known_schema:
            problem = "written by a newer ao"
        if problem is None:
            return b, passed
        passed.append(f"{b.path.name}: {problem}")
    return None, passed


def engine_running(store_path: Path) -> bool:
    """Whether an engine (``ao run`` or an ``ao-tui``) holds the engine lock beside the store."""
    lock = Path(store_path).parent / "engine.lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def set_aside(store_path: Path, label: str) -> Path | None:
    """Move the store and its WAL/SHM aside as ``<name>.<label>-<time>`` (never deleted). None if absent."""
    store_path = Path(store_path)
    if not store_path.exists():
        for suffix in _SIDECARS:  # a WAL without its database would be paired with the next one
            Path(f"{store_path}{suffix}").unlink(missing_ok=True)
        return None
    aside = store_path.with_name(f"{store_path.name}.{label}-{_stamp()}")
    os.replace(store_path, aside)
    for suffix in _SIDECARS:
        side = Path(f"{store_path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))
    return aside


def restore_backup(store_path: Path, backup: Path, *, known_schema: int, label: str = "replaced") -> Path | None:
    """Put ``backup`` in the store's place; the current store is moved aside (returned)."""
    store_path, backup = Path(store_path), Path(backup)
    if not backup.is_file():
        raise AoError(f"no backup at {backup} (see `ao store backup --list`)")
    problem = quick_check(backup)
    if problem:
        raise AoError(f"the backup {backup} is damaged ({problem}); pick another (`ao store backup --list`)")
    if schema_version_of(backup) > known_schema:
        raise AoError(f"the backup {backup} was written by a newer ao; this ao cannot open it")
    if engine_running(store_path):
        raise AoError("an engine is running (`ao run` or an ao-tui): stop it first, then restore")
    copy = store_path.with_name(f".{store_path.name}.restoring")
    shutil.copyfile(backup, copy)
    _fsync(copy)
    aside = set_aside(store_path, label)
    os.replace(copy, store_path)
    return aside


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
