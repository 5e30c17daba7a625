"""The engine loop's eye on branches: predicted conflicts, auto-rebase and the merge train.

Each loop tick, per project, one ``git for-each-ref`` says whether any live
branch or the default branch moved; only then are the new pairs predicted
(``ao_tui.conflicts``). What follows from a prediction:

* the session's row carries a short summary (``extra["conflicts"]``) for the
  control room's mark, and the pairs stay in the store for the detail pane,
  ``ao conflicts`` and the orchestrator;
* ``overlap_detected`` (keyed by the pair: once per pair) and
  ``conflict_predicted`` (keyed by the pair and both commits, on the session
  that committed later) go to the reaction runner, which claims each key once;
  against the default branch both are keyed by the two commits, on the session
  (``auto`` leaves a branch it is about to rebase to the rebase);
* when the default branch moved, the project's ``rebase`` mode decides:
  ``auto`` rebases each idle, clean branch that is behind (``ao_tui.rebase``),
  ``notify`` tells the human which would rebase cleanly, ``off`` nothing;
* the merge train (``ao_tui.merge_train``) takes its next step.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git
from ao_tui.conflicts import (
    DEFAULT,
    ConflictWatch,
    Overlap,
    describe_hunks,
    live_sessions,
    overlaps_for,
    refresh_marks,
)
from ao_tui.merge_train import MergeTrain
from ao_tui.models import Event, Session
from ao_tui.rebase import BUSY, DIRTY, REBASED, Rebaser, is_behind

if TYPE_CHECKING:
    from ao_tui.engine_loop import EngineLoop

log = logging.getLogger("ao.branches")


def commits_key(event: str, session_id: str, overlap: Overlap) -> str:
    """A reaction's claim key for one pair of commits: once per commit of either branch."""
    return f"{session_id}:{event}:{overlap.other}:{overlap.sha[:12]}:{overlap.other_sha[:12]}"


class BranchWatch:
    #: Current predictions are offered to the reaction runner again this often (a cooldown may have ended).
    resend_seconds = 30.0
    min_interval = 1.0
    #: With the ref watch, branches are also read this often (clone workspaces keep their own refs).
    fallback_seconds = 60.0
    #: A branch left behind for uncommitted changes is looked at again this often (git status each time).
    dirty_retry_seconds = 10.0

    def __init__(self, loop: EngineLoop) -> None:
        self.loop = loop
        self.engine = loop.engine
        self.store = loop.engine.store
        self.conflicts = ConflictWatch(self.store)
        self.rebaser = Rebaser(self.engine, trigger=loop.react)
        self.train = MergeTrain(self.engine, self.rebaser)
        self._pending: dict[str, str] = {}  # project -> default commit its behind branches await
        self._waiting: dict[str, set[str]] = {}  # project -> sessions still to rebase onto it
        self._last_emit: dict[str, float] = {}
        self._last_tick = 0.0
        self._retry_at: dict[str, float] = {}
        self._default: dict[str, str] = {}  # project -> default branch commit at the last scan
        self._last_scan = 0.0
        self._moved = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watching = False

    def forget_gone(self, keep: set[str]) -> None:
        """Drop per-session retry times of sessions not in ``keep`` (retired or deleted)."""
        for sid in [k for k in list(self._retry_at) if k not in keep]:
            self._retry_at.pop(sid, None)
        self.train.forget_gone(keep)

    def start(self) -> None:
        """At engine start: undo rebases a crash cut off; watch the repositories' branch refs."""
        try:
            for sid in self.rebaser.recover():
                log.warning("a rebase of %s was cut off; its worktree is back on its backup commit", sid)
        except Exception:
            log.exception("recovering interrupted rebases")
        self._start_ref_watch()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- noticing that a branch moved, without polling git ------------------------------

    def _start_ref_watch(self) -> None:
        """A commit, a merge or a rebase rewrites a file under ``<git dir>/refs/heads`` (worktrees
        share the repository's refs): watched with watchfiles, so an idle fleet costs no git call.
        Clone workspaces keep their own refs: the ``fallback_seconds`` scan finds their commits."""
        try:
            import watchfiles  # noqa: F401
        except ImportError:
            return
        dirs = set()
        for cfg in self.engine.config.projects.values():
            try:
                common = git.run(cfg.repo, "rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
            except Exception as exc:
                log.warning("cannot find the git directory of %s: %s", cfg.repo, exc)
                continue
            refs = Path(common) / "refs" / "heads"
            if refs.is_dir():
                dirs.add(str(refs))
        if not dirs:
            return
        self._thread = threading.Thread(target=self._watch_refs, args=(sorted(dirs),), name="ao-ref-watch",
                                        daemon=True)
        self._thread.start()
        self._watching = True

    def _watch_refs(self, dirs: list[str]) -> None:
        import watchfiles

        while not self._stop.is_set():
            try:
                # watch_filter=None: the default filter drops everything under a .git directory.
                for _ in watchfiles.watch(*dirs, watch_filter=None, debounce=50, step=20, stop_event=self._stop,
                                          recursive=True, raise_interrupt=False, ignore_permission_denied=True):
                    self._moved.set()
                    self.loop.wake()
            except Exception:  # noqa: BLE001 - keep watching; the fallback scan covers the gap
                log.exception("branch ref watch failed; restarting it")
                self._moved.set()
                self._stop.wait(1.0)

    # -- each tick --------------------------------------------------------------------------

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_tick < self.min_interval:
            return  # the loop wakes on every activity update: git is asked at most this often
        self._last_tick = now
        scan = (not self._watching or self._moved.is_set() or now - self._last_scan >= self.fallback_seconds)
        if scan:
            self._moved.clear()
            self._last_scan = now
        for project in list(self.engine.config.projects):
            try:
                self._project(project, scan)
            except Exception:
                log.exception("branch watch of %s", project)
        try:
            self.rebaser.release_backups()
            self.train.step()
        except Exception:
            log.exception("rebases and merge train")

    def _project(self, project: str, scan: bool) -> None:
        cfg = self.engine.project_config(project)
        now = time.monotonic()
        resend = now - self._last_emit.get(project, 0.0) >= self.resend_seconds
        if not (scan or resend or self._waiting.get(project)):
            return
        sessions = self.engine.sessions(project, include_at_rest=False)  # the watch looks at live branches only
        if scan:
            result = self.conflicts.scan(project, cfg.repo, cfg.default_branch, sessions)
            if result.default_sha:
                self._default[project] = result.default_sha
            resend = resend or bool(result.changed)
        default_sha = self._default.get(project)
        if default_sha and self._pending.get(project) != default_sha:
            first = project not in self._pending
            self._pending[project] = default_sha
            # At start a branch may be behind a default branch that moved while ao was down:
            # auto rebases it; notify speaks only of moves it saw.
            if not first or cfg.rebase == "auto":
                self._waiting[project] = {s.id for s in live_sessions(sessions)}
        if resend:  # after the waiting list: what auto is about to rebase is its to report
            self._last_emit[project] = now
            self._publish(project, cfg.default_branch, cfg.rebase, sessions)
        if cfg.rebase != "off" and self._waiting.get(project) and default_sha:
            self._rebase_pass(project, cfg, default_sha, {s.id: s for s in sessions})

    # -- showing and reacting --------------------------------------------------------

    def _publish(self, project: str, default: str, rebase_mode: str, sessions: list[Session]) -> None:
        by_id = {s.id: s for s in sessions}
        refresh_marks(self.engine, project, sessions, default)
        for pair in self.store.branch_pairs(project):
            if not pair["files"]:
                continue
            later = pair["later"]
            session = by_id.get(later)
            if session is None:
                continue
            other = pair["b"] if pair["a"] == later else pair["a"]
            mine = next((o for o in overlaps_for(self.store, later, project) if o.other == other), None)
            if mine is None:
                continue
            if other == DEFAULT:
                self._versus_default(project, session, mine, default, rebase_mode)
                continue
            other_branch = by_id[other].branch if other in by_id else default
            if not mine.conflicting:
                self.loop.react("overlap_detected", session, f"{min(later, other)}:overlap_detected:{max(later, other)}", {
                    "other": other, "other_branch": other_branch, "files": mine.files,
                    "reason": f"{later} and {other} both change {', '.join(mine.files[:8])}"})
                continue
            files = [c["path"] for c in mine.conflicts]
            self.loop.react("conflict_predicted", session, commits_key("conflict_predicted", later, mine), {
                "other": other, "other_branch": other_branch, "files": files,
                "hunks": describe_hunks(mine.conflicts, later, other),
                "head": mine.sha, "other_head": mine.other_sha,
                "reason": f"merging with {other} conflicts in {', '.join(files)}"})

    def _versus_default(self, project: str, session: Session, mine: Overlap, default: str, rebase_mode: str) -> None:
        """The default branch and a session's branch changed the same files since they parted (main
        moved into the branch's files, or the branch into main's): the same two reactions as between
        two sessions, keyed by both commits (once per branch commit and default commit). With
        ``rebase: auto`` a branch ao is about to rebase is left to the rebase, which reports a conflict
        itself (``merge_conflict``); a branch with a PR hears of a conflict through its PR."""
        if rebase_mode == "auto" and session.id in self._waiting.get(project, ()):
            return
        files = [c["path"] for c in mine.conflicts] if mine.conflicting else mine.files
        data = {"other": default, "other_branch": default, "with_default": True, "files": files,
                "head": mine.sha, "other_head": mine.other_sha}
        if not mine.conflicting:
            self.loop.react("overlap_detected", session, commits_key("overlap_detected", session.id, mine), {
                **data, "reason": f"{default} and {session.id} both changed {', '.join(files[:8])} since the branch "
                                  f"left {default}; it still merges cleanly (`ao rebase {session.id}` puts it on top)"})
            return
        if session.pr is not None:
            return  # the PR's merge_conflict reports it
        told = f"{session.id}:merge_conflict:{mine.sha}"  # ao's own rebase of this very commit conflicted
        if any(c["key"] == told for c in self.store.claims(session.id)):
            return
        self.loop.react("conflict_predicted", session, commits_key("conflict_predicted", session.id, mine), {
            **data, "hunks": describe_hunks(mine.conflicts, session.id, default),
            "reason": f"{default} moved and now conflicts with {session.id} in {', '.join(files)}"})

    # -- rebasing -------------------------------------------------------------------------

    def _rebase_pass(self, project: str, cfg: Any, default_sha: str, by_id: dict[str, Session]) -> None:
        waiting = self._waiting[project]
        clean: list[str] = []
        for sid in sorted(waiting):
            session = by_id.get(sid)
            if session is None or not session.workspace:
                waiting.discard(sid)
                continue
            if cfg.rebase == "auto":
                if any(r["session_id"] == sid and r["state"] not in ("merged", "left") for r in self.store.train(project)):
                    waiting.discard(sid)  # the train rebases its own
                    continue
                if time.monotonic() < self._retry_at.get(sid, 0.0):
                    continue
                outcome = self.rebaser.rebase(sid, default_sha)
                if outcome.state == DIRTY:
                    self._retry_at[sid] = time.monotonic() + self.dirty_retry_seconds
                if outcome.state not in (BUSY, DIRTY):
                    waiting.discard(sid)
                if outcome.state == REBASED:
                    self._moved.set()  # read the new head before the old pair is offered again
                    self.loop.prs.check_soon(sid)  # its CI runs on the new commit
                    self.loop.wake()
                continue
            waiting.discard(sid)
            tip = git.commit_of(cfg.repo, f"refs/heads/{session.branch}")
            if not tip or not is_behind(cfg.repo, tip, default_sha):
                continue
            vs_default = next((o for o in overlaps_for(self.store, sid, project) if o.other == DEFAULT), None)
            if vs_default is None or not vs_default.conflicting:
                clean.append(sid)
        if clean:
            for sid in clean:
                self.store.add_event(Event(session_id=sid, kind="rebase_possible", data={
                    "onto": default_sha, "reason": f"{cfg.default_branch} moved; rebases cleanly"}))
            self.engine.notify(f"{cfg.default_branch} moved: {len(clean)} branch(es) can rebase cleanly",
                               f"{', '.join(clean)} (`ao rebase ID`, or set rebase: auto)",
                               session_id=clean[0] if len(clean) == 1 else None)
