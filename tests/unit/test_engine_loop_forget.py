"""A long run stays flat (issue 16): what the engine loop keeps per session goes with the session.

The soak (bench/bench_soak.py) spawns, merges, retires and deletes sessions all the time; every
table the loop, the engine, the branch watch and the merge train key by session must drop a
session once it is retired (done) or deleted, and keep the ones still alive."""

from __future__ import annotations

import threading
from pathlib import Path

from ao_tui.branch_watch import BranchWatch
from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.engine_loop import EngineLoop
from ao_tui.models import Session, SessionStatus


def _per_session(loop: EngineLoop) -> dict[str, object]:
    return {"last PR poll": loop.prs.last_poll, "fences": loop.outbox.fences, "fence checks": loop.outbox.fence_checked,
            "failed pushes": loop.prs.push_failed, "merged seen": loop._merged_seen, "PR checks due": loop.prs.due,
            "followed": loop._tracked, "PR locks": loop.engine._pr_locks,
            "rebase retries": loop.branches._retry_at, "train questions": loop.branches.train._asked}


def test_a_retired_or_deleted_session_leaves_nothing_in_the_loops_per_session_tables(ao_store, tmp_path: Path) -> None:
    engine = Engine(parse_config(f"projects:\n  demo:\n    repo: {tmp_path}\n    session_prefix: dm\n"
                                 "    notifiers: []\n", "ao.config.yaml"), store=ao_store)
    loop = EngineLoop(engine)
    loop.branches = BranchWatch(loop)
    scm = engine.scm("demo")  # the project's SCM, made as the loop's first PR poll makes it
    repo = str(engine.project_config("demo").repo)
    for sid in ("live", "retired", "deleted"):
        engine.store.insert_session(Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=f"/tmp/{sid}",
                                            runtime_handle=sid))
        engine.store.transition(sid, SessionStatus.WORKING)
        # what the loop keeps while it follows a session (its agent, its PR, its merge):
        loop.prs.last_poll[sid] = 1.0
        loop.outbox.fences[sid] = 1.0
        loop.outbox.fence_checked[sid] = 1.0
        loop.prs.push_failed[sid] = ("rejected", 1.0)
        loop._merged_seen.add(sid)
        loop.prs.due.add(sid)
        loop._tracked[sid] = 0
        engine._pr_locks[sid] = threading.Lock()
        loop.branches._retry_at[sid] = 1.0
        loop.branches.train._asked[sid] = 1.0
        scm._analysis[(repo, f"ao/{sid}")] = ("head", "base", False, True)  # type: ignore[attr-defined]
    for status in (SessionStatus.PR_OPEN, SessionStatus.APPROVED, SessionStatus.MERGED):
        engine.store.transition("retired", status)
    engine.store.transition("retired", SessionStatus.DONE, reason="merged; workspace removed")
    loop.untrack("retired")  # as _retire does
    engine.store.delete_session("deleted")  # by another process (the demo's director, a clean-up)

    loop.forget_gone()

    for name, table in _per_session(loop).items():
        assert set(table) == {"live"}, name
    assert list(scm._analysis) == [(repo, "ao/live")]  # type: ignore[attr-defined]
