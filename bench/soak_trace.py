"""tracemalloc inside a soak's process: where its Python memory grows (``bench_soak.py --trace DIR``).

``start(path)`` traces allocations (a few frames each), takes a baseline snapshot after
``first_after`` seconds and then, every ``every`` seconds, writes to ``path`` the traced size and
the 15 tracebacks whose allocations grew most since the baseline; ``path + ".json"`` holds the
latest traced size alone, for the soak's samples. The traced size is what Python really holds:
RSS can stay up after a drop (the allocator keeps its arenas), the traced size cannot.
"""

from __future__ import annotations

import json
import linecache
import threading
import time
import tracemalloc
from pathlib import Path

TOP = 25


def start(path: str, first_after: float = 120.0, every: float = 60.0, frames: int = 8) -> None:
    tracemalloc.start(frames)
    out = Path(path)
    started = time.monotonic()
    # (the report's own source lines, read through linecache, are not the process's growth)
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__),
              tracemalloc.Filter(False, linecache.__file__)]

    def write_size() -> int:
        current = tracemalloc.get_traced_memory()[0]
        Path(f"{path}.json").write_text(json.dumps({"t_min": round((time.monotonic() - started) / 60, 2),
                                                    "traced_mb": round(current / 2**20, 2)}))
        return current

    def run() -> None:
        time.sleep(first_after)
        base = tracemalloc.take_snapshot().filter_traces(ignore)
        base_size = write_size()
        while True:
            time.sleep(every)
            size = write_size()
            snap = tracemalloc.take_snapshot().filter_traces(ignore)
            lines = [f"t={(time.monotonic() - started) / 60:.1f} min  traced {base_size / 2**20:.2f} -> "
                     f"{size / 2**20:.2f} MB (since t={first_after / 60:.1f} min)"]
            for stat in snap.compare_to(base, "traceback")[:TOP]:
                lines.append(f"\n{stat.size_diff / 1024:+.1f} KiB ({stat.count_diff:+d} blocks), now "
                             f"{stat.size / 1024:.1f} KiB")
                lines.extend("    " + line for line in stat.traceback.format(limit=frames, most_recent_first=True))
            out.write_text("\n".join(lines) + "\n")
            Path(f"{path}.{(time.monotonic() - started) / 60:04.1f}min").write_text("\n".join(lines) + "\n")
            del snap, lines  # the next size must not count this snapshot (it is traced too)

    threading.Thread(target=run, name="soak-trace", daemon=True).start()
