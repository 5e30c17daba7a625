"""The engine's upkeep of its store: scheduled backups bounded in number, a full disk said once."""

from __future__ import annotations

import errno
import time
from pathlib import Path

from ao_tui.config import Config, StoreConfig
from ao_tui.engine import Engine
from ao_tui.store_backup import list_backups
from ao_tui.store_upkeep import StoreUpkeep
from tests.support.waiting import wait_until


def test_backups_come_on_schedule_and_only_the_newest_are_kept(ao_store, ao_home: Path) -> None:
    engine = Engine(Config(store=StoreConfig(backup_every="6h", keep_backups=2)), ao_store)
    upkeep = StoreUpkeep(engine)
    start = time.monotonic()
    upkeep.tick(start)  # at start: the check and the pruning, no backup yet
    wait_until(lambda: not upkeep._busy.locked(), timeout=10)
    assert list_backups(ao_store.path) == []
    for n in range(1, 4):
        upkeep.tick(start + n * 6 * 3600 + 1)
        wait_until(lambda: not upkeep._busy.locked() and list_backups(ao_store.path), timeout=10)
    backups = list_backups(ao_store.path)
    assert len(backups) == 2 and {b.reason for b in backups} == {"scheduled"}


def test_a_full_disk_is_said_once_and_its_end_too(ao_store, ao_home: Path) -> None:
    engine = Engine(Config(), ao_store)
    notices: list[str] = []
    engine.subscribe_notifications(lambda n: notices.append(n.title))
    for _ in range(3):
        assert engine.disk.report(OSError(errno.ENOSPC, "No space left on device", str(ao_home / "x")))
    assert not engine.disk.report(OSError(errno.EACCES, "Permission denied"))
    assert notices == ["Disk full"] and engine.disk.short
    try:
        engine.spawn(prompt="x")
    except Exception as exc:
        assert "no space" in str(exc)
    else:
        raise AssertionError("a spawn while the disk is full must be refused")
    assert engine.disk.probe()  # the disk here has room: space is back
    assert notices == ["Disk full", "Disk space is back"] and not engine.disk.short
