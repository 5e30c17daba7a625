"""Auto-rebase: the default branch moves -> every idle, clean session branch rebased and its CI started.

Ten sessions with open local PRs (real git worktrees, the real ``LocalSCM`` with a CI command),
their agents idle, ``rebase: auto``. Each run commits on ``main`` (a file no branch touches)
and times the engine loop's branch watch (``BranchWatch.tick``, then the loop's PR check for
the sessions it flagged, which is what starts local CI) until all ten branches contain the
new ``main`` and a CI run has started on each rebased commit.

Run: ``python bench/bench_rebase.py [--sessions 10] [--runs 5]``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
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
sys.path.insert(0, str(ROOT / "plugins"))


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-rebase-"))
    os.environ["AO_HOME"] = str(tmp / "ao-home")
    from ao_tui.config import parse_config
    from ao_tui.engine import Engine
    from ao_tui.engine_loop import EngineLoop
    from ao_tui.models import Activity, ActivityState, Session, SessionStatus
    from ao_tui.store import Store

    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.invalid")
    git(repo, "config", "user.name", "Bench")
    (repo / "README.md").write_text("bench\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    config = parse_config(json.dumps({"projects": {"bench": {
        "repo": str(repo), "session_prefix": "rb", "rebase": "auto", "notifiers": [],
        "scm": {"plugin": "local", "ci": [f"{sys.executable} -c pass"]}}}}), str(tmp / "ao.config.yaml"))
    engine = Engine(config, Store(tmp / "state.db"))
    ids = []
    for i in range(args.sessions):
        sid = f"rb-{i + 1}"
        ws = tmp / "ws" / sid
        git(repo, "worktree", "add", "-q", "-b", f"ao/{sid}", str(ws), "main")
        (ws / f"f{i}.txt").write_text(f"{i}\n")
        git(ws, "add", "-A")
        git(ws, "commit", "-qm", f"work {i}")
        engine.store.insert_session(Session(id=sid, project="bench", branch=f"ao/{sid}", workspace=str(ws)))
        engine.store.transition(sid, SessionStatus.WORKING)
        engine.store.transition(sid, SessionStatus.IDLE, activity=Activity(state=ActivityState.IDLE, source="hook"))
        engine.open_pr(sid)
        ids.append(sid)
    loop = EngineLoop(engine)  # not started: the bench drives its branch watch and PR checks itself
    loop._start_branch_watch()
    loop.branches.min_interval = 0
    loop.branches.tick()  # the first look: every head known
    scm = engine.scm("bench")
    times = []
    for run in range(args.runs):
        (repo / f"main{run}.txt").write_text("main moved\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"main moves {run}")
        main_sha = git(repo, "rev-parse", "HEAD")
        started = time.perf_counter()
        pending = set(ids)
        while pending:
            loop.branches.tick()
            for sid in sorted(loop.prs.due):
                loop.prs.due.discard(sid)
                engine.refresh_pr(sid)
            for sid in list(pending):
                ws = Path(engine.session(sid).workspace)
                head = git(ws, "rev-parse", "HEAD")
                contains = subprocess.run(["git", "merge-base", "--is-ancestor", main_sha, head], cwd=ws).returncode == 0
                if contains and (scm.ci.ci_dir(repo, head) / "status.json").exists():
                    pending.discard(sid)
            if time.perf_counter() - started > 120:
                raise SystemExit(f"not rebased within 120 s: {sorted(pending)}")
        times.append(time.perf_counter() - started)
        scm.ci.wait_idle(60)
    print(json.dumps({
        "sessions": args.sessions, "runs": args.runs,
        "main_moved_to_all_rebased_and_ci_started_p50_s": round(statistics.median(times), 3),
        "max_s": round(max(times), 3), "load": os.getloadavg()[0],
    }))
    scm.close()
    loop.branches.stop()


if __name__ == "__main__":
    main()
