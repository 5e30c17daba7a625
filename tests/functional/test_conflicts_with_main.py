"""The default branch moving under a session's branch reaches the human and the agent (issue 13).

Real git (branches, worktrees, ``merge-tree``), the real store, the branch watch and the reaction
runner the engine loop uses, ticked by hand: no tmux, no agent, so it is fast. What a user relies on:
the notification ao-tui toasts, the message queued for the agent, once per branch commit and main
commit, also after a restart.
"""

from __future__ import annotations

from pathlib import Path

from ao_tui.branch_watch import BranchWatch
from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.engine_loop import EngineLoop
from ao_tui.models import Activity, ActivityState, Session, SessionStatus
from ao_tui.reaction_runner import ReactionRunner
from ao_tui.slots.notifier import Notification
from ao_tui.store import open_store
from tests.support.gitrepo import git, make_repo

APP = "def area(w, h):\n    return w * h\n"
GEO = "def perimeter(w, h):\n    return 2 * (w + h)\n\n\n\n\ndef diagonal(w, h):\n    return (w * w + h * h) ** 0.5\n"


class Fleet:
    """One engine over the repository, its loop's branch watch and reaction runner."""

    def __init__(self, repo: Path, rebase: str, store=None) -> None:  # noqa: ANN001
        self.engine = Engine(parse_config(
            f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n    notifiers: []\n    rebase: {rebase}\n",
            "ao.config.yaml"), store=store or open_store())
        self.notices: list[Notification] = []
        self.engine.subscribe_notifications(self.notices.append)
        self.loop = EngineLoop(self.engine)
        self.loop.runner = ReactionRunner.for_engine(self.engine)
        self.branches = BranchWatch(self.loop)
        self.loop.branches = self.branches

    def tick(self) -> None:
        self.branches._last_tick = 0.0
        self.branches._last_emit.clear()  # every tick offers the current predictions again
        self.branches.tick()

    def titles(self, word: str = "main") -> list[str]:
        return [n.title for n in self.notices if word in n.title]

    def messages(self, sid: str) -> list[str]:
        return [m["text"] for m in self.engine.store.pending_messages(sid)]

    def claims(self, sid: str, event: str) -> list[str]:
        return [c["key"] for c in self.engine.store.claims(sid) if c["event"] == event]


def _session(fleet: Fleet, repo: Path, sid: str, files: dict[str, str], *, working: bool = False) -> Path:
    """A session whose agent committed ``files`` on ``ao/<sid>`` in its own worktree."""
    ws = repo.parent / f"ws-{sid}"
    git(repo, "worktree", "add", "-q", "-b", f"ao/{sid}", str(ws), "main")
    _commit(ws, files, f"{sid} works")
    state = ActivityState.WORKING if working else ActivityState.IDLE
    fleet.engine.store.insert_session(Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=str(ws),
                                              runtime_handle=sid, status=SessionStatus.WORKING, activity=Activity(state=state)))
    return ws


def _commit(ws: Path, files: dict[str, str], message: str) -> str:
    for path, text in files.items():
        (ws / path).write_text(text)
        git(ws, "add", path)
    git(ws, "commit", "-qm", message)
    return git(ws, "rev-parse", "HEAD")


def test_main_moving_into_a_branchs_files_tells_the_human_and_a_conflict_tells_the_agent_once(
    ao_home: Path, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path, files={"app.py": APP, "geo.py": GEO, "NOTES.md": "notes\n"})
    fleet = Fleet(repo, "notify")
    _session(fleet, repo, "clash", {"app.py": APP.replace("w * h", "round(w * h)")})
    near = _session(fleet, repo, "near", {"geo.py": GEO.replace("2 * (w + h)", "(w + h) * 2")})
    _session(fleet, repo, "apart", {"NOTES.md": "more notes\n"})
    fleet.tick()
    assert fleet.titles("both change") == [] and fleet.messages("clash") == []  # main has not moved

    # main moves (a merge elsewhere): area rewritten (collides with clash), diagonal (near's file, other lines).
    _commit(repo, {"app.py": APP.replace("w * h", "h * w"), "geo.py": GEO.replace("** 0.5", "** .5")}, "main moves")
    fleet.tick()
    # The human: near and main share geo.py but merge cleanly.
    assert fleet.titles("both change") == ["near and main both change geo.py"]
    body = next(n.body for n in fleet.notices if n.title.startswith("near and main"))
    assert "merges cleanly" in body and "ao rebase near" in body
    # The agent whose branch main now conflicts with: which file, both sides, and that it may rebase.
    [text] = fleet.messages("clash")
    assert "main has moved" in text and "app.py" in text and "git rebase main" in text
    assert "round(w * h)" in text and "h * w" in text
    assert fleet.messages("near") == [] and fleet.messages("apart") == []

    # Offered again on every tick: nothing is said twice.
    fleet.tick()
    fleet.tick()
    assert fleet.titles("both change") == ["near and main both change geo.py"]
    assert len(fleet.messages("clash")) == 1 and len(fleet.claims("clash", "conflict_predicted")) == 1

    # A new commit on the branch (still in main's file) is a new pair of commits: said once more.
    _commit(near, {"geo.py": GEO.replace("2 * (w + h)", "(h + w) * 2")}, "near again")
    fleet.tick()
    fleet.tick()
    assert fleet.titles("both change") == ["near and main both change geo.py"] * 2
    assert len(fleet.claims("near", "overlap_detected")) == 2

    # Across a restart: a new engine over the same store says nothing again.
    fleet.engine.store.close()
    again = Fleet(repo, "notify")
    again.tick()
    again.tick()
    assert again.titles("both change") == []
    assert len(again.messages("clash")) == 1 and len(again.claims("clash", "conflict_predicted")) == 1
    again.engine.store.close()


def test_with_rebase_auto_ao_rebases_and_a_conflicting_rebase_is_told_once_not_twice(
    ao_home: Path, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path, files={"app.py": APP})
    fleet = Fleet(repo, "auto")
    ws = _session(fleet, repo, "clash", {"app.py": APP.replace("w * h", "round(w * h)")}, working=True)
    fleet.tick()
    _commit(repo, {"app.py": APP.replace("w * h", "h * w")}, "main moves")
    fleet.tick()
    fleet.tick()
    # Its agent is working: ao waits to rebase it, and the prediction is left to that rebase.
    assert fleet.claims("clash", "conflict_predicted") == [] and fleet.messages("clash") == []
    head = git(ws, "rev-parse", "HEAD")

    fleet.engine.store.update("clash", activity=Activity(state=ActivityState.IDLE))
    fleet.tick()
    fleet.tick()
    # The rebase conflicted: aborted, and the agent told once (merge_conflict), not also conflict_predicted.
    assert git(ws, "rev-parse", "HEAD") == head
    assert fleet.claims("clash", "merge_conflict") == [f"clash:merge_conflict:{head}"]
    assert fleet.claims("clash", "conflict_predicted") == []
    [text] = fleet.messages("clash")
    assert "app.py" in text and "h * w" in text

    # The agent commits again without resolving it: that new commit still conflicts, and it is told so.
    _commit(ws, {"app.py": APP.replace("w * h", "round(w * h, 2)")}, "again")
    fleet.tick()
    fleet.tick()
    assert len(fleet.claims("clash", "conflict_predicted")) == 1
    assert "main has moved" in fleet.messages("clash")[-1]
    fleet.engine.store.close()
