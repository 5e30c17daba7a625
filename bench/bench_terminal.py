"""Live terminal pane under a flood: how far behind tmux it draws, and how fast keys are handled.

A program in a real tmux session (private socket) prints as fast as it can:
``yes``-style lines with a wall-clock marker every 20 lines. The pane is a
``TerminalView`` following it through ``Engine`` (tmux control-mode stream) in
a headless Textual app at 200x50, next to a focused list-like widget that
receives a key every 20 ms. Measured over ``--seconds``:

* lag: now minus the newest marker on the view's screen, sampled every 20 ms;
* key latency: from the key event's creation to its handler;
* what the view received, dropped and re-captured, and the process's CPU;
* before the flood: switching to a quiet 40-line session (``show``), ten times: until its
  screen is in the view, and how long ``show`` itself holds the event loop.

    python bench/bench_terminal.py [--seconds 10] [--size 200x50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOOD = (
    "import sys, time\n"
    "out = sys.stdout\n"
    "block = 'y\\n' * 19\n"
    "while True:\n"
    "    out.write(block + 'MARK %.4f\\n' % time.time())\n"
)
QUIET = (
    "import sys, time\n"
    "for n in range(40):\n"
    "    sys.stdout.write('\\x1b[38;5;%dm session two, line %d \\x1b[1mbold\\x1b[0m ' % (n + 100, n) + 'x' * 120 + '\\r\\n')\n"
    "sys.stdout.flush()\n"
    "time.sleep(3600)\n"
)
MARK = re.compile(r"MARK (\d+\.\d+)")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def make_engine(tmp: Path):  # noqa: ANN201
    """An Engine over a throwaway repo whose tmux runtime runs the flood in session bt-1."""
    os.environ["AO_HOME"] = str(tmp / "ao-home")
    os.environ["AO_TMUX_SOCKET"] = f"ao-bench-{uuid.uuid4().hex[:8]}"
    repo = tmp / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "ao.config.yaml").write_text("projects:\n  bench:\n    repo: .\n    session_prefix: bt\n")
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import Session

    engine = Engine(load_config(str(repo / "ao.config.yaml")))
    session = Session(id="bt-1", project="bench", branch="ao/bt-1", workspace=str(repo), runtime="tmux",
                      runtime_handle="bt-1", agent="claude-code", prompt="flood")
    engine.store.insert_session(session)
    return engine, session


async def run(seconds: float, size: tuple[int, int]) -> dict[str, float]:
    from textual import events
    from textual.app import App, ComposeResult
    from textual.widget import Widget

    from ao_tui.tui.terminal_source import EngineTerminalSource
    from ao_tui.tui.terminal_view import TerminalView

    latencies: list[float] = []

    class KeySink(Widget, can_focus=True):
        DEFAULT_CSS = "KeySink { height: 3; }"

        def on_key(self, event: events.Key) -> None:
            latencies.append(time.monotonic() - event.time)
            event.stop()

    class BenchApp(App):
        def compose(self) -> ComposeResult:
            yield KeySink()
            yield TerminalView(id="term")

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-term-"))
    engine, session = make_engine(tmp)
    runtime = engine.runtime(session)
    width, height = size
    lags: list[float] = []
    try:
        from ao_tui.models import Session

        quiet = Session(id="bt-2", project="bench", branch="ao/bt-2", workspace=session.workspace, runtime="tmux",
                        runtime_handle="bt-2", agent="claude-code", prompt="quiet")
        engine.store.insert_session(quiet)
        runtime.create("bt-2", Path(session.workspace), [sys.executable, "-c", QUIET], {}, size=(width - 3, height - 5))
        app = BenchApp()
        async with app.run_test(size=size) as pilot:
            view = app.query_one(TerminalView)
            app.query_one(KeySink).focus()
            await pilot.pause(0.5)
            gc.freeze()  # as ao-tui does once its first frame is drawn (ao_tui/tui/app.py)
            switches: list[float] = []
            blocked: list[float] = []
            for _ in range(10):  # switching to a session: its screen is captured off the event loop
                view.show(None)
                started = time.monotonic()
                view.show(EngineTerminalSource(engine, "bt-2"))
                blocked.append(time.monotonic() - started)
                while "session two" not in view.screen_text() and time.monotonic() - started < 5:
                    await asyncio.sleep(0.001)
                switches.append(time.monotonic() - started)
                assert "session two" in view.screen_text(), view.screen_text()
                await pilot.pause(0.05)
            runtime.create("bt-1", Path(session.workspace), [sys.executable, "-c", FLOOD], {},
                           size=(width - 3, height - 5))
            view.show(EngineTerminalSource(engine, "bt-1"))
            await pilot.pause(1.0)  # subscribe, seed, settle into the flood
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            bytes0 = view.stats["bytes"]
            dropped0, resyncs0 = view.stats["dropped"], view.stats["resyncs"]
            started = time.monotonic()
            next_key = started
            while time.monotonic() - started < seconds:
                now = time.monotonic()
                if now >= next_key:
                    app.post_message(events.Key("down", None))
                    next_key = now + 0.02
                marks = [float(m) for line in view.screen_lines() for m in MARK.findall(line)]
                if marks:
                    lags.append(time.time() - max(marks))
                await asyncio.sleep(0.02)
            elapsed = time.monotonic() - started
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            stats = dict(view.stats)
            view.show(None)  # close the stream (and its tmux client) before the loop ends
            await pilot.pause(0.3)
        received = stats["bytes"] - bytes0
        cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        return {
            "seconds": elapsed,
            "switch_p50_ms": percentile(switches, 50) * 1000,
            "switch_max_ms": max(switches) * 1000,
            "switch_blocks_loop_max_ms": max(blocked) * 1000,
            "lag_p50_ms": percentile(lags, 50) * 1000,
            "lag_p95_ms": percentile(lags, 95) * 1000,
            "lag_p99_ms": percentile(lags, 99) * 1000,
            "lag_max_ms": max(lags) * 1000 if lags else float("nan"),
            "lag_samples": len(lags),
            "key_p50_ms": percentile(latencies, 50) * 1000,
            "key_p99_ms": percentile(latencies, 99) * 1000,
            "key_max_ms": max(latencies) * 1000 if latencies else float("nan"),
            "keys": len(latencies),
            "stream_mb_s": received / elapsed / 1e6,
            "dropped_share": (stats["dropped"] - dropped0) / max(1, received),
            "resyncs_per_s": (stats["resyncs"] - resyncs0) / elapsed,
            "cpu_share": cpu / elapsed,
            "mean_lag_ms": statistics.fmean(lags) * 1000 if lags else float("nan"),
        }
    finally:
        try:
            runtime.kill("bt-1")
            runtime.kill("bt-2")
        finally:
            subprocess.run(["tmux", "-L", os.environ["AO_TMUX_SOCKET"], "kill-server"], capture_output=True)
            socket = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / os.environ["AO_TMUX_SOCKET"]
            socket.unlink(missing_ok=True)
            engine.store.close()
            subprocess.run(["rm", "-rf", str(tmp)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="200x50", help="app size, WxH")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.lower().split("x"))
    result = asyncio.run(run(args.seconds, (width, height)))
    for key, value in result.items():
        print(f"{key:>16}: {value:.3f}" if isinstance(value, float) else f"{key:>16}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
