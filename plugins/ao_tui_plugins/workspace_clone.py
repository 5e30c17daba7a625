"""Workspace ``clone``: a separate clone of the project on a new branch.

Cloned from origin's URL with the local repository as a reference (fast,
then dissociated so it stands alone), or from the local repository when there
is no origin. Same place, included files and setup as ``worktree``; one more
option, ``clone_timeout`` (seconds, 600). Removal
deletes the directory only when every commit on its branches is on a remote
(origin, or the local repository for a local clone) and nothing is uncommitted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import Field

from ao_tui import git
from ao_tui.errors import AoError
from ao_tui.names import validate_branch
from ao_tui.slots.base import Seconds
from ao_tui_plugins._git import (
    GitWorkspace,
    GitWorkspaceOptions,
    is_repo,
    ref_exists,
    remote_url,
    uncommitted_changes,
    unsaved_commits,
)

_SOURCE_KEY = "ao.source"


class CloneWorkspace(GitWorkspace):
    class Options(GitWorkspaceOptions):
        clone_timeout: Seconds = Field(default=600.0, description="Time the clone may take.")

    options: Options

    def create(self, repo: Path, session_id: str, branch: str, base: str) -> Path:
        repo, path = self.new_path(repo, session_id, branch, base)
        url = remote_url(repo)
        if url and "://" not in url and ":" not in url.split("/")[0] and not Path(url).is_absolute():
            url = str((repo / url).resolve())  # a relative path remote, relative to the repository
        try:
            timeout = self.options.clone_timeout
            if url:
                git.out(path.parent, "clone", "--quiet", "--no-checkout", "--reference-if-able", str(repo), "--dissociate",
                    "--", url, str(path), timeout=timeout)  # fmt: skip
            else:
                git.out(path.parent, "clone", "--quiet", "--no-checkout", "--local", "--", str(repo), str(path),
                    timeout=timeout)  # fmt: skip
            git.out(path, "config", _SOURCE_KEY, str(repo))
            for key in ("user.name", "user.email"):  # commits in the clone are signed as in the repository
                value = git.out(repo, "config", "--get", key, check=False).strip()
                if value:
                    git.out(path, "config", key, value)
            if ref_exists(path, f"refs/remotes/origin/{branch}"):  # pushed earlier: continue it
                git.out(path, "checkout", "--quiet", "-b", branch, "--track", f"origin/{branch}")
            else:
                git.out(path, "checkout", "--quiet", "--no-track", "-b", branch, self.start_point(path, base))
            self.prepare(repo, path, session_id)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return path

    def remove(self, repo: Path, path: Path, branch: str, *, force: bool = False) -> None:
        validate_branch(branch)
        path = self.check_removable_path(path)
        if not path.exists():
            return
        if not force and is_repo(path):
            changed = uncommitted_changes(path, Path(repo).resolve())
            if changed:
                raise AoError(
                    f"workspace {path} has {len(changed)} uncommitted change(s) (e.g. {changed[0]}); "
                    "commit them or remove with --force"
                )
            self.fetch(path)
            unsaved = unsaved_commits(path, "--branches", [])
            if unsaved:
                raise AoError(
                    f"clone {path} ({branch}) has {len(unsaved)} commit(s) not pushed anywhere; "
                    "push them or remove with --force"
                )
        shutil.rmtree(path)

    def list(self, repo: Path) -> list[Path]:
        """ao's clones of ``repo`` (marked with ``ao.source`` in their config)."""
        repo = Path(repo).resolve()
        project_dir = self.root() / (self.context.project or repo.name)
        if not project_dir.is_dir():
            return []
        return [
            p for p in sorted(project_dir.iterdir())
            if is_repo(p) and git.out(p, "config", "--get", _SOURCE_KEY, check=False).strip() == str(repo)
        ]  # fmt: skip
