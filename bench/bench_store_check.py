"""What checking the store costs: the checks at every open against SQLite's quick_check.

Builds stores of growing size (sessions plus events, as a long run leaves them)
and times: the header check, opening a ``Store`` (header + schema version, what
every ``ao`` command and ``ao-tui`` pays), and ``PRAGMA quick_check`` (reads
every page: what ``ao store check``, each backup and the engine's start pay).

Run: ``python bench/bench_store_check.py [--sizes-mb 1 10 100]``. Prints one JSON line per size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ao_tui.store import Store  # noqa: E402
from ao_tui.store_health import header_problem, quick_check  # noqa: E402


def fill(path: Path, target_mb: float) -> None:
    store = Store(path)
    payload = json.dumps({"detail": "x" * 400})
    n = 0
    while path.stat().st_size < target_mb * 1024 * 1024:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO events(session_id, at, kind, data) VALUES(?,?,?,?)",
                [(f"ao-{(n + i) % 50}", "2026-12-05T00:00:00+00:00", "activity", payload) for i in range(2000)],
            )
        n += 2000
        store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=float, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    for mb in args.sizes_mb:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "ao.sqlite3"
            fill(path, mb)
            header = best(lambda: header_problem(path))
            opening = best(lambda: Store(path).close())
            quick = best(lambda: quick_check(path), runs=3)
            print(json.dumps({"store_mb": round(path.stat().st_size / 1048576, 1),
                              "header_check_ms": round(header * 1000, 3),
                              "open_with_checks_ms": round(opening * 1000, 2),
                              "quick_check_ms": round(quick * 1000, 1)}), flush=True)


if __name__ == "__main__":
    main()
