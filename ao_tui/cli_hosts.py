"""``ao hosts``: every machine sessions may run on, and how it is now."""

from __future__ import annotations

import argparse
import json
from typing import Any

_ENDED = {"merged", "done", "exited", "killed"}


def _live_by_host() -> dict[str, int]:
    """Live sessions per host (a session records the host it runs on)."""
    from ao_tui.paths import store_path

    if not store_path().exists():
        return {}
    from ao_tui.store import open_store

    store = open_store()
    live: dict[str, int] = {}
    try:
        for s in store.list_sessions():
            if s.status.value not in _ENDED:
                live[s.host] = live.get(s.host, 0) + 1
    finally:
        store.close()
    return live


def host_rows(config: Any) -> list[dict[str, Any]]:
    """One row a host: its config and what a probe over its connection found (probed side by side)."""
    from concurrent.futures import ThreadPoolExecutor  # here: every `ao` command builds this parser

    from ao_tui.hosts import create_host
    from ao_tui.paths import ao_home

    hosts = list(config.all_hosts().values())
    live = _live_by_host()

    def probe(host: Any) -> dict[str, Any]:
        status = create_host(host, ao_home()).probe()
        return {"name": host.name, "kind": host.kind, "ssh": host.ssh, "labels": host.labels,
                "max_sessions": host.max_sessions, "sessions": live.get(host.name, 0),
                "reachable": status.reachable, "latency_ms": None if status.latency_ms is None
                else round(status.latency_ms, 1), "load": status.load, "ao_version": status.ao_version,
                "error": status.error}

    with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
        return list(pool.map(probe, hosts))


def cmd_hosts(args: argparse.Namespace) -> int:
    from ao_tui.config import check_hosts, load_config

    config = load_config(getattr(args, "config", None))
    check_hosts(config)
    rows = host_rows(config)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'HOST':<14} {'WHERE':<26} {'STATE':<12} {'LATENCY':>8} {'SESSIONS':>9} {'LOAD':>5}  AO")
    for r in rows:
        where = r["ssh"] or "this machine"
        state = "reachable" if r["reachable"] else "unreachable"
        latency = f"{r['latency_ms']:.0f} ms" if r["latency_ms"] is not None else "-"
        load = f"{r['load']:.2f}" if r["load"] is not None else "-"
        ao = r["ao_version"] or ("not installed" if r["reachable"] else "-")
        print(f"{r['name']:<14} {where:<26} {state:<12} {latency:>8} {r['sessions']:>4}/{r['max_sessions']:<4} "
              f"{load:>5}  {ao}")
        if r["error"]:
            print(f"{'':<14} {r['error']}")
    return 0


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """``ao hosts`` (called by ``ao_tui.cli.build_parser``)."""
    p = sub.add_parser("hosts", help="the machines sessions may run on: reachable, latency, sessions, load, ao there",
                       description="Probe every configured host over its (multiplexed) SSH connection.",
                       parents=[common])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hosts)
