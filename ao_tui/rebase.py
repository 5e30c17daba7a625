"""Rebasing a session's branch onto the default branch, in its own worktree, safely.

Only while its agent is idle (at its prompt, or exited) and its worktree has no
uncommitted changes. Before anything moves, the branch's tip is kept as
``refs/ao/backup/<session>`` and the rebase is written to the store's journal
(``rebases``, state ``started``); a rebase that conflicts is aborted at once (the
branch is back where it was) and reported with its files and hunks. The backup ref
stays until CI passes on the rebased branch.

A rebase cut off by ``kill -9`` leaves the journal at ``started``:
``recover`` (at engine start) aborts whatever git left half done, so the
worktree is back on its backup commit, never mid-rebase.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git
from ao_tui.conflicts import DEFAULT, Predictor, describe_hunks
from ao_tui.errors import AoError
from ao_tui.models import ActivityState, CheckState, Event, Session, SessionStatus

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.rebase")

#: Activity at which a branch may be rebased under its agent: not mid-turn.
IDLE = frozenset({ActivityState.IDLE, ActivityState.WAITING_INPUT, ActivityState.EXITED})
FINISHED = frozenset({SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED})

REBASED, CONFLICT, BUSY, DIRTY, UP_TO_DATE, SKIPPED, FAILED = (
    "rebased", "conflict", "busy", "dirty", "up_to_date", "skipped", "failed")


def backup_ref(session_id: str) -> str:
    return f"refs/ao/backup/{session_id}"


def _identity(cwd: Path) -> dict[str, str]:
    """A committer for the rebased commits when the repository names none (authors are kept)."""
    env: dict[str, str] = {}
    if not git.run(cwd, "config", "user.name", check=False).stdout.strip() and "GIT_COMMITTER_NAME" not in os.environ:
        env["GIT_COMMITTER_NAME"] = "ao"
    if not git.run(cwd, "config", "user.email", check=False).stdout.strip() and "GIT_COMMITTER_EMAIL" not in os.environ:
        env["GIT_COMMITTER_EMAIL"] = "ao@localhost"
    return env


def mid_rebase(workspace: Path) -> bool:
    """Whether git left a rebase under way in this worktree."""
    for name in ("rebase-merge", "rebase-apply"):
        path = git.run(workspace, "rev-parse", "--git-path", name, check=False).stdout.strip()
        if path and (Path(path) if Path(path).is_absolute() else workspace / path).exists():
            return True
    return False


@dataclass
class Outcome:
    state: str
    session_id: str
    detail: str = ""
    head: str = ""
    files: list[str] = field(default_factory=list)


def is_behind(repo: Path, branch_sha: str, default_sha: str) -> bool:
    """Whether the default branch has commits the branch lacks."""
    return git.run(repo, "merge-base", "--is-ancestor", default_sha, branch_sha, check=False).returncode != 0


def may_rebase(session: Session) -> str:
    """Why the session's branch must not be rebased now ("" if it may)."""
    if session.status in FINISHED or not session.workspace or not session.branch:
        return "finished"
    if session.status is SessionStatus.SPAWNING:
        return "starting"
    if session.status is not SessionStatus.EXITED and session.activity.state not in IDLE:
        return "its agent is working"
    return ""


class Rebaser:
    """Rebases session branches for the engine loop (auto-rebase, the merge train)."""

    def __init__(self, engine: Engine, trigger: Callable[[str, Session, str, dict[str, Any]], None] | None = None) -> None:
        self.engine = engine
        self.store = engine.store
        self.trigger = trigger

    def rebase(self, session_id: str, onto: str, *, reason: str = "the default branch moved") -> Outcome:
        """Rebase the session's branch onto commit ``onto`` if nothing stands in the way."""
        session = self.engine.session(session_id)
        why = may_rebase(session)
        if why:
            return Outcome(BUSY if why == "its agent is working" else SKIPPED, session.id, why)
        cfg = self.engine.project_config(session.project)
        ws = Path(session.workspace)
        if not ws.is_dir():
            return Outcome(SKIPPED, session.id, "no workspace")
        if mid_rebase(ws):
            return Outcome(BUSY, session.id, "a rebase is already under way in the worktree")
        current = git.run(ws, "symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
        if current != f"refs/heads/{session.branch}":
            return Outcome(SKIPPED, session.id, f"the worktree is not on {session.branch}")
        if git.run(ws, "status", "--porcelain", "--untracked-files=no", check=False).stdout.strip():
            return Outcome(DIRTY, session.id, "uncommitted changes")
        backup = git.commit_of(ws, "HEAD")
        if backup is None:
            return Outcome(SKIPPED, session.id, "no commits")
        if not is_behind(ws, backup, onto):
            return Outcome(UP_TO_DATE, session.id)
        if not self.store.start_rebase(session.id, onto, session.branch, str(ws), backup):
            return Outcome(SKIPPED, session.id, f"already tried onto {onto[:10]}")
        git.run(ws, "update-ref", "-m", "ao: before rebase", backup_ref(session.id), backup, check=False)
        done = git.run(ws, "rebase", "--no-autostash", "--no-verify", onto, env=_identity(ws), check=False)
        if done.returncode != 0:
            files = [f for f in git.run(ws, "diff", "--name-only", "--diff-filter=U", check=False).stdout.splitlines() if f]
            abort = git.run(ws, "rebase", "--abort", check=False) if mid_rebase(ws) else None
            if abort is not None and abort.returncode != 0:
                log.warning("aborting the rebase of %s failed: %s", session.id, abort.stderr.strip())
            if git.commit_of(ws, f"refs/heads/{session.branch}") != backup:
                git.run(ws, "reset", "--keep", backup, check=False)
            git.run(ws, "update-ref", "-d", backup_ref(session.id), check=False)
            hunks, predicted = self._hunks(cfg.repo, backup, onto, session.id, cfg.default_branch)
            files = files or predicted
            if not files:  # git refused for another reason (a hook, an untracked file in the way...)
                said = [line.strip() for line in (done.stderr or done.stdout).splitlines()
                        if line.strip() and not line.startswith("hint:")]
                why = " ".join(said[:4])[:300] or f"git rebase exited {done.returncode}"
                self.store.finish_rebase(session.id, onto, FAILED, {"error": why})
                self.store.add_event(Event(session_id=session.id, kind="rebase_failed",
                                           data={"onto": onto, "reason": why}))
                self.engine.notify(f"{session.id}: could not rebase {session.branch}", why, session_id=session.id)
                return Outcome(FAILED, session.id, why, backup)
            self.store.finish_rebase(session.id, onto, CONFLICT, {"files": files})
            self.store.add_event(Event(session_id=session.id, kind="rebase_conflict",
                                       data={"onto": onto, "files": files, "reason": ", ".join(files)}))
            self._trigger("merge_conflict", session, f"{session.id}:merge_conflict:{backup}", {
                "head": backup, "branch": session.branch, "base": cfg.default_branch, "files": files,
                "hunks": hunks, "reason": f"rebasing onto {cfg.default_branch} conflicts in {', '.join(files)}"})
            return Outcome(CONFLICT, session.id, ", ".join(files), backup, files)
        head = git.commit_of(ws, "HEAD") or ""
        self.store.finish_rebase(session.id, onto, REBASED, {"head": head, "backup": backup})
        self.store.add_event(Event(session_id=session.id, kind="rebased", data={
            "onto": onto, "from": backup, "head": head, "reason": f"onto {cfg.default_branch} ({reason})"}))
        try:
            self.engine.scm(session.project).publish_rebased(cfg.repo, ws, session.branch, backup)
        except AoError as exc:
            self.store.add_event(Event(session_id=session.id, kind="push_failed",
                                       data={"branch": session.branch, "error": str(exc)}))
            self.engine.notify(f"{session.id}: could not push the rebased {session.branch}", str(exc),
                               session_id=session.id)
        return Outcome(REBASED, session.id, head=head)

    def _hunks(self, repo: Path, sha: str, onto: str, session_id: str, default: str) -> tuple[str, list[str]]:
        try:
            prediction = Predictor(repo).predict(sha, onto)
        except AoError:
            return "", []
        return (describe_hunks(prediction.conflicts, session_id, default),
                [c["path"] for c in prediction.conflicts])

    def _trigger(self, event: str, session: Session, key: str, data: dict[str, Any]) -> None:
        if self.trigger is not None:
            self.trigger(event, session, key, data)

    # -- after the rebase ------------------------------------------------------------

    def release_backups(self) -> list[str]:
        """Drop the backup ref of each rebased branch whose CI has passed (or whose session ended)."""
        released = []
        for row in self.store.rebases(state=REBASED):
            session = self.store.find_session(row["session_id"])
            head = row["data"].get("head", "")
            ended = session is None or session.status in FINISHED
            passed = (session is not None and session.pr is not None and session.pr.ci is CheckState.PASSED
                      and session.pr.head_sha != row["backup"] and bool(head))
            if not (ended or passed):
                continue
            ws = Path(row["workspace"])
            cwd = ws if ws.is_dir() else (self.engine.project_config(session.project).repo if session else ws)
            if cwd.is_dir():
                git.run(cwd, "update-ref", "-d", backup_ref(row["session_id"]), check=False)
            self.store.finish_rebase(row["session_id"], row["onto"], "done", row["data"])
            released.append(row["session_id"])
        return released

    def recover(self) -> list[str]:
        """Rebases a crash cut off: abort what git left, so the branch is back on its backup."""
        recovered = []
        for row in self.store.rebases(state="started"):
            ws = Path(row["workspace"])
            if not ws.is_dir():
                self.store.finish_rebase(row["session_id"], row["onto"], "undone", {"note": "workspace gone"})
                continue
            if mid_rebase(ws):
                git.run(ws, "rebase", "--abort", check=False)
            tip = git.commit_of(ws, f"refs/heads/{row['branch']}")
            if tip == row["backup"] or tip is None:
                current = git.run(ws, "symbolic-ref", "-q", "HEAD", check=False).stdout.strip()
                if current != f"refs/heads/{row['branch']}":
                    git.run(ws, "checkout", "-q", row["branch"], check=False)
                if git.commit_of(ws, "HEAD") != row["backup"]:
                    git.run(ws, "reset", "--keep", row["backup"], check=False)
                state, detail = "undone", "the worktree is back on its backup commit"
            else:
                state, detail = REBASED, "the rebase had finished"
            git.run(ws, "update-ref", "-d", backup_ref(row["session_id"]), check=False) if state == "undone" else None
            self.store.finish_rebase(row["session_id"], row["onto"], state,
                                     {"head": tip or "", "backup": row["backup"], "note": detail})
            self.store.add_event(Event(session_id=row["session_id"], kind="rebase_recovered",
                                       data={"onto": row["onto"], "reason": detail}))
            recovered.append(row["session_id"])
        return recovered


__all__ = ["DEFAULT", "FAILED", "Outcome", "Rebaser", "backup_ref", "is_behind", "may_rebase", "mid_rebase"]
