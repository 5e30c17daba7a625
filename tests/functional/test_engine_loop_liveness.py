"""The engine loop's watch over agents: a quiet busy agent becomes stuck (and its reaction
runs once), recovers when it speaks again; an agent that dies is marked exited with its
exit status and restores, its open PR followed again. Real tmux, git and worktrees; the hooked stand-in agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.support.claude_project import needs_worktree
from tests.support.gitrepo import git
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(60)]


def test_stuck_then_recovered_then_exited_and_restored(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "lv", standin, monkeypatch, stuck_after="2s", reactions={
        "agent_stuck": {"action": "send_to_agent"}, "agent_exited": {"action": "notify"}})
    assert engine.start(leader_loop)
    engine._loop.liveness_seconds = 0.5
    try:
        s = engine.spawn(prompt="Work quietly.")  # busy until released, saying nothing
        stuck = wait_until(lambda: (cur := engine.session(s.id)).status is SessionStatus.STUCK and cur, timeout=15,
                           message=lambda: str(engine.session(s.id)))
        assert stuck.activity.state is ActivityState.WORKING
        # The reaction is claimed just after the status changes (same loop pass): wait for it, then exactly one.
        wait_until(lambda: engine.store.claims(s.id), timeout=5)
        assert [c["event"] for c in engine.store.claims(s.id)] == ["agent_stuck"]
        # The nudge waits for the prompt; the agent finishes its turn, is idle, then gets it.
        (standin / s.id / "release").touch()
        wait_until(lambda: engine.session(s.id).status is SessionStatus.IDLE, timeout=10)
        path = standin / s.id / "received.jsonl"
        got = wait_until(lambda: path.exists() and path.read_text().strip() and
                         [json.loads(x) for x in path.read_text().splitlines()], timeout=10)
        assert len(got) == 1 and got[0]["text"].startswith("You seem stuck") and got[0]["busy"] is False

        ws = Path(s.workspace)
        (ws / "notes.txt").write_text("notes\n")
        git(ws, "add", "notes.txt")
        git(ws, "commit", "-qm", "Add notes")
        engine.open_pr(s.id)
        wait_until(lambda: engine.session(s.id).status is SessionStatus.REVIEW_PENDING, timeout=10)

        engine.send_keys(s.id, "C-c")  # the agent dies of the interrupt
        exited = wait_until(lambda: (cur := engine.session(s.id)).status is SessionStatus.EXITED and cur, timeout=10)
        assert exited.exit_code not in (None, 0) and exited.activity.state is ActivityState.EXITED
        wait_until(lambda: "agent_exited" in [c["event"] for c in engine.store.claims(s.id)], timeout=5)
        assert [c["event"] for c in engine.store.claims(s.id)].count("agent_exited") == 1, "one exit, one reaction"
        restored = engine.restore(s.id)
        assert restored.status is SessionStatus.WORKING
        wait_until(lambda: engine.session(s.id).activity.state is ActivityState.IDLE, timeout=10,
                   message=lambda: str(engine.session(s.id)))
        # Restored with an open PR: the PR is followed again and decides the status.
        wait_until(lambda: engine.session(s.id).status is SessionStatus.REVIEW_PENDING, timeout=10,
                   message=lambda: str(engine.session(s.id)))
    finally:
        engine.stop()


def test_exits_are_seen_at_once_and_an_idle_fleet_costs_no_tmux_calls(
    git_repo: Path, ao_home: Path, tmp_path: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import time

    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "ex", standin, monkeypatch)
    a = engine.spawn(prompt="Say hi.")
    b = engine.spawn(prompt="Say hi too.")
    for s in (a, b):
        (standin / s.id).mkdir(parents=True, exist_ok=True)
        (standin / s.id / "release").touch()
    assert engine.start(leader_loop)
    engine._loop.liveness_seconds = 3600  # no periodic listing: exits must be noticed without it
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    try:
        for s in (a, b):
            wait_until(lambda s=s: engine.session(s.id).activity.state is ActivityState.IDLE, timeout=15,
                       message=lambda s=s: str(engine.session(s.id)))
        monkeypatch.setattr(subprocess, "run", counting_run)
        time.sleep(3)
        assert [c for c in calls if c[0] == "tmux"] == [], "an idle fleet makes no tmux calls"

        pid = engine.runtime(a).panes()[a.runtime_handle].pid
        assert pid is not None
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        exited = wait_until(lambda: (cur := engine.session(a.id)).status is SessionStatus.EXITED and cur, timeout=5)
        assert time.monotonic() - killed_at < 2.0
        assert exited.activity.state is ActivityState.EXITED

        subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)  # takes b with it
        wait_until(lambda: engine.session(b.id).status is SessionStatus.EXITED, timeout=5)
    finally:
        engine.stop()


def test_an_exit_seen_by_its_hook_and_again_after_another_process_wrote_is_one_reaction(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent's own hook says it exited (the loop records it); then another process writes to the
    store (`ao ls` marking it exited too, say) and the loop follows: still one agent_exited reaction."""
    from ao_tui.models import Activity, Event

    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "ex", standin, monkeypatch, reactions={"agent_exited": {"action": "notify"}})
    assert engine.start(leader_loop)
    try:
        s = engine.spawn(prompt="Say hi.")
        wait_until(lambda: (standin / s.id).is_dir(), timeout=15)
        (standin / s.id / "release").touch()
        wait_until(lambda: engine.session(s.id).status is SessionStatus.IDLE, timeout=15, message=lambda: str(engine.session(s.id)))
        engine._loop.on_activity(s.id, Activity(state=ActivityState.EXITED, source="hook", detail="agent exited"))
        assert engine.session(s.id).status is SessionStatus.EXITED
        engine.store.add_event(Event(session_id=s.id, kind="note", data={"reason": "another process wrote"}))
        engine._loop._follow_others()
        wait_until(lambda: "agent_exited" in [c["event"] for c in engine.store.claims(s.id)], timeout=5)
        engine._loop._follow_others()
        assert [c["event"] for c in engine.store.claims(s.id)].count("agent_exited") == 1, "one exit, one reaction"
    finally:
        engine.stop()
