"""The C allocator set for a long run: RSS follows what the engine holds (glibc's ``mallopt``, ``malloc_trim``).

A long-running engine frees as much as it allocates, yet its RSS grew about a megabyte a minute in
the soak (``bench/bench_soak.py --probe``, docs/benchmarks.md) while what it held stayed flat
(Python's objects, SQLite's caches, the bytes malloc had handed out): glibc's free-but-kept
memory grew 6 → 17 MB in 12 minutes. glibc raises its mmap threshold each time it frees a large
block (up to 32 MB), so the engine's short-lived large buffers (command output, files read)
come from the arenas instead of their own mappings, and the holes they leave are kept.

* ``fix_mmap_threshold()`` pins the threshold at glibc's default (128 KiB): a large buffer is
  its own mapping again, returned to the system when freed.
* ``PeriodicTrim`` calls ``malloc_trim(0)`` now and then, handing back whole free pages left
  inside the arenas (0.3 ms in the soak).

Where the C library is not glibc (musl, macOS) neither exists and both do nothing.
"""

from __future__ import annotations

import ctypes
import logging
import time
from typing import Any

log = logging.getLogger("ao.memory")

#: glibc's default mmap threshold; pinned, it no longer rises after a large block is freed.
MMAP_THRESHOLD = 128 * 1024
M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)
#: Seconds between trims: often enough that RSS follows what the process holds, rare enough to cost nothing.
TRIM_EVERY = 60.0

_functions: dict[str, Any] = {}


def _libc(name: str) -> Any:
    """A function of the C library the interpreter runs on, or None where it has none."""
    if name not in _functions:
        try:
            _functions[name] = getattr(ctypes.CDLL(None), name)
        except (AttributeError, OSError):
            _functions[name] = None
    return _functions[name]


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Pin glibc's mmap threshold (for the whole process, from now on); False where it cannot be set."""
    mallopt = _libc("mallopt")
    if mallopt is None:
        return False
    try:
        return bool(mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(threshold)))
    except Exception:  # never worth failing the caller over
        log.debug("mallopt failed", exc_info=True)
        return False


def malloc_trim() -> bool:
    """Return the C allocator's free pages to the system now; False where the C library cannot."""
    trim = _libc("malloc_trim")
    if trim is None:
        return False
    try:
        trim(ctypes.c_size_t(0))
    except Exception:
        log.debug("malloc_trim failed", exc_info=True)
        return False
    return True


class PeriodicTrim:
    """``tick(now)`` trims at most once every ``every`` seconds (the first tick only starts the clock)."""

    def __init__(self, every: float = TRIM_EVERY) -> None:
        self.every = every
        self._last: float | None = None
        self.trims = 0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._last is None:
            self._last = now
            return
        if now - self._last >= self.every:
            self._last = now
            if malloc_trim():
                self.trims += 1
