"""PRs, from the loop's side: a session's PR opened once its agent says it is ready with commits,
its branch published to the SCM (GitHub: pushed, never forced; a refused push reported once per
error), and each PR polled every ``poll_interval`` and at once when something says it changed (its
agent back at its prompt, its CI run finished); an SCM's rate-limit back-off told once.

What a poll finds is the engine's (``Engine.refresh_pr`` -> ``pr_evaluation.evaluate``); this decides
when to look. The loop (``ao_tui.engine_loop``) owns one and calls ``poll`` on every pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git, lifecycle
from ao_tui.config import LOCAL_HOST
from ao_tui.durations import parse_duration
from ao_tui.errors import AoError
from ao_tui.models import Event, Session, SessionStatus
from ao_tui.prompts import says_ready

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.loop")


class PrPoller:
    """Opening, publishing and polling the fleet's PRs (see the module's docstring)."""

    #: A branch whose push failed is tried again no sooner than this (each failure is reported once).
    push_retry_seconds = 60.0

    def __init__(self, engine: Engine, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.store = engine.store
        self.wake = wake  # the loop's: look again now
        self.due: set[str] = set()  # sessions whose PR is looked at (or opened) on the next pass
        self.last_poll: dict[str, float] = {}  # session -> when its PR was last polled (monotonic)
        self.push_failed: dict[str, tuple[str, float]] = {}  # session -> (the error reported, when)
        self._scms: list[Any] = []
        self._rate_limited_until = 0.0

    def check_soon(self, session_id: str) -> None:
        """Look at the session's PR (or open it) on the next pass."""
        self.due.add(session_id)

    def forget(self, keep: set[str]) -> None:
        """Drop what is kept for sessions not in ``keep`` (retired or deleted)."""
        for table in (self.last_poll, self.push_failed):
            for sid in [k for k in table if k not in keep]:
                table.pop(sid, None)
        self.due &= keep

    def _poll_interval(self, project: str) -> float:
        cfg = self.engine.config.projects.get(project)
        if cfg is None:
            return 30.0
        default = 3.0 if cfg.scm.plugin == "local" else 30.0
        return parse_duration(cfg.scm.options.get("poll_interval", default))

    def poll(self, now: float) -> None:
        """Poll each open PR every poll interval, and at once when something says it changed:
        its agent came back to its prompt (it may have committed) or its CI run finished."""
        for s in self.engine.sessions(include_at_rest=False):
            due_now = s.id in self.due
            self.due.discard(s.id)
            if s.pr is None:
                if due_now and s.status in lifecycle.AGENT_STATES:
                    self.maybe_open_pr(s)
                continue
            if s.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED):
                continue  # (a restored session with a PR is followed again: its status is an agent's)
            if not due_now and now - self.last_poll.get(s.id, 0.0) < self._poll_interval(s.project):
                continue
            self.last_poll[s.id] = now
            if s.pr.state == "open":
                self.publish(s)  # new commits reach the PR even if the agent did not push them
            try:
                self.engine.refresh_pr(s.id)
            except Exception as exc:
                if not self.note_rate_limit(s.project, exc):
                    log.warning("PR status for %s failed: %s", s.id, exc)

    def publish(self, s: Session) -> bool:
        """Have the SCM publish the session's branch (GitHub: push it) if it has commits the
        SCM lacks. A failure is reported once (event, notification) per distinct error, and the
        push is tried again no sooner than ``push_retry_seconds``; returns False while it fails."""
        if not s.workspace:
            return True
        failed = self.push_failed.get(s.id)
        if failed is not None and time.monotonic() - failed[1] < self.push_retry_seconds:
            return False
        try:
            pushed = self.engine.scm(s.project).publish_branch(
                self.engine.project_config(s.project).repo, Path(s.workspace), s.branch)
        except Exception as exc:
            if self.note_rate_limit(s.project, exc):
                return False
            error = str(exc) or type(exc).__name__
            if failed is None or failed[0] != error:
                log.warning("publishing %s for %s failed: %s", s.branch, s.id, error)
                self.store.add_event(Event(session_id=s.id, kind="push_failed",
                                           data={"branch": s.branch, "error": error}))
                self.engine.notify(f"{s.id}: could not push {s.branch}", error, session_id=s.id)
            self.push_failed[s.id] = (error, time.monotonic())
            return False
        self.push_failed.pop(s.id, None)
        if pushed:
            self.store.add_event(Event(session_id=s.id, kind="pushed", data={"branch": s.branch, "head": pushed}))
        return True

    def note_rate_limit(self, project: str, exc: BaseException) -> bool:
        """Whether ``exc`` is an SCM's rate-limit back-off (it carries ``reset_at``, epoch seconds).
        The human hears of each back-off once, with the reset time (the TUI's toast, ``ao run``'s
        output), however many polls it refuses."""
        reset_at = getattr(exc, "reset_at", None)
        if not isinstance(reset_at, (int, float)):
            return False
        if time.time() >= self._rate_limited_until:  # not the back-off already reported
            text = str(exc)  # e.g. "GitHub rate limit: resets at 14:05"
            log.warning("%s; PR, CI and review updates wait until then", text)
            self.engine.notify(text, "PR, CI and review updates wait until then; nothing is lost.")
        self._rate_limited_until = max(self._rate_limited_until, float(reset_at))
        return True

    def listen_to_scms(self) -> None:
        """SCMs that run CI themselves (local) say when a run ends: poll that PR at once."""
        for project in self.engine.config.projects:
            try:
                scm = self.engine.scm(project)
            except Exception as exc:
                log.warning("no SCM for %s: %s", project, exc)
                continue
            if scm not in self._scms:
                self._scms.append(scm)
                scm.add_listener(self._on_ci_finished)

    def _on_ci_finished(self, branch: str, sha: str) -> None:
        for s in self.engine.sessions(include_at_rest=False):
            if s.branch == branch and s.pr is not None:
                self.due.add(s.id)
        self.wake()

    def close_scms(self) -> None:
        for scm in self._scms:
            try:
                scm.close()
            except Exception:
                log.exception("closing SCM %s", scm.name)
        # A closed SCM runs no more CI: let a later start create fresh ones.
        self.engine.forget_plugins("scm")
        self._scms.clear()

    def maybe_open_pr(self, s: Session) -> None:
        """Open the PR once the agent has committed work and says it is ready."""
        if not says_ready(s.last_message) and not s.extra.get("auto_pr"):
            return
        if s.host != LOCAL_HOST:
            try:  # its commits, read by git on the host; open_pr pushes and fetches them
                if not s.extra.get("remote_workspace") or not self.engine.commits(s.id, limit=1):
                    return
            except AoError as exc:
                log.warning("reading %s's commits on %s failed: %s", s.id, s.host, exc)
                return
        elif not s.workspace:
            return
        else:
            cfg = self.engine.project_config(s.project)
            try:
                ahead = git.run(s.workspace, "rev-list", "--count", f"{cfg.default_branch}..HEAD", check=False)
            except AoError as exc:
                log.warning("counting %s's commits failed: %s", s.id, exc)
                return
            if ahead.returncode != 0 or int(ahead.stdout.strip() or 0) == 0:
                return
            if not self.publish(s):  # GitHub cannot open a PR for a branch it has not got
                return
        try:
            self.engine.open_pr(s.id)
        except AoError as exc:
            if not self.note_rate_limit(s.project, exc):
                log.warning("opening PR for %s failed: %s", s.id, exc)
