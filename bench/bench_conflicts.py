"""Conflict prediction: one commit on one of 30 live branches -> its prediction against the other 29 and main.

A real repository (300 files on ``main``); 30 session branches in linked worktrees, each
editing a few files of its own and, for every fifth branch, one function it shares
with a neighbour (so some pairs overlap and some conflict). After a first full scan
(every pair computed once and kept in the store), each run commits once on one branch
(in its worktree) and times ``ConflictWatch.scan`` until that branch's 30 pairs are
recorded with their predictions. It also checks that no worktree's HEAD, index or files
changed during a scan (no checkout).

Run: ``python bench/bench_conflicts.py [--branches 30] [--runs 15]``. Prints one JSON line.
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

from ao_tui.conflicts import ConflictWatch, overlaps_for  # noqa: E402
from ao_tui.models import Session, SessionStatus  # noqa: E402
from ao_tui.store import Store  # noqa: E402


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def module(n: int, tag: str = "") -> str:
    return "".join(f"def f{n}_{i}(x):\n    return x + {i}{tag}\n\n" for i in range(20))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--branches", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-conflicts-"))
    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "bench@example.invalid")
    git(repo, "config", "user.name", "Bench")
    for n in range(300):
        path = repo / "pkg" / f"m{n:03}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(module(n))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    sessions = []
    for i in range(args.branches):
        sid = f"s-{i + 1}"
        ws = tmp / "ws" / sid
        git(repo, "worktree", "add", "-q", "-b", f"ao/{sid}", str(ws), "main")
        for n in (i * 7 % 300, (i * 7 + 1) % 300):
            (ws / "pkg" / f"m{n:03}.py").write_text(module(n, f" * {i + 2}"))
        if i % 5 == 0 and i + 1 < args.branches:
            shared = 299  # every fifth branch and its neighbour change the same function
            (ws / "pkg" / f"m{shared:03}.py").write_text(module(shared, f" - {i}"))
        git(ws, "commit", "-q", "-am", f"work of {sid}")
        sessions.append(Session(id=sid, project="bench", branch=f"ao/{sid}", workspace=str(ws),
                                status=SessionStatus.WORKING))
    store = Store(tmp / "state.db")
    watch = ConflictWatch(store)
    started = time.perf_counter()
    first = watch.scan("bench", repo, "main", sessions)
    full = time.perf_counter() - started

    def snapshot() -> list[str]:
        return [git(Path(s.workspace), "rev-parse", "HEAD") + git(Path(s.workspace), "status", "--porcelain")
                for s in sessions]

    times, computed = [], []
    for run in range(args.runs):
        s = sessions[(run * 11) % len(sessions)]
        ws = Path(s.workspace)
        target = ws / "pkg" / f"m{(run * 13 + 5) % 300:03}.py"
        target.write_text(target.read_text() + f"# run {run}\n")
        git(ws, "commit", "-q", "-am", f"run {run}")
        before = snapshot()
        t0 = time.perf_counter()
        result = watch.scan("bench", repo, "main", sessions)
        times.append(time.perf_counter() - t0)
        computed.append(result.computed)
        pairs = store.branch_pairs("bench", member=s.id)
        assert len(pairs) == len(sessions), (len(pairs), len(sessions))
        assert all(p["files"] is not None or p["a_sha"] == p["b_sha"] for p in pairs)
        assert snapshot() == before, "a scan touched a worktree"
    conflicting = sum(1 for s in sessions for o in overlaps_for(store, s.id) if o.conflicting) // 2
    print(json.dumps({
        "branches": len(sessions), "runs": args.runs,
        "first_full_scan_s": round(full, 3), "first_full_scan_pairs": first.computed,
        "one_commit_p50_s": round(statistics.median(times), 3),
        "one_commit_max_s": round(max(times), 3),
        "pairs_computed_per_commit": statistics.median(computed),
        "conflicting_pairs": conflicting,
        "worktrees_touched": 0,
        "load": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()
