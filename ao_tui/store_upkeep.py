"""The engine's care of its store and disk: backups, pruning, the start-up check, a full disk.

``StoreUpkeep.tick`` is called by the engine loop. It starts (in a thread of
its own, one at a time) the scheduled backup (``store.backup_every``), the
hourly pruning of event history and of old sessions at rest (``ao_tui.store_retention``) and, once, a
``quick_check`` of the whole file. ``DiskWatch`` holds the engine's view of
a full disk: reported once, probed each tick, cleared when a real write
succeeds again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import paths, store_backup, store_retention
from ao_tui.durations import parse_duration
from ao_tui.store_health import NoSpace, is_no_space, quick_check

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.upkeep")

PRUNE_EVERY = 3600.0
PROBE_BYTES = 256 * 1024


class StoreUpkeep:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._busy = threading.Lock()
        self._last_backup = time.monotonic()  # the first scheduled backup comes one interval after start
        self._last_prune = 0.0  # the first pruning comes at start
        self._checked = False

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        cfg = self.engine.config.store
        every = parse_duration(cfg.backup_every)
        jobs = []
        if not self._checked:
            self._checked = True
            jobs.append(self._check)
        if every > 0 and now - self._last_backup >= every:
            self._last_backup = now
            jobs.append(self._backup)
        if now - self._last_prune >= (parse_duration(cfg.prune_every) or PRUNE_EVERY) or not self._last_prune:
            self._last_prune = now
            jobs.append(self._prune)
        if jobs and not self.engine.disk.short and self._busy.acquire(blocking=False):
            threading.Thread(target=self._run, args=(jobs,), name="ao-store-upkeep", daemon=True).start()

    def _run(self, jobs: list[Any]) -> None:
        try:
            for job in jobs:
                try:
                    job()
                except Exception as exc:
                    if not self.engine.disk.report(exc):
                        log.warning("store upkeep (%s) failed: %s", job.__name__.strip("_"), exc)
        finally:
            self._busy.release()

    def _check(self) -> None:
        problem = quick_check(self.engine.store.path, header=False)  # the store is open here: see quick_check
        if problem:
            self.engine.notify("The store is damaged", f"{self.engine.store.path}: {problem}; run `ao store recover`",
                               urgency="critical")

    def _backup(self) -> None:
        b = store_backup.take_backup(self.engine.store.path, reason="scheduled",
                                     keep=self.engine.config.store.keep_backups)
        log.info("store backed up to %s", b.path)

    def _prune(self) -> None:
        cfg = self.engine.config.store
        gone = store_retention.prune_sessions(self.engine.store, keep_days=cfg.keep_finished_days,
                                              kept=store_retention.AtRestCheck(self.engine))
        if gone:
            log.info("moved %d sessions at rest to %s", len(gone), store_retention.archive_dir(self.engine.store))
        for name, project in self.engine.config.projects.items():
            try:
                if n := self.engine.scm(name).prune_finished(project.repo):
                    log.info("%s: deleted %d records and CI logs of PRs long merged or closed", name, n)
            except Exception as exc:
                log.warning("%s: pruning the SCM's records failed: %s", name, exc)
        moved = store_retention.prune(self.engine.store, keep_days=cfg.keep_events_days,
                                      keep_per_session=cfg.keep_events_per_session)
        if moved:
            log.info("moved %d old events to %s", moved, store_retention.archive_dir(self.engine.store))


class DiskWatch:
    """A full disk (or a file-size limit) as the engine sees it: said once, then probed until gone."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reason = ""
        self._lock = threading.Lock()

    @property
    def short(self) -> bool:
        return bool(self.reason)

    def report(self, exc: BaseException) -> bool:
        """Note ``exc`` if it is a write that found no space; True if it was (the caller retries later)."""
        if not is_no_space(exc):
            return False
        with self._lock:
            first = not self.reason
            if first:
                where = getattr(exc, "where", None) or getattr(exc, "filename", None) or self.engine.store.path
                self.reason = f"no space to write {where} ({getattr(exc, 'strerror', None) or exc})"
        if first:
            log.error("%s: sessions keep running; new sessions are refused; writes are retried", self.reason)
            self.engine.notify("Disk full", self.reason + ". ao keeps its sessions, refuses new ones and retries "
                               "its writes until space is free.", urgency="critical")
        return True

    def probe(self) -> bool:
        """Whether space is back: a real file write in the state dir and a store write both succeed."""
        if not self.reason:
            return True
        probe = paths.ao_home() / ".space-probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\0" * PROBE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.engine.store.set_setting("space_probe", str(time.time()))
        except Exception as exc:
            if is_no_space(exc):
                return False
            raise
        finally:
            Path(probe).unlink(missing_ok=True)
        with self._lock:
            reason, self.reason = self.reason, ""
        log.warning("space is back (%s was the problem); resuming writes", reason)
        self.engine.notify("Disk space is back", "ao resumes its writes and new sessions.")
        return True

    def refuse_spawn(self) -> None:
        """Raise the reason a new session cannot start now, if there is one."""
        if self.reason:
            raise NoSpace(self.reason.removeprefix("no space to write ").split(" (")[0],
                          "not starting a new session while writes fail")
        need = self.engine.config.store.min_free_mb * 1024 * 1024
        for where in (paths.ao_home(), paths.workspaces_root()):
            where = next((p for p in (where, *where.parents) if p.exists()), where)
            try:
                free = os.statvfs(where)
            except OSError:
                continue
            avail = free.f_bavail * free.f_frsize
            if avail < need:
                raise NoSpace(where, f"only {avail // (1024 * 1024)} MB free, store.min_free_mb is "
                                     f"{self.engine.config.store.min_free_mb}; not starting a new session")
