"""SCM: pull requests, CI, reviews and merging (local git, GitHub)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from ao_tui.models import Check, PullRequest
from ao_tui.slots.base import Plugin, PluginOptions, Seconds


class SCMOptions(PluginOptions):
    """Options the engine reads for any SCM; a plugin's ``Options`` extends these."""

    poll_interval: Seconds | None = Field(
        default=None, description="How often open PRs and CI are re-read (default: 3s local, 30s github).")
    merge_method: Literal["merge", "squash", "rebase"] | None = Field(
        default=None, description="How PRs are merged unless the human or the reaction names a method.")


class SCM(Plugin):
    slot = "scm"
    CommonOptions = SCMOptions

    def add_listener(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(branch, sha)`` when a CI run this SCM runs itself finishes.

        The default does nothing: an SCM whose CI runs elsewhere is polled.
        """

    def close(self) -> None:
        """Stop work the SCM runs itself (CI processes) when the engine stops."""

    def forget_except(self, repo: Path, kept: Sequence[tuple[Path, str, PullRequest | None]]) -> None:
        """Drop what this SCM keeps per PR, branch or workspace of ``repo`` except for ``kept``: the
        sessions still followed (their workspace, branch and PR). The engine loop calls it as sessions
        are retired or deleted, so a long run keeps nothing of every PR it ever saw. The default keeps
        nothing per PR."""

    def prune_finished(self, repo: Path) -> int:
        """Delete what this SCM keeps on disk of ``repo``'s PRs long merged or closed, by its own
        option (SCM ``local``: ``keep_closed_days``); how many things went. The store's upkeep calls
        it every ``store.prune_every``. The default keeps nothing on disk."""
        return 0

    @abstractmethod
    def open_pr(self, repo: Path, workspace: Path, branch: str, base: str, title: str, body: str) -> PullRequest:
        """Open (or find the existing) PR for ``branch``."""

    def publish_branch(self, repo: Path, workspace: Path, branch: str) -> str | None:
        """Make the commits of ``branch`` in ``workspace`` visible to the SCM (GitHub: push them).

        The engine calls this before opening a PR and whenever new commits may have
        appeared (the agent back at its prompt, a poll), so the agent may forget to push.
        Returns the commit published, or None when there was nothing to do; raises
        ``AoError`` (one line) when publishing failed. Never force. The default does
        nothing: an SCM that reads the workspace itself (local) needs no publishing.
        """
        return None

    def publish_rebased(self, repo: Path, workspace: Path, branch: str, previous: str) -> str | None:
        """Publish ``branch`` after ao rebased it: it no longer contains ``previous``, its
        published tip. GitHub: ``git push --force-with-lease`` expecting ``previous`` there
        (a branch someone else moved is refused, never overwritten). Default: nothing to do."""
        return None

    def find_pr(self, repo: Path, workspace: Path, branch: str) -> PullRequest | None:
        """The PR of ``branch`` (open, else the newest merged or closed one), or None.

        Used when the store has lost it (``ao store recover``). The default knows none.
        """
        return None

    @abstractmethod
    def pr_status(self, repo: Path, workspace: Path, pr: PullRequest) -> PullRequest:
        """The PR's current truth: state, head, checks, review, comments, mergeability."""

    def ci_logs(self, repo: Path, pr: PullRequest, check: Check) -> str:
        """The log of a failed check, as much as is useful to an agent."""
        return ""

    @abstractmethod
    def approve(self, repo: Path, pr: PullRequest, body: str = "") -> None: ...

    @abstractmethod
    def request_changes(self, repo: Path, pr: PullRequest, body: str) -> None: ...

    @abstractmethod
    def merge(self, repo: Path, pr: PullRequest, method: str = "squash") -> PullRequest:
        """Merge, or raise ``AoError`` (a conflict is reported as such)."""
