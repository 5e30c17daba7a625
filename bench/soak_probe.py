"""Where a soak's process holds memory outside the Python heap (``bench_soak.py --probe DIR``).

``start(path)`` samples, every ``every`` seconds, into ``path`` (one JSON line a sample):

* ``rss_kb`` and, from ``/proc/self/smaps``, the resident KB of the ``[heap]`` (glibc's main
  arena), of anonymous mappings (other arenas, big allocations, pymalloc's arenas, thread
  stacks) and of file mappings;
* glibc's ``mallinfo2``: bytes in use (``in_use_kb``), free but kept (``free_kb``), and in
  ``mmap``-ed blocks; and how many malloc arenas glibc has made (``glibc_arenas``, from ``malloc_info``);
* SQLite's own allocator (``sqlite3_memory_used``, process-wide);
* Python's allocated blocks and the thread count.

So a growth can be put down to memory really held by C code (in use grows), by SQLite (its
figure grows), or freed but kept by the allocator (free grows: fragmentation). On SIGUSR2 it
calls ``malloc_trim(0)`` and writes one more line with the RSS before and after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.mallinfo2.restype = _MallInfo2
try:
    _sqlite = ctypes.CDLL("libsqlite3.so.0")
    _sqlite.sqlite3_memory_used.restype = ctypes.c_int64
except OSError:
    _sqlite = None


def _smaps() -> dict[str, int]:
    heap = anon = files = 0
    name = ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        first = line.split(None, 1)[0]
        if "-" in first and not first.endswith(":"):
            parts = line.split()
            name = parts[5] if len(parts) > 5 else ""
        elif first == "Rss:":
            kb = int(line.split()[1])
            if name == "[heap]":
                heap += kb
            elif name == "" or name.startswith("[anon") or name == "[stack]":
                anon += kb
            else:
                files += kb
    return {"heap_kb": heap, "anon_kb": anon, "file_kb": files}


def _glibc_arenas() -> dict[str, int]:
    """glibc's malloc arenas (``malloc_info``'s ``<heap nr=...>``: the main one and one per thread that got its own)."""
    import tempfile

    libc = ctypes.CDLL(None)
    libc.fdopen.restype = ctypes.c_void_p
    with tempfile.TemporaryFile() as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, ctypes.c_void_p(stream))
        libc.fclose(ctypes.c_void_p(stream))
        f.seek(0)
        text = f.read().decode(errors="replace")
    return {"glibc_arenas": text.count("<heap nr=")}


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pymalloc() -> dict[str, int]:
    """Python's small-object allocator: its arenas (1 MiB each, mmap-ed), and how full they are.

    ``sys._debugmallocstats`` prints to the C stderr: it is pointed at a file for the call.
    """
    import tempfile

    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode(errors="replace")
    wanted = {"# arenas allocated current": "py_arenas", "# arenas highwater mark": "py_arenas_max",
              "# bytes in allocated blocks": "py_used_kb", "# bytes in available blocks": "py_free_kb",
              "# bytes lost to pool headers": "py_headers_kb", "# bytes lost to quantization": "py_quant_kb"}
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        name = wanted.get(key.strip())
        if name:
            number = int(value.strip().replace(",", ""))
            out[name] = number // 1024 if name.endswith("_kb") else number
        elif "unused pools" in line and "=" in line:
            out["py_unused_pools_kb"] = int(value.strip().replace(",", "")) // 1024
    return out


def sample() -> dict[str, float]:
    info = _libc.mallinfo2()
    return {
        "rss_kb": _rss_kb(), **_smaps(), **_pymalloc(), **_glibc_arenas(),
        "arena_kb": info.arena // 1024,
        "in_use_kb": (info.uordblks + info.hblkhd) // 1024, "free_kb": info.fordblks // 1024,
        "mmap_kb": info.hblkhd // 1024,
        "sqlite_kb": (_sqlite.sqlite3_memory_used() // 1024) if _sqlite is not None else -1,
        "py_blocks": sys.getallocatedblocks(), "threads": threading.active_count(),
    }


def census() -> dict[str, int]:
    """The kinds of object the garbage collector tracks, 20 or more alive (module.qualname: count)."""
    import gc
    from collections import Counter

    counts = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    return {name: n for name, n in counts.items() if n >= 20}


def containers(prefixes: tuple[str, ...] = ("ao_tui", "ao_tui_plugins")) -> dict[str, int]:
    """The size of every collection ao's own objects and modules hold (``Class.attr`` or ``module.name``: items).

    For each live object of a class defined in ao (and each of ao's modules), each attribute that
    is a dict, set, list, deque or ``lru_cache`` adds its length under its owner's name: a table kept
    per session and never emptied shows as a number that follows the sessions spawned.
    """
    import collections
    import functools
    import gc
    import types

    sized = (dict, set, frozenset, list, collections.deque)
    out: collections.Counter[str] = collections.Counter()

    def add(owner: str, attrs: dict[str, object]) -> None:
        for name, value in attrs.items():
            if isinstance(value, sized):
                out[f"{owner}.{name}"] += len(value)
            elif isinstance(value, functools._lru_cache_wrapper):
                out[f"{owner}.{name}()"] += value.cache_info().currsize

    for name, module in list(sys.modules.items()):
        if isinstance(module, types.ModuleType) and name.startswith(prefixes):
            add(name, {k: v for k, v in vars(module).items() if not k.startswith("__")})
    for o in gc.get_objects():
        cls = type(o)
        module = cls.__dict__.get("__module__")
        if not isinstance(module, str) or not module.startswith(prefixes) or isinstance(o, type):
            continue
        try:
            attrs = dict(getattr(o, "__dict__", {}) or {})
            for slot in getattr(cls, "__slots__", ()):
                if hasattr(o, slot):
                    attrs[slot] = getattr(o, slot)
            add(f"{module}.{cls.__qualname__}", attrs)
        except Exception:  # an object that will not say: left out
            continue
    return {k: v for k, v in out.items() if v}


def owners(type_name: str, samples: int = 12, depth: int = 40) -> list[str]:
    """Who holds objects of ``type_name``: for a few picked at random, the chain of referrers upwards.

    Each step takes the first referrer not seen yet (frames and this function's own lists left out);
    a dict that is an object's ``__dict__`` is shown as that object's type. Slow (a full scan per
    step): for the end of a run.
    """
    import gc
    import random
    import types

    gc.collect()
    picks: list[object] = []
    for o in gc.get_objects():
        if f"{type(o).__module__}.{type(o).__qualname__}" == type_name:
            picks.append(o)
    picks = random.Random(1).sample(picks, min(samples, len(picks)))
    chains: list[str] = []
    for obj in picks:
        chain: list[str] = []
        current, seen = obj, {id(obj)}
        for _ in range(depth):
            refs = gc.get_referrers(current)
            mine = {id(picks), id(chains), id(chain), id(refs), id(seen)}
            nxt = None
            for r in refs:
                if id(r) not in seen and id(r) not in mine and not isinstance(r, types.FrameType):
                    nxt = r
                    break
            del refs
            if nxt is None:
                break
            current = nxt
            seen.add(id(current))
            name = f"{type(current).__module__}.{type(current).__qualname__}"
            if isinstance(current, dict):
                name = f"dict(len={len(current)}, keys~{list(current)[:3]!r:.80})"
                for r in gc.get_referrers(current):
                    if getattr(r, "__dict__", None) is current:
                        name = f"dict of {type(r).__module__}.{type(r).__qualname__}"
                        break
            elif isinstance(current, (list, tuple)):
                name = f"{name}(len={len(current)})"
            chain.append(name)
        chains.append(" <- ".join(chain))
    return chains


def start(path: str, every: float = 30.0) -> None:
    out = Path(path)
    started = time.monotonic()

    def write(record: dict[str, float]) -> None:
        with out.open("a") as f:
            f.write(json.dumps({"t_min": round((time.monotonic() - started) / 60, 2), **record}) + "\n")

    def run() -> None:
        while True:
            record = sample()
            if os.environ.get("AO_SOAK_CENSUS"):
                record["census"] = census()
                record["containers"] = containers()
            write(record)
            time.sleep(every)

    def trim(signum: int, frame: object) -> None:
        before = _rss_kb()
        started = time.perf_counter()
        _libc.malloc_trim(0)
        took = time.perf_counter() - started
        write({"trim": 1, "trim_ms": round(took * 1000, 2), "rss_before_kb": before, **sample()})
        for type_name in filter(None, os.environ.get("AO_SOAK_OWNERS", "").split(",")):
            write({"owners": type_name, "chains": owners(type_name)})

    signal.signal(signal.SIGUSR2, trim)
    threading.Thread(target=run, name="soak-probe", daemon=True).start()
