"""What a session changed: its commits, changed files and diff, read with git.

While the session's workspace exists, from the workspace (uncommitted work
included). After its merge the engine retires the session and removes the
workspace, but its commits are still in the project's repository: the PR's
head commit the SCM recorded, or its branch. From there the detail pane, ``d``
and the CLI still show what it did.

Every call runs git (a subprocess, through ``ao_tui.git``): UIs call these off their event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ao_tui import git
from ao_tui.errors import AoError
from ao_tui.models import Session

GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    date: str  # ISO 8601, as git prints it
    subject: str


@dataclass(frozen=True)
class ChangedFile:
    path: str
    added: int = 0
    deleted: int = 0
    untracked: bool = False


@dataclass(frozen=True)
class WorkSpan:
    """Where a session's work is: git runs in ``cwd``; the work is ``base`` to ``head``.

    ``head`` None: the workspace's working tree, uncommitted changes included.
    A ``head`` commit: a retired session's last commit, found in its repository.
    """

    cwd: Path
    base: str
    head: str | None = None
    #: How git runs for this span when not here: on a session's SSH host, through ao there (its argv).
    runner: Callable[[list[str]], str] | None = None

    @property
    def retired(self) -> bool:
        return self.head is not None

    def git(self, *args: str) -> str:
        if self.runner is not None:
            return self.runner(list(args))
        return git.out(self.cwd, *args, timeout=GIT_TIMEOUT)


def _commit(cwd: Path, ref: str) -> str | None:
    try:
        return git.commit_of(cwd, ref, timeout=GIT_TIMEOUT)
    except AoError:
        return None


def workspace_present(session: Session) -> bool:
    """Whether the session's worktree (or clone) is still on disk."""
    return bool(session.workspace) and (Path(session.workspace) / ".git").exists()


def work_visible(session: Session) -> bool:
    """Whether there is work to show: a workspace (here or on the session's host), or commits to look for
    (a PR head). One stat at most: cheap."""
    return workspace_present(session) or bool(session.pr and session.pr.head_sha) \
        or bool(session.extra.get("remote_workspace"))


def remote_span(run: Callable[[list[str]], str], default_branch: str) -> WorkSpan:
    """A session's work in its worktree on another host, git run there by ``run`` (ao on the host)."""
    base = ""
    for ref in (f"refs/remotes/origin/{default_branch}", f"refs/heads/{default_branch}"):
        try:
            base = run(["merge-base", "HEAD", ref]).strip()
        except AoError:
            continue
        if base:
            break
    return WorkSpan(Path("."), base or "HEAD", runner=run)


def _fork_point(cwd: Path, head: str, default_branch: str) -> str:
    for ref in (f"refs/remotes/origin/{default_branch}", f"refs/heads/{default_branch}"):
        try:
            base = git.out(cwd, "merge-base", head, ref, timeout=GIT_TIMEOUT).strip()
        except AoError:
            continue
        if base:
            return base
    return ""


def span_of(session: Session, repo: Path, default_branch: str) -> WorkSpan:
    """The session's work: in its workspace, else (retired) in ``repo``; ``AoError`` saying why if neither."""
    if workspace_present(session):
        workspace = Path(session.workspace)
        return WorkSpan(workspace, _fork_point(workspace, "HEAD", default_branch) or "HEAD")
    if not (session.pr and session.pr.head_sha) and not session.branch:
        raise AoError(f"session {session.id} has no workspace (yet)")
    candidates = [session.pr.head_sha] if session.pr and session.pr.head_sha else []
    if session.branch:
        candidates += [f"refs/heads/{session.branch}", f"refs/remotes/origin/{session.branch}"]
    head = next((sha for sha in (_commit(repo, c) for c in candidates) if sha), None)
    if head is None:
        raise AoError(f"{session.id}'s workspace is gone and its commits are not in {repo} any more")
    base = _fork_point(repo, head, default_branch)
    if not base or base == head:  # merged by fast-forward (or unrelated): its own commits are unknown
        base = _commit(repo, f"{head}~1") or head
    return WorkSpan(Path(repo), base, head)


def commits(span: WorkSpan, limit: int = 20) -> list[Commit]:
    """The span's commits, newest first."""
    tip = span.head or "HEAD"
    log = f"{span.base}..{tip}" if span.base and span.base != tip else tip
    out = span.git("log", f"--max-count={limit}", "--format=%H%x1f%an%x1f%aI%x1f%s%x1e", log)
    result = []
    for record in out.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 4:
            result.append(Commit(sha=parts[0], author=parts[1], date=parts[2], subject=parts[3]))
    return result


def changed_files(span: WorkSpan) -> list[ChangedFile]:
    """Files changed in the span (and, in a workspace, files not yet added)."""
    out = span.git("diff", "--numstat", "-z", span.base, *([span.head] if span.head else []))
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
    if not span.retired:
        untracked = span.git("ls-files", "--others", "--exclude-standard", "-z")
        files.extend(ChangedFile(path=p, untracked=True) for p in untracked.split("\0") if p)
    return files


def diff(span: WorkSpan, path: str | None = None) -> str:
    """The span's diff (one file when ``path`` is given)."""
    args = ["diff", "--no-color", "--no-ext-diff", span.base, *([span.head] if span.head else [])]
    if path:
        args += ["--", path]
    return span.git(*args)
