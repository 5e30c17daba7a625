"""The merge train: approved, green PRs merged one at a time, each on top of the last.

``enqueue`` puts ready PRs on a project's train in an order that avoids the
conflicts ``ao_tui.conflicts`` predicts among them (those that conflict with no
other go first; of two that conflict, the later one waits at the back, where a
rebase onto the merged first tells it early). ``MergeTrain.step`` (each engine
loop tick) moves the front PR on: rebase it onto the current default branch
(``ao_tui.rebase``, only while its agent is idle and its worktree clean), wait
for its CI on the rebased commit, merge it. A PR whose rebase conflicts or whose
CI fails after the rebase leaves the train and goes back to its agent (the
``merge_conflict`` / ``ci_failed`` reactions tell it). The train's state lives
in the store, so it carries on after a restart.

An approval survives ao's own clean rebase: a PR approved at commit A and rebased
by the train to A' counts as approved at A' (an SCM that dismisses stale
approvals would otherwise stop every train); a commit by anyone else needs a new
approval.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git
from ao_tui.conflicts import DEFAULT
from ao_tui.errors import AoError
from ao_tui.models import CheckState, Event, ReviewState, Session, SessionStatus
from ao_tui.rebase import BUSY, CONFLICT, DIRTY, FAILED, REBASED, SKIPPED, UP_TO_DATE, Rebaser, is_behind

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.train")

QUEUED, REBASING, WAITING, CI, MERGED, LEFT = "queued", "rebasing", "waiting", "ci", "merged", "left"
FINAL = frozenset({MERGED, LEFT})


def not_ready(session: Session) -> str:
    """Why the session's PR cannot join a train ("" if it can)."""
    pr = session.pr
    if pr is None:
        return "no PR"
    if pr.state != "open" or session.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED):
        return f"PR is {pr.state}"
    reasons = []
    if pr.review is not ReviewState.APPROVED:
        reasons.append("not approved")
    if pr.ci is CheckState.FAILED:
        reasons.append("CI is failing")
    elif pr.ci in (CheckState.PENDING, CheckState.RUNNING):
        reasons.append("CI has not finished")
    return ", ".join(reasons)


def plan_order(store: Any, sessions: list[Session]) -> list[Session]:
    """An order that avoids predicted conflicts: the fewest conflicts with the others first,
    and no two that conflict next to each other's merge while another choice remains."""
    ids = {s.id for s in sessions}
    clash: dict[str, set[str]] = {s.id: set() for s in sessions}
    for s in sessions:
        for pair in store.branch_pairs(s.project, member=s.id):
            if not pair["conflicts"]:
                continue
            other = pair["b"] if pair["a"] == s.id else pair["a"]
            if other in ids or other == DEFAULT:
                clash[s.id].add(other)
    remaining = sorted(sessions, key=lambda s: (len(clash[s.id]), s.pr.number if s.pr and s.pr.number else 0, s.id))
    order: list[Session] = []
    while remaining:
        chosen = {s.id for s in order}
        pick = next((s for s in remaining if not (clash[s.id] & chosen)), remaining[0])
        order.append(pick)
        remaining.remove(pick)
    return order


def enqueue(engine: Engine, session_ids: list[str] | None = None,
            project: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Put ready PRs on their project's train (all ready ones when no ids are given).

    Returns (the ids added in train order, {id: why refused}).
    """
    refused: dict[str, str] = {}
    if session_ids:
        candidates = []
        for sid in session_ids:
            s = engine.session(sid)
            why = not_ready(s)
            if why:
                refused[sid] = why
            else:
                candidates.append(s)
    else:
        candidates = [s for s in engine.sessions(project, include_at_rest=False) if s.status is SessionStatus.MERGEABLE and not not_ready(s)]
    added: list[str] = []
    for name in sorted({s.project for s in candidates}):
        ordered = plan_order(engine.store, [s for s in candidates if s.project == name])
        new = engine.store.train_add(name, [s.id for s in ordered])
        for s in ordered:
            if s.id in new:
                engine.store.train_update(s.id, QUEUED, {"approved": [s.pr.head_sha] if s.pr else []})
                engine.store.add_event(Event(session_id=s.id, kind="train", data={"reason": "joined the merge train"}))
        added += new
    return added, refused


def progress(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Where a project's running train is (its ``store.train`` rows, in order), for the status bar:
    the front PR's place, which session it is and what it waits for; None when nothing is left to do."""
    front = next(((n, r) for n, r in enumerate(rows, 1) if r["state"] not in FINAL), None)
    if front is None:
        return None
    n, row = front
    return {"project": row["project"], "position": n, "of": len(rows), "session": row["session_id"],
            "doing": _doing(row["state"], str(row["data"].get("reason", "")))}


def _doing(state: str, reason: str) -> str:
    if state == CI:
        return "waiting for CI"
    if state == REBASING:
        return "rebasing"
    if reason.startswith("waiting to rebase"):
        return "waiting to rebase"
    if reason.startswith("needs a new approval"):
        return "needs approval"
    return "waiting" if state == WAITING else "next"


class MergeTrain:
    """Moves each project's train on, one PR at a time (called by the engine loop)."""

    refresh_seconds = 3.0

    def __init__(self, engine: Engine, rebaser: Rebaser) -> None:
        self.engine = engine
        self.store = engine.store
        self.rebaser = rebaser
        self._asked: dict[str, float] = {}

    def forget_gone(self, keep: set[str]) -> None:
        """Drop when each session not in ``keep`` (retired or deleted) was last asked about."""
        for sid in [k for k in list(self._asked) if k not in keep]:
            self._asked.pop(sid, None)

    def step(self) -> bool:
        """One move per project's train; True if anything changed."""
        moved = False
        for project in sorted({row["project"] for row in self.store.train()}):
            try:
                moved = self._step(project) or moved
            except Exception:
                log.exception("merge train of %s", project)
        return moved

    def _step(self, project: str) -> bool:
        rows = self.store.train(project)
        front = next((r for r in rows if r["state"] not in FINAL), None)
        if front is None:
            for r in rows:  # the train has finished: clear it
                self.store.train_remove(r["session_id"])
            if rows:
                merged = [r["session_id"] for r in rows if r["state"] == MERGED]
                left = [r["session_id"] for r in rows if r["state"] == LEFT]
                self._notify(project, f"merge train done: {len(merged)} merged" + (f", {len(left)} left" if left else ""),
                             ", ".join(merged) + (f"; left: {', '.join(left)}" if left else ""))
            return bool(rows)
        return self._advance(front)

    def _advance(self, row: dict[str, Any]) -> bool:
        sid, data = row["session_id"], dict(row["data"])
        session = self.store.find_session(sid)
        if session is None:
            self.store.train_update(sid, LEFT, {**data, "reason": "session gone"})
            return True
        if session.status is SessionStatus.MERGED:
            self.store.train_update(sid, MERGED, data)
            return True
        if session.pr is None or session.pr.state != "open" or session.status in (SessionStatus.DONE, SessionStatus.KILLED):
            return self._leave(session, data, "its PR is no longer open")
        cfg = self.engine.project_config(session.project)
        repo = Path(cfg.repo)
        default_sha = git.commit_of(repo, f"refs/heads/{cfg.default_branch}")
        head = git.commit_of(repo, f"refs/heads/{session.branch}") or session.pr.head_sha
        if default_sha is None or not head:
            return False
        if is_behind(repo, head, default_sha):
            outcome = self.rebaser.rebase(sid, default_sha, reason="merge train")
            if outcome.state == REBASED:
                approved = list(data.get("approved", []))
                if head in approved:
                    approved.append(outcome.head)
                self.store.train_update(sid, CI, {**data, "approved": approved, "head": outcome.head})
                self._refresh(sid)
                return True
            if outcome.state == CONFLICT:
                return self._leave(session, data, f"rebasing onto {cfg.default_branch} conflicts in {outcome.detail}")
            if outcome.state == FAILED:
                return self._leave(session, data, f"could not rebase: {outcome.detail}")
            if outcome.state in (BUSY, DIRTY):
                return self._wait(row, data, f"waiting to rebase: {outcome.detail}")
            if outcome.state == SKIPPED:
                last = next((r for r in reversed(self.store.rebases(sid)) if r["onto"] == default_sha), None)
                if last is not None and last["state"] == CONFLICT:
                    return self._leave(session, data, f"rebasing onto {cfg.default_branch} conflicts")
                return self._wait(row, data, f"waiting to rebase: {outcome.detail}")
            if outcome.state != UP_TO_DATE:
                return False
        pr = self._refresh(sid, now=False)
        if pr is None:
            return False
        if pr.head_sha != head:
            pr = self._refresh(sid)  # the stored PR predates the branch's tip
            if pr is None:
                return False
        if pr.ci is CheckState.FAILED:
            return self._leave(session, data, "CI failed after the rebase; back to its agent")
        if pr.ci in (CheckState.PENDING, CheckState.RUNNING):
            return self._wait(row, {**data, "head": pr.head_sha}, "waiting for CI", state=CI)
        if pr.has_conflicts:
            return self._leave(session, data, f"conflicts with {cfg.default_branch}")
        is_approved = pr.review is ReviewState.APPROVED or pr.head_sha in data.get("approved", [])
        if not is_approved:
            return self._wait(row, data, "needs a new approval (the branch changed after it)")
        try:
            self.engine.merge(sid, force=True)
        except AoError as exc:
            return self._leave(session, data, f"merge failed: {exc}")
        self.store.train_update(sid, MERGED, data)
        self.store.add_event(Event(session_id=sid, kind="train", data={"reason": "merged by the train"}))
        return True

    def _refresh(self, sid: str, *, now: bool = True) -> Any:
        """The PR's truth: asked of the SCM at most every ``refresh_seconds`` (the loop polls it too)."""
        last = self._asked.get(sid, 0.0)
        if not now and time.monotonic() - last < self.refresh_seconds:
            session = self.store.find_session(sid)
            return session.pr if session is not None else None
        self._asked[sid] = time.monotonic()
        try:
            return self.engine.refresh_pr(sid)
        except AoError as exc:
            log.warning("PR status for %s failed: %s", sid, exc)
            return None

    def _wait(self, row: dict[str, Any], data: dict[str, Any], reason: str, state: str = WAITING) -> bool:
        if row["state"] == state and row["data"].get("reason") == reason:
            return False
        self.store.train_update(row["session_id"], state, {**data, "reason": reason})
        return True

    def _leave(self, session: Session, data: dict[str, Any], reason: str) -> bool:
        self.store.train_update(session.id, LEFT, {**data, "reason": reason})
        self.store.add_event(Event(session_id=session.id, kind="train", data={"reason": f"left the merge train: {reason}"}))
        self._notify(session.project, f"{session.id} left the merge train", reason, session.id)
        return True

    def _notify(self, project: str, title: str, body: str, session_id: str | None = None) -> None:
        try:
            self.engine.notify(title, body, session_id=session_id)
        except Exception:
            log.exception("notifying about the train of %s", project)
