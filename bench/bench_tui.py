"""ao-tui figures: start to first full frame, keypress latency, memory.

    python bench/bench_tui.py               # everything
    python bench/bench_tui.py startup       # or: keys, rss, notices [COUNT], history [FINISHED]

Each figure runs the real ``AoApp`` over a real SQLite store filled with a
fleet of sessions (tests/tui/fleet.py) and a project pointing at a real git
repository, in a fresh ``$AO_HOME``. Prints figures; asserts nothing.
docs/benchmarks.md records the figures measured on the project's machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare(home: Path, count: int, finished: int = 0) -> Path:
    """A store with ``count`` sessions (and ``finished`` done and killed ones, their last change spread over
    the 30 days up to now) and a config file; returns the config path."""
    os.environ["AO_HOME"] = str(home / "ao-home")
    os.environ.setdefault("AO_TMUX_SOCKET", f"ao-bench-{os.getpid()}")
    from datetime import UTC, datetime, timedelta

    from ao_tui.store import open_store
    from tests.tui.fleet import fill_store, finished_sessions, insert_many, make_fixed_repo, many_sessions

    repo = make_fixed_repo(home / "src")
    store = open_store()
    fill_store(store, many_sessions(count))
    if finished:
        insert_many(store, finished_sessions(finished, timedelta(minutes=1), timedelta(days=30),
                                             now=datetime.now(UTC)))
    store.close()
    config = home / "ao.config.yaml"
    config.write_text(f"projects:\n  app:\n    repo: {repo}\n    session_prefix: app\n"
                      f"  web:\n    repo: {repo}\n    session_prefix: web\n")
    return config


# -- child: runs in a fresh interpreter so imports are counted -----------------------


def child_startup(config: str, t0: float) -> None:
    """Start the real app headless; report when the first full frame has been drawn."""
    from ao_tui.config import check_projects, load_config
    from ao_tui.engine import Engine
    from ao_tui.tui.app import AoApp

    imported = time.time() - t0

    class Measured(AoApp):
        def on_mount(self) -> None:
            self.mounted_at = time.time() - t0
            super().on_mount()
            self.call_after_refresh(self._first_frame)

        def _first_frame(self) -> None:
            elapsed = time.time() - t0
            rss_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS")))
            print(json.dumps({
                "first_frame_s": elapsed,
                "first_frame_cpu_s": time.process_time(),  # this process's CPU until then (all threads)
                "imported_s": imported,
                "mounted_s": self.mounted_at,
                "rows": len(self.session_list.rows),
                "anthropic_loaded": "anthropic" in sys.modules,
                "github_loaded": "github" in sys.modules,
                "rss_mb": rss_kb / 1024,
            }), flush=True)
            self.set_timer(1.5, self._settled)

        def _settled(self) -> None:
            rss_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS")))
            print(json.dumps({"rss_settled_mb": rss_kb / 1024}), flush=True)
            self.exit()

    loaded = load_config(config)
    check_projects(loaded)  # as ao-tui does before its first frame: plugins' typed options
    engine = Engine(loaded)
    Measured(engine, start_engine=os.environ.get("BENCH_NO_ENGINE") != "1").run(headless=True, size=(200, 50))


def child_bare(t0: float) -> None:
    """A bare Textual app (one Static), for comparison on the same machine."""
    from textual.app import App
    from textual.widgets import Static

    class Bare(App[None]):
        def compose(self):  # noqa: ANN202
            yield Static("hello")

        def on_mount(self) -> None:
            self.call_after_refresh(self._first_frame)

        def _first_frame(self) -> None:
            print(json.dumps({"first_frame_s": time.time() - t0, "cpu_s": time.process_time()}), flush=True)
            self.exit()

    Bare().run(headless=True, size=(200, 50))


def bare(runs: int) -> dict[str, float]:
    frames, cpu = [], []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run([sys.executable, __file__, "child-bare", repr(t0)], capture_output=True, text=True,
                             timeout=60, env=env)
        got = json.loads(out.stdout.splitlines()[0])
        frames.append(got["first_frame_s"])
        cpu.append(got["cpu_s"])
    return {"bare_textual_first_frame_median_s": statistics.median(frames),
            "bare_textual_first_frame_cpu_median_s": statistics.median(cpu), "runs": runs}


def startup(count: int, runs: int, finished: int = 0) -> dict[str, float]:
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            config = _prepare(Path(tmp), count, finished)
            # Modules from bytecode, as installed (a session's PYTHONDONTWRITEBYTECODE would compile them each run).
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, __file__, "child-startup", str(config), repr(t0)],
                capture_output=True, text=True, env=env, timeout=60,
            )
            lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            if not lines:
                raise SystemExit(f"child failed: {out.stderr[-2000:]}")
            merged = {k: v for d in lines for k, v in d.items()}
            if os.environ.get("BENCH_VERBOSE"):
                print(merged)
            results.append(merged)
            subprocess.run(["tmux", "-L", os.environ["AO_TMUX_SOCKET"], "kill-server"], capture_output=True)
    frames = [r["first_frame_s"] for r in results]
    return {
        "sessions": count,
        **({"finished": finished, "rows": results[0]["rows"]} if finished else {}),
        "runs": runs,
        "first_frame_median_s": statistics.median(frames),
        "first_frame_max_s": max(frames),
        "first_frame_cpu_median_s": statistics.median(r["first_frame_cpu_s"] for r in results),
        "anthropic_loaded": any(r["anthropic_loaded"] for r in results),
        "github_loaded": any(r["github_loaded"] for r in results),
        "rss_first_frame_mb": statistics.median(r["rss_mb"] for r in results),
        "rss_settled_mb": statistics.median(r.get("rss_settled_mb", 0) for r in results),
    }


def keys(count: int, presses: int, with_yes: bool) -> dict[str, float]:
    """Key presses in the session list: from the key event entering the app to the frame that shows it.

    Keys arrive at a person's pace (20-150 ms apart, so the detail and terminal
    panes also reload whenever the cursor rests). With ``with_yes`` the focused
    session's tmux pane runs ``yes`` and streams into the terminal pane all along.
    """
    import gc
    import random

    from textual import events

    pauses: list[float] = []  # full (generation 2) garbage collections during the run
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started["t"] = time.perf_counter()
            elif "t" in started:
                pauses.append(time.perf_counter() - started.pop("t"))

    with tempfile.TemporaryDirectory() as tmp:
        config = _prepare(Path(tmp), count)
        from ao_tui.config import load_config
        from ao_tui.engine import Engine
        from ao_tui.tui.app import AoApp

        socket = os.environ["AO_TMUX_SOCKET"]
        engine = Engine(load_config(str(config)))
        focused = engine.sessions()[0]
        if with_yes:
            subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-s", focused.runtime_handle,
                            "-x", "100", "-y", "40", "--", "yes"], check=True)
        app = AoApp(engine, start_engine=False, watch_store=False)
        timings: list[float] = []
        state: dict[str, float | None] = {"sent": None, "painted": None}
        original = app._display

        def display(screen, renderable):  # noqa: ANN001, ANN202
            original(screen, renderable)
            if renderable is not None and state["sent"] is not None and state["painted"] is None:
                state["painted"] = time.perf_counter()

        app._display = display  # type: ignore[method-assign]
        rng = random.Random(7)

        async def run() -> None:
            async with app.run_test(size=(200, 50)) as pilot:
                await pilot.pause(0.5)
                app.jump_to(focused.id)
                await pilot.pause(1.0)
                for i in range(presses):
                    key = "j" if (i // 20) % 2 == 0 else "k"
                    state["painted"] = None
                    state["sent"] = time.perf_counter()
                    app._driver.send_message(events.Key(key, key))
                    deadline = time.perf_counter() + 5
                    while state["painted"] is None and time.perf_counter() < deadline:
                        await asyncio.sleep(0.0005)
                    timings.append((state["painted"] or time.perf_counter()) - state["sent"])
                    state["sent"] = None
                    await asyncio.sleep(rng.uniform(0.02, 0.15))

        gc.callbacks.append(on_gc)
        try:
            asyncio.run(run())
        finally:
            gc.callbacks.remove(on_gc)
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    timings.sort()
    return {
        "sessions": count,
        "presses": presses,
        "focused_agent_running_yes": with_yes,
        "p50_ms": timings[len(timings) // 2] * 1000,
        "p99_ms": timings[int(len(timings) * 0.99) - 1] * 1000,
        "max_ms": timings[-1] * 1000,
        "full_gc_runs": len(pauses),
        "full_gc_max_ms": max(pauses, default=0.0) * 1000,
    }


def notices(count: int) -> dict[str, float]:
    """``count`` notices, one every 20 ms, each gone after 0.3 s (a busy fleet's hour of them in a minute):
    what stays alive afterwards. Widgets mounted and removed per notice stay alive for a while in Textual's
    per-widget render caches (``StylesCache``, up to 1024 of them): the soak's growth before issue 16."""
    import gc

    from textual.widget import Widget

    def census() -> dict[str, float]:
        """Objects made since start-up (the app freezes those before: ``gc.freeze``) still alive."""
        gc.collect()
        kinds = [type(o) for o in gc.get_objects()]
        rss_kb = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS")))
        return {"widgets": sum(1 for k in kinds if issubclass(k, Widget)),
                "styles_caches": sum(1 for k in kinds if k.__name__ == "StylesCache"), "rss_mb": rss_kb / 1024}

    with tempfile.TemporaryDirectory() as tmp:
        config = _prepare(Path(tmp), 20)
        from ao_tui.config import load_config
        from ao_tui.engine import Engine
        from ao_tui.tui.app import AoApp

        engine = Engine(load_config(str(config)))
        app = AoApp(engine, start_engine=False, watch_store=False)
        figures: dict[str, float] = {"notices": count}

        async def run() -> None:
            async with app.run_test(size=(160, 48), notifications=True) as pilot:
                await pilot.pause(0.5)
                app.notify("warming up", timeout=0.3)  # the first notice's one-off costs (styles, a rack)
                await pilot.pause(1.0)
                before = census()
                for n in range(count):
                    app.notify(f"app-{n % 20} needs you\npermission: Bash ls", timeout=0.3)
                    await pilot.pause(0.02)
                await pilot.pause(1.0)
                after = census()
                figures.update({f"{k}_before": v for k, v in before.items()})
                figures.update({f"{k}_after": v for k, v in after.items()})

        asyncio.run(run())
    return figures


def history(finished: int, live: int = 20, reloads: int = 30) -> dict[str, float]:
    """A long-used store: ``finished`` done and killed sessions over 30 days and ``live`` at work.

    The time of one reload after a store change (what the control room does each time another
    process writes, several times a second in a busy fleet: read, order, redraw the list), the
    list's rows, and RSS after the reloads."""
    from ao_tui.models import SessionStatus

    with tempfile.TemporaryDirectory() as tmp:
        config = _prepare(Path(tmp), live, finished)
        from ao_tui.config import load_config
        from ao_tui.engine import Engine
        from ao_tui.store import open_store
        from ao_tui.tui.app import AoApp

        engine = Engine(load_config(str(config)))
        other = open_store()  # another process's writes: a second connection
        live_ids = [s.id for s in engine.sessions(include_at_rest=False)]
        app = AoApp(engine, start_engine=False, watch_store=False)
        timings: list[float] = []  # the reload itself: read, order, hand the rows to the list
        framed: list[float] = []  # and the frame that shows them
        figures: dict[str, float] = {"finished": finished, "live": live, "reloads": reloads}

        async def run() -> None:
            async with app.run_test(size=(200, 50)) as pilot:
                await pilot.pause(0.5)
                for i in range(reloads):
                    other.mutate(live_ids[i % len(live_ids)], lambda s: None)
                    t0 = time.perf_counter()
                    app.reload_sessions()
                    timings.append(time.perf_counter() - t0)
                    await pilot.pause()  # the redraw it asked for
                    framed.append(time.perf_counter() - t0)
                    await pilot.pause(0.05)
                figures["list_rows"] = len(app.session_list.rows)
                figures["sessions_read"] = len(app.all_sessions)
                rss_kb = int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmRSS")))
                figures["rss_mb"] = rss_kb / 1024

        asyncio.run(run())
        t0 = time.perf_counter()
        for _ in range(10):
            engine.sessions()
        figures["parse_every_session_ms"] = (time.perf_counter() - t0) / 10 * 1000
        figures["at_rest_in_store"] = engine.store.count_sessions(frozenset({SessionStatus.DONE, SessionStatus.KILLED}))
        other.close()
    timings.sort()
    figures.update({"reload_median_ms": statistics.median(timings) * 1000, "reload_max_ms": timings[-1] * 1000,
                    "reload_and_frame_median_ms": statistics.median(framed) * 1000})
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child-startup":
        child_startup(sys.argv[2], float(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "child-bare":
        child_bare(float(sys.argv[2]))
        return
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("all", "startup"):
        print(json.dumps(bare(5)))
        print(json.dumps(startup(50, 7)))
    if what in ("all", "rss"):
        print(json.dumps(startup(100, 3)))
    if what in ("all", "notices"):
        print(json.dumps(notices(int(sys.argv[2]) if what == "notices" and len(sys.argv) > 2 else 1200)))
    if what in ("all", "history"):
        finished = int(sys.argv[2]) if what == "history" and len(sys.argv) > 2 else 2000
        print(json.dumps(startup(20, 3, finished)))
        print(json.dumps(history(finished)))
    if what in ("all", "keys"):
        print(json.dumps(keys(100, 200, with_yes=False)))
        print(json.dumps(keys(100, 200, with_yes=True)))


if __name__ == "__main__":
    main()
