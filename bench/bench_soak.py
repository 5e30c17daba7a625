"""A long run stays flat: 20 stand-in agents for a while under `ao run` (and one ao-tui).

The demo fleet (``ao_tui.demo``: stand-ins speaking Claude Code's argv, screen, transcript and
hooks) runs ``--agents`` sessions at once: they work, ask for permission, commit, break the local
CI (``check.py``) and fix it, receive ao's CI-failure and review messages, get approved, merged and
retired, and new ones take their slots. Finished sessions stay in the store as they do in a user's
(the demo itself deletes all but the newest few; ``--keep-finished N`` does that here), so each pass
of the engine meets the whole history. The engine is ``ao run`` in its own process; one
``ao-tui`` follows it in a tmux window of its own (``--no-tui`` leaves it out). The scripted
people (the demo's director) act from this process through an engine without a loop.

The store is configured for the run to show its bounds quickly: events pruned every 2 minutes to
300 per session (a deleted session's go at once) into the archive, a backup every 5 minutes, 3
kept. (The defaults are 2000 per session, 30 days, hourly; 6-hourly backups, 10 kept.)

Every ``--sample`` seconds it records the engine process's RSS, open fds, threads and child
processes and its share of a core, the ao-tui's RSS, the store's size (with its WAL), its event count, the archive's size
and the fleet's progress; it prints one JSON line per sample and a summary line at the end.

Run: ``python bench/bench_soak.py [--minutes 30] [--agents 20] [--pace 0.5] [--no-tui] [--keep-finished N]``; a smaller
``--pace`` turns the fleet over faster (0.3: ~40 sessions a minute). ``AO_SOAK_ARENA_MAX=N`` in the
environment starts the engine with glibc's malloc arenas capped at N (glibc's default: 8 per core),
an experiment ao itself does not make (docs/benchmarks.md, issue 16).
``ao run`` here is ``ao_tui.cli.main(["run"])`` with the demo's retire delay (merged sessions are
retired after a few seconds instead of an hour, so the fleet keeps turning over).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

import yaml  # noqa: E402

from ao_tui.demo import RETIRE_AFTER, run_demo_setup  # noqa: E402

AO_RUN = """
import os, sys
if os.environ.get("AO_SOAK_ARENA_MAX"):  # an experiment: glibc's malloc arenas capped (mallopt M_ARENA_MAX)
    import ctypes
    ctypes.CDLL(None).mallopt(ctypes.c_int(-8), ctypes.c_int(int(os.environ["AO_SOAK_ARENA_MAX"])))
if os.environ.get("AO_SOAK_TRACE"):
    import soak_trace
    soak_trace.start(os.environ["AO_SOAK_TRACE"], first_after=float(os.environ.get("AO_SOAK_TRACE_BASE", 120)))
if os.environ.get("AO_SOAK_PROBE"):
    import soak_probe
    soak_probe.start(os.environ["AO_SOAK_PROBE"])
from ao_tui.engine_loop import EngineLoop
EngineLoop.merged_grace_seconds = float(sys.argv[1])
from ao_tui.cli import main
sys.exit(main(["--config", sys.argv[2], "run"]))
"""


AO_TUI = """
import os, sys
if os.environ.get("AO_SOAK_TRACE"):
    import soak_trace
    soak_trace.start(os.environ["AO_SOAK_TRACE"], first_after=float(os.environ.get("AO_SOAK_TRACE_BASE", 120)))
if os.environ.get("AO_SOAK_PROBE"):
    import soak_probe
    soak_probe.start(os.environ["AO_SOAK_PROBE"])
from ao_tui.tui.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


def traced_mb(trace_dir: Path | None, name: str) -> float | None:
    if trace_dir is None:
        return None
    try:
        return json.loads((trace_dir / f"{name}.txt.json").read_text())["traced_mb"]
    except (OSError, ValueError, KeyError):
        return None


def proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_ticks"] = int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        pass
    return out


def descendants(pid: int) -> int:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = 0, {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        found += len(children)
        frontier = children
    return found


def store_figures(home: Path) -> dict[str, float]:
    db = home / "ao.sqlite3"
    size = sum(p.stat().st_size for p in home.glob("ao.sqlite3*") if p.is_file())
    archive = sum(p.stat().st_size for p in (home / "archive").glob("*.jsonl")) if (home / "archive").is_dir() else 0
    counts = {}
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        for table in ("events", "sessions", "claims", "outbox"):
            counts[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        counts["delivered"] = conn.execute("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NOT NULL").fetchone()[0]
        counts["merged_events"] = conn.execute(
            "SELECT COUNT(*) FROM events WHERE to_status='merged'").fetchone()[0]
        conn.close()
    except sqlite3.Error as exc:
        counts["error"] = str(exc)  # type: ignore[assignment]
    backups = len(list((home / "backups").glob("ao-*.sqlite3"))) if (home / "backups").is_dir() else 0
    return {"store_kb": size // 1024, "archive_kb": archive // 1024, "backups": backups, **counts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--pace", type=float, default=0.5)
    parser.add_argument("--sample", type=float, default=60.0)
    parser.add_argument("--no-tui", action="store_true")
    parser.add_argument("--keep-finished", type=int, default=None, metavar="N",
                        help="delete finished sessions past the newest N, as the demo does (default: keep them "
                             "all, as a user's store does until its retention policy archives them)")
    parser.add_argument("--trace", metavar="DIR",
                        help="trace both processes' allocations (tracemalloc); DIR/engine.txt and DIR/tui.txt "
                             "list the 15 tracebacks grown most since minute 2, and samples add the traced size")
    parser.add_argument("--trace-base", type=float, default=2.0, metavar="MIN",
                        help="with --trace: the minute of the snapshot the growth is measured from (default 2)")
    parser.add_argument("--probe", metavar="DIR",
                        help="sample both processes' memory outside the Python heap (glibc, SQLite, smaps) into "
                             "DIR/engine.jsonl and DIR/tui.jsonl, and malloc_trim them at the end (bench/soak_probe.py)")
    parser.add_argument("--census", action="store_true",
                        help="with --probe: count both processes' objects by type in each sample")
    parser.add_argument("--owners", metavar="TYPES",
                        help="with --probe: at the end, who holds objects of these types (module.qualname, comma "
                             "separated), a few chains of referrers each")
    parser.add_argument("--root", help="where the throwaway fleet lives (default: a temp dir)")
    args = parser.parse_args()

    fleet = run_demo_setup(Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="ao-soak-")),
                           pace=args.pace, max_live=args.agents)
    fleet.keep_finished = args.keep_finished if args.keep_finished is not None else 10**9
    config = yaml.safe_load(fleet.config_path.read_text())
    config["store"] = {"prune_every": "2m", "keep_events_per_session": 300, "backup_every": "5m", "keep_backups": 3}
    fleet.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}:{ROOT / 'bench'}"}
    trace_dir = Path(args.trace).resolve() if args.trace else None
    if trace_dir:
        trace_dir.mkdir(parents=True, exist_ok=True)
        env["AO_SOAK_TRACE"] = str(trace_dir / "engine.txt")
        env["AO_SOAK_TRACE_BASE"] = str(args.trace_base * 60)
    probe_dir = Path(args.probe).resolve() if args.probe else None
    if probe_dir:
        probe_dir.mkdir(parents=True, exist_ok=True)
        env["AO_SOAK_PROBE"] = str(probe_dir / "engine.jsonl")
        if args.census:
            env["AO_SOAK_CENSUS"] = "1"
        if args.owners:
            env["AO_SOAK_OWNERS"] = args.owners
    log = open(fleet.root / "ao-run.log", "w")  # noqa: SIM115
    engine_proc = subprocess.Popen([sys.executable, "-c", AO_RUN, str(RETIRE_AFTER * args.pace),
                                    str(fleet.config_path)], env=env, stdout=log, stderr=log)
    ui_socket = f"soak-ui-{os.getpid()}"
    tui_pid = None
    try:
        time.sleep(3)
        if not args.no_tui:
            subprocess.run(["tmux", "-L", ui_socket, "new-session", "-d", "-x", "160", "-y", "48", "-e",
                            f"AO_HOME={fleet.ao_home}", "-e", f"AO_TMUX_SOCKET={fleet.tmux_socket}",
                            "-e", f"PYTHONPATH={env['PYTHONPATH']}",
                            *(["-e", f"AO_SOAK_TRACE={trace_dir / 'tui.txt'}",
                               "-e", f"AO_SOAK_TRACE_BASE={args.trace_base * 60}"] if trace_dir else []),
                            *(["-e", f"AO_SOAK_PROBE={probe_dir / 'tui.jsonl'}"] if probe_dir else []),
                            *(["-e", "AO_SOAK_CENSUS=1"] if probe_dir and args.census else []),
                            *(["-e", f"AO_SOAK_OWNERS={args.owners}"] if probe_dir and args.owners else []),
                            sys.executable, "-c", AO_TUI, "--config", str(fleet.config_path)], check=True)
            time.sleep(3)
            pane_pid = subprocess.run(["tmux", "-L", ui_socket, "display", "-p", "#{pane_pid}"],
                                      capture_output=True, text=True).stdout.strip()
            tui_pid = int(pane_pid) if pane_pid.isdigit() else None

        from ao_tui.config import load_config
        from ao_tui.engine import Engine

        director = Engine(load_config(str(fleet.config_path)))
        fleet.start(director)
        started = time.monotonic()
        samples = []
        last_cpu = [0, time.monotonic()]
        ticks = os.sysconf("SC_CLK_TCK")

        def sample() -> dict:
            s = {"t_min": round((time.monotonic() - started) / 60, 2),
                 "load1": round(os.getloadavg()[0], 2)}
            st = proc_status(engine_proc.pid)
            s.update(engine_rss_mb=round(st.get("VmRSS", 0) / 1024, 1), engine_fds=st.get("fds"),
                     engine_threads=st.get("Threads"), engine_children=descendants(engine_proc.pid))
            # the engine's share of a core since the last sample: flat if no pass does more as history grows
            now_cpu, now = st.get("cpu_ticks", 0), time.monotonic()
            s["engine_cpu_pct"] = round(100 * (now_cpu - last_cpu[0]) / ticks / max(now - last_cpu[1], 1e-6), 1)
            last_cpu[:] = [now_cpu, now]
            if tui_pid:
                s["tui_rss_mb"] = round(proc_status(tui_pid).get("VmRSS", 0) / 1024, 1)
            if trace_dir:
                s["engine_traced_mb"] = traced_mb(trace_dir, "engine")
                s["tui_traced_mb"] = traced_mb(trace_dir, "tui")
            s["live_sessions"] = sum(1 for x in director.sessions(include_at_rest=False) if x.status.value not in
                                     ("merged", "exited"))
            s["spawned_total"] = len(fleet.session_ids)
            s.update(store_figures(fleet.ao_home))
            samples.append(s)
            print(json.dumps(s), flush=True)
            return s

        time.sleep(min(args.sample, 60))  # the first sample once the fleet is up
        first = sample()
        deadline = started + args.minutes * 60
        while time.monotonic() < deadline:
            time.sleep(min(args.sample, max(0.0, deadline - time.monotonic())))
            if engine_proc.poll() is not None:
                print(json.dumps({"error": f"ao run exited with {engine_proc.returncode}"}), flush=True)
                break
            sample()
        if probe_dir:  # what the allocators give back when asked: free-but-kept memory, not held
            for pid in (engine_proc.pid, tui_pid):
                if pid:
                    os.kill(pid, signal.SIGUSR2)
            time.sleep(60 if args.owners else 3)
        last = samples[-1]
        keys = ("engine_rss_mb", "engine_cpu_pct", "engine_traced_mb", "engine_fds", "engine_threads", "engine_children",
                "tui_rss_mb", "tui_traced_mb", "store_kb",
                "events", "archive_kb", "backups")
        print(json.dumps({"summary": True, "minutes": round(last["t_min"], 1), "agents": args.agents,
                          "spawned_total": last["spawned_total"], "messages_delivered": last.get("delivered"),
                          "start": {k: first.get(k) for k in keys}, "end": {k: last.get(k) for k in keys},
                          "max": {k: max((s.get(k) or 0) for s in samples) for k in keys}}), flush=True)
    finally:
        fleet._stop.set()
        if tui_pid:
            subprocess.run(["tmux", "-L", ui_socket, "kill-server"], capture_output=True)
        engine_proc.send_signal(signal.SIGTERM)
        try:
            engine_proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            engine_proc.kill()
        tail = (fleet.root / "ao-run.log").read_text(errors="replace").splitlines()[-5:]
        if engine_proc.returncode not in (0, -signal.SIGTERM) or any("Traceback" in line for line in tail):
            print("ao run's last words:\n" + "\n".join(tail), file=sys.stderr)
        fleet.cleanup()


if __name__ == "__main__":
    main()
