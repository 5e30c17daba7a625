"""A finished session's work, read from its repository once its workspace is gone.

The engine reads changed files, commits and diffs in the session's workspace.
After a merge the engine retires the session and removes the workspace, but its
commits are still in the repository: the branch, or the PR's head commit that
the SCM recorded. From there ``d`` and the detail pane still show what it did.

Every call runs git (a subprocess): call it off the UI thread.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ao_tui.engine import ChangedFile, Commit
from ao_tui.errors import AoError
from ao_tui.models import Session

GIT_TIMEOUT = 10.0


def workspace_present(session: Session) -> bool:
    """Whether the session's worktree (or clone) is still on disk."""
    return bool(session.workspace) and (Path(session.workspace) / ".git").exists()


def diff_possible(session: Session) -> bool:
    """Whether ``d`` can show something: a workspace, or commits to find in the repository (a branch, a PR head).

    Cheap (one stat): the footer asks it on every redraw.
    """
    return workspace_present(session) or bool(session.pr and session.pr.head_sha)


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, errors="replace")
    except subprocess.TimeoutExpired:
        raise AoError(f"git {args[0]} in {repo} took longer than {GIT_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise AoError(f"git {args[0]} in {repo} failed: {exc}") from None
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or [""]
        raise AoError(f"git {args[0]} in {repo} failed: {last[0]}")
    return done.stdout


def _commit(repo: Path, ref: str) -> str | None:
    try:
        return _git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}").strip() or None
    except AoError:
        return None


@dataclass(frozen=True)
class PastWork:
    """A session's commits between ``base`` (where it forked) and ``head`` (its last commit), in ``repo``."""

    repo: Path
    base: str
    head: str

    @classmethod
    def find(cls, session: Session, repo: Path, default_branch: str) -> PastWork:
        """The session's work in ``repo``; ``AoError`` saying why when its commits cannot be found."""
        repo = Path(repo)
        candidates = [session.pr.head_sha] if session.pr and session.pr.head_sha else []
        if session.branch:
            candidates += [f"refs/heads/{session.branch}", f"refs/remotes/origin/{session.branch}"]
        head = next((sha for sha in (_commit(repo, c) for c in candidates) if sha), None)
        if head is None:
            raise AoError(f"{session.id}'s workspace is gone and its commits are not in {repo} any more")
        base = ""
        for ref in (f"refs/remotes/origin/{default_branch}", f"refs/heads/{default_branch}"):
            try:
                base = _git(repo, "merge-base", head, ref).strip()
            except AoError:
                continue
            if base:
                break
        if not base or base == head:  # merged by fast-forward (or unrelated): its own commits are unknown
            parent = _commit(repo, f"{head}~1")
            base = parent or head
        return cls(repo, base, head)

    def files(self) -> list[ChangedFile]:
        out = _git(self.repo, "diff", "--numstat", "-z", self.base, self.head)
        files: list[ChangedFile] = []
        entries = iter(out.split("\0"))
        for entry in entries:
            if not entry.strip():
                continue
            added, deleted, path = (entry.split("\t", 2) + ["", ""])[:3]
            if not path:  # a rename: the old and the new path follow
                next(entries, "")
                path = next(entries, "")
            files.append(ChangedFile(path=path, added=int(added) if added.isdigit() else 0,
                                     deleted=int(deleted) if deleted.isdigit() else 0))
        return files

    def diff(self, path: str | None = None) -> str:
        args = ["diff", "--no-color", "--no-ext-diff", self.base, self.head]
        if path:
            args += ["--", path]
        return _git(self.repo, *args)

    def commits(self, limit: int = 10) -> list[Commit]:
        out = _git(self.repo, "log", f"--max-count={limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e",
                   f"{self.base}..{self.head}")
        result = []
        for record in out.split("\x1e"):
            parts = record.strip("\n").split("\x1f")
            if len(parts) == 4:
                result.append(Commit(sha=parts[0], author=parts[1], date=parts[2], subject=parts[3]))
        return result


__all__ = ["PastWork", "diff_possible", "workspace_present"]
