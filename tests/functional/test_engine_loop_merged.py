"""The engine loop after a merge: a PR merged by another process (`ao merge` while `ao run`
runs) still gets its outcome and its ``pr_merged`` reaction, and after the grace period the session's agent is
stopped and its workspace removed (status done), unless its branch holds work that is not
on the default branch (commits after a squash merge). Real tmux, git and worktrees; the agent is
the hooked stand-in (tests/support/hooked_stand_in.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import Session, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "hooked_stand_in.py"


def local_project(git_repo: Path, prefix: str, **more: object) -> Path:
    """ao.config.yaml for one project of hooked stand-ins on the local SCM (CI that passes)."""
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": prefix, "notifiers": [],
        "agent": {"command": [sys.executable, str(STAND_IN)]},
        "scm": {"plugin": "local", "ci": [f"{sys.executable} -c pass"]}, **more,
    }}}))
    return config


def green_approved_pr(engine: Engine, name: str) -> tuple[Session, Path]:
    """A session that committed ``name``, with its PR open, CI green and approved."""
    s = engine.spawn(prompt=f"Add {name}.")
    ws = Path(s.workspace)
    (ws / name).write_text(f"{name}\n")
    git(ws, "add", name)
    git(ws, "commit", "-qm", f"Add {name}")
    engine.open_pr(s.id)
    wait_until(lambda: (p := engine.refresh_pr(s.id)) is not None and p.ci.value == "passed", timeout=20)
    engine.approve(s.id)
    return s, ws


def test_merged_elsewhere_gets_its_outcome_then_is_retired_after_the_grace_period(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    config = local_project(git_repo, "mg", reactions={"pr_merged": {"action": "notify"}})
    human = Engine(load_config(str(config)))  # the CLI's engine: no loop

    def merged_session(name: str) -> tuple[Session, Path]:
        s, ws = green_approved_pr(human, name)
        assert human.merge(s.id).status is SessionStatus.MERGED  # squash: the branch's own commits are not on main
        return s, ws

    done_one, ws1 = merged_session("a.txt")
    late_one, ws2 = merged_session("b.txt")
    (ws2 / "late.txt").write_text("after the merge\n")  # work that was never merged
    git(ws2, "add", "late.txt")
    git(ws2, "commit", "-qm", "Late work")
    assert human.store.claims() == []

    loop_engine = Engine(load_config(str(config)))  # `ao run`
    assert loop_engine.start(leader_loop)
    try:
        loop = loop_engine._loop
        loop.liveness_seconds = 0.2
        outcomes = wait_until(lambda: len(loop_engine.store.outcomes("demo")) == 2 and loop_engine.store.outcomes("demo"),
                              timeout=10)
        assert {o["session_id"] for o in outcomes} == {done_one.id, late_one.id}
        # Both merged, nothing left in the backlog: all_done, once, keyed by the newest merge.
        wait_until(lambda: {c["key"] for c in loop_engine.store.claims()} == {
            f"{done_one.id}:pr_merged", f"{late_one.id}:pr_merged", f"demo:all_done:{late_one.id}"}, timeout=10)
        assert loop_engine.session(done_one.id).status is SessionStatus.MERGED, "kept during the grace period"
        assert done_one.runtime_handle in loop_engine.runtime(done_one).list_handles()
        loop.merged_grace_seconds = 0
        loop.wake()
        for s in (done_one, late_one):
            wait_until(lambda s=s: loop_engine.session(s.id).status is SessionStatus.DONE, timeout=10)
            assert s.runtime_handle not in loop_engine.runtime(s).list_handles(), "the agent is stopped"
        # All its work is on main: workspace and branch go.
        assert not ws1.exists() and git(git_repo, "branch", "--list", done_one.branch) == ""
        # What it did can still be read: from its PR's head commit in the repository.
        assert [c.subject for c in loop_engine.commits(done_one.id)] == ["Add a.txt"]
        assert [f.path for f in loop_engine.changed_files(done_one.id)] == ["a.txt"]
        assert "+a.txt" in loop_engine.diff(done_one.id) and loop_engine.work_span(done_one.id).retired
        assert git(git_repo, "show", "main:a.txt") == "a.txt"
        # Commits after the merge: nothing is lost.
        assert (ws2 / "late.txt").exists() and git(git_repo, "log", "-1", "--format=%s", late_one.branch) == "Late work"
        assert any(e.kind == "cleanup_refused" for e in loop_engine.events(late_one.id))
    finally:
        loop_engine.stop()


def test_all_done_waits_until_the_backlog_is_empty(git_repo: Path, ao_home: Path) -> None:
    from ao_tui.models import Session, utcnow

    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n- id: T-2\n  title: Two\n")
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {"repo": str(git_repo), "session_prefix": "ad",
                                                        "notifiers": []}}}))
    engine = Engine(load_config(str(config)))
    assert engine.start(leader_loop)
    try:
        engine.store.insert_session(Session(id="ad-1", project="demo", task_id="T-1", branch="ao/ad-1",
                                            workspace=str(ao_home / "w")))
        for status in (SessionStatus.WORKING, SessionStatus.PR_OPEN):
            engine.store.transition("ad-1", status)
        merged = engine.store.transition("ad-1", SessionStatus.MERGED, merged_at=utcnow())
        engine.tracker("demo").set_status("T-1", "done")
        engine._loop.on_merged(merged)
        assert "all_done" not in [c["event"] for c in engine.store.claims()], "T-2 is still to do"
        engine.tracker("demo").set_status("T-2", "done")
        engine._loop.on_merged(merged)
        assert [c["key"] for c in engine.store.claims() if c["event"] == "all_done"] == ["demo:all_done:ad-1"]
    finally:
        engine.stop()


def test_a_poll_that_crosses_a_merge_by_another_process_leaves_it_merged(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ao merge` in another shell while the engine's poll is asking the SCM: the poll's answer (still
    mergeable) is older than the merge, so it is dropped; the session stays merged, and nothing fails."""
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    config = local_project(git_repo, "cr")
    engine = Engine(load_config(str(config)))
    s, _ = green_approved_pr(engine, "a.txt")
    assert engine.session(s.id).status is SessionStatus.MERGEABLE
    scm = engine.scm("demo")
    asked = scm.pr_status

    def merged_meanwhile(repo, workspace, pr):  # noqa: ANN001, ANN202
        answer = asked(repo, workspace, pr)  # mergeable, as the SCM saw it a moment ago
        assert Engine(load_config(str(config))).merge(s.id).status is SessionStatus.MERGED  # `ao merge`
        return answer

    monkeypatch.setattr(scm, "pr_status", merged_meanwhile)
    engine.refresh_pr(s.id)
    assert engine.session(s.id).status is SessionStatus.MERGED
    assert [e.to_status for e in engine.events(s.id) if e.kind == "status"][-1] == "merged"
