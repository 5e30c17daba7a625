"""``ao store check|backup|restore|recover|orphans``: the store's safety commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ao_tui.errors import AoError


def _store_path() -> Path:
    from ao_tui.paths import store_path

    return store_path()


def _known_schema() -> int:
    from ao_tui.store import known_schema_version

    return known_schema_version()


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise AoError(f"{question}: confirm with --yes (no terminal to ask on)")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_check(args: argparse.Namespace) -> int:
    from ao_tui.store_backup import list_backups
    from ao_tui.store_health import StoreDamaged, StoreTooNew, quick_check, schema_version_of

    path = _store_path()
    if not path.exists():
        print(f"no store yet at {path} (ao makes one on first use)")
        return 0
    problem = quick_check(path)
    if problem:
        raise StoreDamaged(path, problem)
    version = schema_version_of(path)
    if version > _known_schema():
        raise StoreTooNew(path, version, _known_schema())
    backups = list_backups(path)
    newest = f"newest backup {backups[0].taken_at:%Y-%m-%d %H:%M} UTC" if backups else "no backups yet"
    print(f"{path}: ok (schema {version}, {_size(path.stat().st_size)}; {len(backups)} backup(s), {newest})")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from ao_tui.store_backup import list_backups, take_backup

    path = _store_path()
    if args.list:
        backups = list_backups(path)
        if not backups:
            print(f"no backups in {path.parent / 'backups'} (take one with `ao store backup`)")
        for b in backups:
            print(f"{b.path}  {b.taken_at:%Y-%m-%d %H:%M:%S} UTC  {b.reason}  {_size(b.size)}")
        return 0
    backup = take_backup(path, reason="manual", keep=_keep(args))
    print(f"backed up {path} to {backup.path}")
    return 0


def _keep(args: argparse.Namespace) -> int:
    from ao_tui.store_backup import DEFAULT_KEEP

    try:
        from ao_tui.config import load_config

        return int(load_config(getattr(args, "config", None)).store.keep_backups)
    except Exception:
        return DEFAULT_KEEP


def cmd_restore(args: argparse.Namespace) -> int:
    from ao_tui.store_backup import newest_good_backup, restore_backup

    path = _store_path()
    if args.backup:
        chosen = Path(args.backup)
    else:
        found, passed = newest_good_backup(path, _known_schema())
        for line in passed:
            print(f"skipped {line}")
        if found is None:
            raise AoError(f"no usable backup in {path.parent / 'backups'}; `ao store recover` rebuilds from what exists")
        chosen = found.path
    if not _confirm(f"replace {path} with {chosen} (the current store is kept aside)", args.yes):
        print("nothing changed")
        return 1
    aside = restore_backup(path, chosen, known_schema=_known_schema())
    print(f"restored {chosen}" + (f"; the previous store is kept at {aside}" if aside else ""))
    print("sessions started since that backup come back with `ao store recover`")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from ao_tui.store_backup import engine_running, newest_good_backup, restore_backup, set_aside
    from ao_tui.store_health import StoreTooNew, quick_check, schema_version_of

    path = _store_path()
    problem = quick_check(path) if path.exists() else None
    if problem is None and path.exists():
        version = schema_version_of(path)
        if version > _known_schema():
            raise StoreTooNew(path, version, _known_schema())
    if (problem or args.from_backup) and engine_running(path):
        raise AoError("an engine is running (`ao run` or an ao-tui): stop it first, then run `ao store recover`")
    if args.from_backup:
        aside = restore_backup(path, Path(args.from_backup), known_schema=_known_schema(),
                               label="damaged" if problem else "replaced")
        print(f"restored {args.from_backup}" + (f"; the previous store is kept at {aside}" if aside else ""))
    elif not path.exists() and (found := newest_good_backup(path, _known_schema())[0]) is not None:
        restore_backup(path, found.path, known_schema=_known_schema())
        print(f"no store at {path}: restored the backup of {found.taken_at:%Y-%m-%d %H:%M} UTC")
    elif problem:
        print(f"the store {path} is damaged: {problem}")
        found, passed = newest_good_backup(path, _known_schema())
        for line in passed:
            print(f"skipped backup {line}")
        if found is not None:
            aside = restore_backup(path, found.path, known_schema=_known_schema(), label="damaged")
            print(f"kept the damaged store at {aside}; restored the backup of {found.taken_at:%Y-%m-%d %H:%M} UTC")
        else:
            aside = set_aside(path, "damaged")
            print(f"kept the damaged store at {aside}; no usable backup: starting from an empty store")
    return _adopt(args)


def _engine(args: argparse.Namespace) -> Any:
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    return Engine(load_config(getattr(args, "config", None)))


def _adopt(args: argparse.Namespace) -> int:
    from ao_tui.store_recovery import adopt

    engine = _engine(args)
    lines = adopt(engine)
    for line in lines:
        print(line)
    sessions = engine.sessions()
    print(f"the store knows {len(sessions)} session(s); `ao ls --all` lists them, `ao restore ID` resumes one")
    return 0


def cmd_orphans(args: argparse.Namespace) -> int:
    from ao_tui.store_recovery import clean, find_orphans

    engine = _engine(args)
    orphans = find_orphans(engine)
    if not orphans:
        print("no orphans: every tmux session on ao's socket and every workspace has a session record")
        return 0
    for line in orphans.lines():
        print(line)
    if not args.clean:
        print("adopt them with `ao store recover`, or stop and remove them with `ao store orphans --clean`")
        return 0
    if not _confirm(f"stop {len(orphans.tmux)} tmux session(s) and remove {len(orphans.workspaces)} workspace(s) "
                    "(branches with unsaved work are kept)", args.yes):
        print("nothing changed")
        return 1
    for line in clean(engine, orphans):
        print(line)
    return 0


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``ao store ...`` (called by ``ao_tui.cli.build_parser``)."""
    p = sub.add_parser("store", help="check, back up, restore or recover the store (see README, When things go wrong)",
                       description="The store's safety commands.", parents=[common])
    actions = p.add_subparsers(dest="store_action", metavar="ACTION", required=True)

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        q: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text, parents=[common])
        q.set_defaults(func=func)
        return q

    add("check", cmd_check, "read every page of the store and say whether it is whole")
    q = add("backup", cmd_backup, "take a consistent backup now (the engine also takes them on a schedule)")
    q.add_argument("--list", action="store_true", help="list the backups, newest first")
    q = add("restore", cmd_restore, "put a backup (default: the newest good one) in the store's place")
    q.add_argument("backup", nargs="?", help="a backup file (see `ao store backup --list`)")
    q.add_argument("--yes", action="store_true", help="do not ask")
    q = add("recover", cmd_recover, "rebuild a damaged store from its newest good backup and what exists "
                                    "(tmux sessions, workspaces, hook events, transcripts, PRs); adopt orphans")
    q.add_argument("--from", dest="from_backup", metavar="BACKUP", help="start from this backup")
    q = add("orphans", cmd_orphans, "list tmux sessions and workspaces no session record names")
    q.add_argument("--clean", action="store_true", help="stop and remove them (asks first)")
    q.add_argument("--yes", action="store_true", help="do not ask")
