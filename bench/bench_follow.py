"""Issue 9's figures: how fast the running engine follows other processes, and `ao ls` with none.

``follow`` (default): the engine as ``ao run`` runs it (``Engine.start(leader_loop)`` in this process) while
``ao spawn``, ``ao send``, ``ao kill`` and ``ao restore`` run as separate processes, as a user types
them in another shell (agents: tests/support/hooked_stand_in.py in real tmux and git worktrees).
For each command the clock runs from the store event the command committed (``agent started``,
``message``, ``killed``, the restored agent started) to the moment the engine took it up
(``EngineLoop.followed``: the session tracked, fenced, left). Target: every one < 1 s, median < 200 ms.

``takeover``: ``ao run`` killed with -9 while another ``ao run`` waits: from the kill to the waiting
one holding the lock, and to it saying it runs the engine (every live session tracked). Target: < 2 s.

``ls``: ``ao ls`` (the whole command, Python start-up included) over 100 live sessions with no
engine running, each session's activity read from its own files: 100 sleeping agents in real tmux
and worktrees, their hook events files written as Claude Code's hooks write them (80 idle, 10
running a tool, 10 asking permission). Target: < 300 ms. Also timed: ``ao config path`` (start-up and
the CLI's imports, no reading) and a bare ``python -c pass``; for each, the CPU time (user + system)
besides the wall clock, which on a loaded machine is mostly waiting for a core.

``ls --keep`` leaves that fleet in place and prints the environment and command to rerun ``ao ls`` against it
(e.g. with ``hyperfine``).

Run: ``python bench/bench_follow.py [follow|takeover|ls] [--runs N] [--keep]``. Needs tmux and git. Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))


def _setup(prefix: str, agent: list[str], sessions: int) -> tuple[Path, Path, str]:
    base = Path(tempfile.mkdtemp(prefix=f"ao-bench-{prefix}-"))
    socket = f"ao-bench-{prefix}-{uuid.uuid4().hex[:8]}"
    os.environ.update(AO_HOME=str(base / "ao-home"), AO_TMUX_SOCKET=socket, AO_STANDIN_DIR=str(base / "standin"))
    os.environ.pop("AO_CONFIG", None)
    from tests.support.gitrepo import make_repo

    repo = make_repo(base)
    config = base / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(repo), "session_prefix": prefix, "notifiers": [], "max_sessions": sessions,
        "agent": {"command": agent, "env": {"AO_STANDIN_DIR": str(base / "standin")}},
    }}}))
    return base, config, socket


def _ao(config: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), *args],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"ao {' '.join(args)} failed: {out.stderr}")
    return out.stdout


def _summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 1), "max_ms": round(ms[-1], 1)}


def bench_follow(runs: int) -> dict[str, object]:
    base, config, socket = _setup("fo", [sys.executable, str(ROOT / "tests" / "support" / "hooked_stand_in.py")],
                                  runs + 1)
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.orchestrator.loop_hooks import leader_loop

    engine = Engine(load_config(str(config)))
    lags: dict[str, list[float]] = {"spawn": [], "send": [], "kill": [], "restore": []}

    def took_up(sid: str, what: str, after: float) -> float:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for s, kind, at in list(engine._loop.followed):  # noqa: SLF001
                if s == sid and kind == what and at >= after:
                    return at
            time.sleep(0.005)
        raise SystemExit(f"the engine never {what} {sid}: {[f for f in engine._loop.followed if f[0] == sid]} "  # noqa: SLF001
                         f"{[(e.kind, e.to_status, e.at.timestamp()) for e in engine.events(sid)]}")

    def event_at(sid: str, match) -> float:  # noqa: ANN001
        return max(e.at.timestamp() for e in engine.events(sid) if match(e))

    try:
        assert engine.start(leader_loop)
        for n in range(runs):
            sid = json.loads(_ao(config, "spawn", "--json", "--prompt", f"Task {n}"))["id"]
            (base / "standin" / sid).mkdir(parents=True, exist_ok=True)
            (base / "standin" / sid / "release").touch()
            started = event_at(sid, lambda e: e.data.get("reason") == "agent started")
            lags["spawn"].append(took_up(sid, "tracked", started) - started)
            time.sleep(0.3)
            _ao(config, "send", sid, f"message {n}")
            sent = event_at(sid, lambda e: e.kind == "message")
            lags["send"].append(took_up(sid, "fenced", sent) - sent)
            _ao(config, "kill", sid)
            killed = event_at(sid, lambda e: e.to_status == "killed")
            lags["kill"].append(took_up(sid, "untracked", killed) - killed)
            _ao(config, "restore", sid)
            back = event_at(sid, lambda e: e.data.get("reason") in ("agent started", "restored"))
            lags["restore"].append(took_up(sid, "tracked", back) - back)
    finally:
        engine.stop()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    every = [v for values in lags.values() for v in values]
    return {"bench": "follow", **{k: _summary(v) for k, v in lags.items()}, "all": _summary(every),
            "load": os.getloadavg()[0]}


def bench_takeover(runs: int) -> dict[str, object]:
    """`ao run` killed with -9 while a second `ao run` waits: from the kill to the second one saying it
    runs the engine (its loop started: every live session tracked), and to the lock alone."""
    base, config, socket = _setup("to", [sys.executable, str(ROOT / "tests" / "support" / "hooked_stand_in.py")], 4)
    from ao_tui import leader

    for n in range(3):
        _ao(config, "spawn", "--prompt", f"Task {n}")  # live sessions for the new leader to take up
    running: list[float] = []
    locked: list[float] = []

    def start(log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "run"],
                                    stdout=out, stderr=subprocess.STDOUT)

    def wait_for(log: Path, text: str) -> None:
        deadline = time.monotonic() + 30
        while text not in (log.read_text() if log.exists() else ""):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {text!r} in {log}")
            time.sleep(0.005)

    procs = []
    try:
        first = start(base / "run-0.log")
        procs.append(first)
        wait_for(base / "run-0.log", "ao engine running")
        for n in range(runs):
            log = base / f"run-{n + 1}.log"
            follower = start(log)
            procs.append(follower)
            wait_for(log, "another engine is running")
            leader_proc = procs[-2]
            leader_proc.kill()
            leader_proc.wait()
            gone = time.monotonic()
            while leader.leader_pid() in (None, leader_proc.pid):
                time.sleep(0.002)
            locked.append(time.monotonic() - gone)
            wait_for(log, "ao engine running")
            running.append(time.monotonic() - gone)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    return {"bench": "takeover", "lock_taken": _summary(locked), "engine_running": _summary(running),
            "load": os.getloadavg()[0]}


def _hook_lines(sid: str, workspace: str, kind: str, transcript: Path) -> str:
    now = time.time() - 60
    base = {"ao_session": sid, "session_id": sid, "cwd": workspace, "transcript_path": str(transcript)}
    events = [("SessionStart", {"source": "startup"}), ("UserPromptSubmit", {"prompt": "Do the task."})]
    if kind == "idle":
        events += [("PreToolUse", {"tool_name": "Read", "tool_input": {"file_path": "a.py"}}),
                   ("PostToolUse", {"tool_name": "Read"}), ("Stop", {"last_assistant_message": "Done."})]
    elif kind == "tool":
        events += [("PreToolUse", {"tool_name": "Bash", "tool_input": {"command": "pytest -q"}})]
    else:
        events += [("PermissionRequest", {"tool_name": "Write", "tool_input": {"file_path": "b.py"}})]
    return "".join(json.dumps({**base, **payload, "event": name, "hook_event_name": name, "at": now + i}) + "\n"
                   for i, (name, payload) in enumerate(events))


def bench_ls(runs: int, sessions: int = 100, keep: bool = False) -> dict[str, object]:
    base, config, socket = _setup("ls", [sys.executable, "-c", "import time; time.sleep(1e6)"], sessions)
    ao = [sys.executable, "-m", "ao_tui.cli", "--config", str(config)]
    from ao_tui.config import load_config
    from ao_tui.engine import Engine

    engine = Engine(load_config(str(config)))
    fixture = ROOT / "tests" / "fixtures" / "transcripts" / "2.1.197" / "bash_tool_bypass.jsonl"
    try:
        kinds = ["idle"] * (sessions * 8 // 10) + ["tool"] * (sessions // 10)
        kinds += ["permission"] * (sessions - len(kinds))
        for kind in kinds:
            s = engine.spawn(prompt="wait")
            transcript = base / "transcripts" / f"{s.id}.jsonl"
            transcript.parent.mkdir(exist_ok=True)
            shutil.copy(fixture, transcript)
            written = time.time() - 60 + 1.5  # as the agent wrote it: just before its last hook fired
            os.utime(transcript, (written, written))
            engine.events_file(s.id).write_text(_hook_lines(s.id, s.workspace, kind, transcript))
        engine.store.close()
        rows = json.loads(_ao(config, "ls", "--json"))
        seen = {k: sum(1 for r in rows if r["activity"] == k) for k in {r["activity"] for r in rows}}

        # As on a user's machine, modules load from bytecode (written on the first run): a session that
        # sets PYTHONDONTWRITEBYTECODE would have every ao module compiled from source on each run.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cpu_times: dict[str, list[float]] = {}

        def timed(name: str, argv: list[str]) -> list[float]:
            """Wall clock per run; the CPU time (user + system) of each run goes to ``cpu_times``."""
            times = []
            subprocess.run(argv, capture_output=True, check=True, timeout=120, env=env)  # bytecode written
            for _ in range(runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(argv, capture_output=True, check=True, timeout=120, env=env)
                times.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu_times.setdefault(name, []).append(after.ru_utime + after.ru_stime
                                                      - before.ru_utime - before.ru_stime)
            return times

        ls = timed("ls", [*ao, "ls"])
        floor = timed("config_path", [*ao, "config", "path"])  # start-up and the CLI's own imports, no reading
        python = timed("python_alone", [sys.executable, "-c", "pass"])  # the interpreter alone
    finally:
        if keep:
            print(f"# fleet kept: AO_HOME={os.environ['AO_HOME']} AO_TMUX_SOCKET={socket} "
                  f"{' '.join(ao)} ls   (remove: tmux -L {socket} kill-server; rm -rf {base})", flush=True)
        else:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            shutil.rmtree(base, ignore_errors=True)
    cpu = {f"cpu_{name}": _summary(values) for name, values in cpu_times.items()}
    return {"bench": "ls", "sessions": sessions, "activities": seen, **_summary(ls),
            "config_path": _summary(floor), "python_alone": _summary(python), **cpu, "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", nargs="?", choices=["follow", "takeover", "ls", "all"], default="all")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="ls: leave the fleet in place and say how to rerun")
    args = parser.parse_args()
    if args.part in ("follow", "all"):
        print(json.dumps(bench_follow(args.runs)), flush=True)
    if args.part in ("takeover", "all"):
        print(json.dumps(bench_takeover(args.runs)), flush=True)
    if args.part in ("ls", "all"):
        print(json.dumps(bench_ls(args.runs, keep=args.keep)), flush=True)


if __name__ == "__main__":
    main()
