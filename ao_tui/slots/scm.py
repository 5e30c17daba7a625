"""SCM: pull requests, CI, reviews and merging (local git, GitHub)."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

from ao_tui.models import Check, PullRequest
from ao_tui.slots.base import Plugin


class SCM(Plugin):
    slot = "scm"

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
