"""What the store and the session dirs hold after a month of finished sessions, before and after pruning.

Builds a state dir as a user's would be after a month at ``--per-day`` sessions a day
(default 50: 1 500 done or killed sessions, each with its events, settled claims,
outcome and a session dir of hook events and git hooks, none with a workspace left)
plus ``--live`` working sessions with their workspaces, on a real git repository and a
private tmux server. Then runs the store's pruning as the engine's upkeep does
(``store_retention.prune_sessions`` with ``AtRestCheck``, then ``prune`` of the events
and claims, repeated as the hourly passes would be until nothing moves) and prints
one JSON object: sizes before and after, the time of each pass, and a pass with
nothing to do.

Run: ``python bench/bench_retention.py [--per-day 50] [--days 30] [--live 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _store_figures(store, home: Path) -> dict[str, object]:  # noqa: ANN001
    conn = store._conn()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
             for t in ("sessions", "events", "claims", "outcomes")}
    pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
    sessions = home / "sessions"
    return {"rows": count, "store_mb": round(store.path.stat().st_size / 2**20, 2),
            "store_free_mb": round(free * size / 2**20, 2), "store_used_mb": round((pages - free) * size / 2**20, 2),
            "session_dirs": sum(1 for _ in sessions.iterdir()) if sessions.is_dir() else 0,
            "session_dirs_mb": round(_du(sessions) / 2**20, 2), "archive_mb": round(_du(home / "archive") / 2**20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-day", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--live", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ao-bench-retention-") as tmp:
        home = Path(tmp) / "ao-home"
        home.mkdir()
        os.environ["AO_HOME"] = str(home)
        os.environ["AO_TMUX_SOCKET"] = socket = f"ao-bench-{uuid.uuid4().hex[:8]}"
        try:
            print(json.dumps(run(Path(tmp), home, args)))
        finally:
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def run(tmp: Path, home: Path, args: argparse.Namespace) -> dict[str, object]:
    from ao_tui.config import parse_config
    from ao_tui.engine import Engine
    from ao_tui.models import Event, Session, SessionStatus, Usage, utcnow
    from ao_tui.store import Store
    from ao_tui.store_retention import AtRestCheck, prune, prune_sessions

    repo = tmp / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@example.invalid",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    config = parse_config(f"projects:\n  app:\n    repo: {repo}\n    session_prefix: app\n    notifiers: []\n",
                          str(tmp / "ao.config.yaml"))
    engine = Engine(config, store=Store(home / "ao.sqlite3"))
    store = engine.store
    finished = args.per_day * args.days
    hook_line = json.dumps({"event": "PostToolUse", "session_id": str(uuid.uuid4()), "tool": "Bash",
                            "detail": "x" * 300}) + "\n"
    started = time.perf_counter()
    for n in range(1, finished + args.live + 1):
        sid = f"app-{n}"
        live = n > finished
        workspace = home / "workspaces" / "app" / sid
        store.insert_session(Session(
            id=sid, project="app", task_title=f"Task {n}: make the thing do what the issue says",
            prompt="Implement the issue. " * 30, branch=f"ao/{sid}", workspace=str(workspace), runtime_handle=sid,
            usage=Usage(input_tokens=120_000, output_tokens=9_000, cost_usd=1.25)))
        store.transition(sid, SessionStatus.WORKING)
        for i in range(18):
            store.add_event(Event(session_id=sid, kind="activity", data={"state": "working", "i": i}))
        for key in ("ci_failed", "review_comment"):
            store.claim(f"{sid}:{key}:1", sid, key, "send_to_agent", {"trigger": {"failed": ["tests"]}})
            store.set_claim_state(f"{sid}:{key}:1", "done")
        folder = home / "sessions" / sid
        (folder / "git-hooks").mkdir(parents=True)
        (folder / "hook-events.jsonl").write_text(hook_line * 60)
        (folder / "git-hooks" / "prepare-commit-msg").write_text("#!/bin/sh\n" + "# hook\n" * 40)
        (folder / "commit-trailer").write_text("Assisted-by: ao (claude-sonnet-4-5)\n")
        if live:
            workspace.mkdir(parents=True)
            continue
        store.transition(sid, SessionStatus.KILLED if n % 5 == 0 else SessionStatus.EXITED)
        if n % 5:
            store.transition(sid, SessionStatus.MERGED)
            store.transition(sid, SessionStatus.DONE, reason="merged; workspace removed")
        store.put_outcome(sid, "app", {"ci_cycles": 1, "tokens": 129_000, "cost_usd": 1.25, "recorded_at": "x"})
    old = utcnow() - timedelta(days=args.days + 5)
    with store.transaction() as tx:  # every finished one last changed before the window
        tx.execute("UPDATE sessions SET updated_at=? WHERE status IN ('done', 'killed')", (old.isoformat(),))
        tx.execute("UPDATE events SET at=? WHERE session_id IN (SELECT id FROM sessions WHERE status IN"
                   " ('done', 'killed'))", (old.isoformat(),))
    built_s = time.perf_counter() - started
    before = _store_figures(store, home)
    passes = []
    while True:
        t0 = time.perf_counter()
        gone = prune_sessions(store, keep_days=args.days, kept=AtRestCheck(engine))
        t1 = time.perf_counter()
        moved = prune(store, keep_days=args.days, keep_per_session=2000)
        t2 = time.perf_counter()
        passes.append({"sessions": len(gone), "sessions_s": round(t1 - t0, 3),
                       "events_claims": moved, "events_claims_s": round(t2 - t1, 3)})
        if not gone and not moved:
            break
    after = _store_figures(store, home)
    store._conn().execute("VACUUM")
    store._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {"finished_sessions": finished, "live": args.live, "build_s": round(built_s, 1), "before": before,
            "passes": passes, "after": after, "after_vacuum_mb": round(store.path.stat().st_size / 2**20, 2),
            "load": os.getloadavg()[0]}


if __name__ == "__main__":
    main()
