"""A long-running ao gives back the memory glibc keeps free: RSS follows what the process holds (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.malloc_tuning import PeriodicTrim, malloc_trim

ROOT = Path(__file__).resolve().parents[2]

FRAGMENT = """
import json
from pathlib import Path
from ao_tui.malloc_tuning import malloc_trim

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

buffers = [b"x" * 100_000 for _ in range(400)]  # 40 MB in the heap (each under glibc's mmap threshold)
kept = buffers[::20]  # a survivor every 2 MB: the free space between them cannot shrink the heap's top
del buffers
before = rss_mb()
trimmed = malloc_trim()
print(json.dumps({"before": before, "after": rss_mb(), "trimmed": trimmed, "kept": len(kept)}))
"""


def test_memory_freed_between_live_buffers_goes_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout
    figures = json.loads(out)
    if not figures["trimmed"]:
        pytest.skip("this C library has no malloc_trim (not glibc)")
    assert figures["before"] - figures["after"] > 20, figures  # ~36 MB of holes handed back


LARGE_BUFFERS = """
import json, sys
from pathlib import Path
from ao_tui.malloc_tuning import fix_mmap_threshold

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

pinned = fix_mmap_threshold() if sys.argv[1] == "pinned" else None
first = b"x" * 400_000
del first  # glibc's own rule: the threshold rises past this block's size
buffers, kept = [], []
for i in range(150):
    buffers.append(b"x" * 300_000)  # transient large buffers (command output, a file read)
    kept.append(b"k" * 100_000)  # with something long-lived (under the threshold) in between
base = rss_mb()
del buffers
print(json.dumps({"pinned": pinned, "held": base, "after": rss_mb()}))
"""


def _large_buffers(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", LARGE_BUFFERS, mode], capture_output=True, text=True, timeout=60,
                         cwd=ROOT, check=True).stdout
    return json.loads(out)


def test_large_short_lived_buffers_go_back_to_the_system_when_freed() -> None:
    pinned = _large_buffers("pinned")
    if not pinned["pinned"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    assert pinned["held"] - pinned["after"] > 35, pinned  # ~43 MB of buffers handed back at once
    default = _large_buffers("default")  # what glibc does unpinned: the freed buffers stay in RSS
    assert default["held"] - default["after"] < 10, default


def test_the_trim_comes_once_a_period_and_never_fails_the_caller() -> None:
    trim = PeriodicTrim(every=60.0)
    trim.tick(1000.0)  # the clock starts
    trim.tick(1059.0)
    assert trim.trims == 0
    trim.tick(1060.0)
    trim.tick(1061.0)
    available = malloc_trim()
    assert trim.trims == (1 if available else 0)
    trim.tick(1120.0)
    assert trim.trims == (2 if available else 0)


def test_the_engine_loop_trims_as_it_ticks(ao_store, tmp_path: Path) -> None:  # noqa: ANN001
    from ao_tui.config import parse_config
    from ao_tui.engine import Engine
    from ao_tui.engine_loop import EngineLoop

    engine = Engine(parse_config(f"projects:\n  demo:\n    repo: {tmp_path}\n    session_prefix: dm\n"
                                 "    notifiers: []\n", "ao.config.yaml"), store=ao_store)
    loop = EngineLoop(engine)
    assert loop.memory.every == 60.0
    loop.memory = PeriodicTrim(every=0.0)
    loop.tick()
    loop.tick()
    assert loop.memory.trims == (1 if malloc_trim() else 0)
