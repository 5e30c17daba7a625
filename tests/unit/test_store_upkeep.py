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


def test_the_pruning_at_start_moves_old_sessions_at_rest_to_the_archive(ao_store, ao_home: Path, tmp_path: Path) -> None:
    from datetime import timedelta

    from ao_tui.config import parse_config
    from ao_tui.models import Session, SessionStatus, utcnow
    from tests.support.gitrepo import make_repo

    repo = make_repo(tmp_path)
    engine = Engine(parse_config(f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n"
                                 "    notifiers: []\nstore:\n  keep_finished_days: 7\n", "ao.config.yaml"), ao_store)
    for sid in ("dm-1", "dm-2"):
        ao_store.insert_session(Session(id=sid, project="demo", branch=f"ao/{sid}",
                                        workspace=str(ao_home / "workspaces" / "demo" / sid)))
        ao_store.transition(sid, SessionStatus.KILLED)
    with ao_store.transaction() as tx:
        tx.execute("UPDATE sessions SET updated_at=? WHERE id='dm-1'", ((utcnow() - timedelta(days=8)).isoformat(),))
    upkeep = StoreUpkeep(engine)
    upkeep.tick()
    wait_until(lambda: not upkeep._busy.locked(), timeout=10)
    assert [s.id for s in ao_store.list_sessions()] == ["dm-2"]
    assert list((ao_home / "archive").glob("sessions-*.jsonl"))
