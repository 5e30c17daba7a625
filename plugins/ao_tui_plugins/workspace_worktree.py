"""Workspace ``worktree``: a ``git worktree`` of the project's repository on a new branch.

Made under ``<ao_home>/workspaces/<project>/<session_id>`` from the freshly
fetched base branch (``origin/<base>`` when it exists), with the files
``.worktreeinclude`` lists copied in and the optional ``setup`` command run.
Options: ``setup`` (string or list), ``setup_timeout`` (seconds, 600),
``fetch_timeout`` (seconds, 60).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ao_tui import git
from ao_tui.errors import AoError
from ao_tui.names import validate_branch
from ao_tui_plugins._git import GitWorkspace, is_repo, ref_exists, uncommitted_changes, unsaved_commits


class WorktreeWorkspace(GitWorkspace):
    def create(self, repo: Path, session_id: str, branch: str, base: str) -> Path:
        repo, path = self.new_path(repo, session_id, branch, base)
        self.fetch(repo, base)
        git.out(repo, "worktree", "prune")  # a checkout deleted by hand would block its branch
        new_branch = not ref_exists(repo, f"refs/heads/{branch}")
        if new_branch:
            git.out(repo, "worktree", "add", "--quiet", "--no-track", "-b", branch, str(path), self.start_point(repo, base))
        else:  # the branch outlived an earlier checkout (restore): keep its work
            git.out(repo, "worktree", "add", "--quiet", str(path), branch)
        try:
            self.prepare(repo, path, session_id)
        except BaseException:
            git.out(repo, "worktree", "remove", "--force", str(path), check=False)
            if new_branch:
                git.out(repo, "branch", "-D", branch, check=False)
            raise
        return path

    def remove(self, repo: Path, path: Path, branch: str, *, force: bool = False) -> None:
        repo = Path(repo).resolve()
        validate_branch(branch)
        path = self.check_removable_path(path)
        has_branch = ref_exists(repo, f"refs/heads/{branch}")
        if not force:
            if path.exists() and is_repo(path):
                changed = uncommitted_changes(path, repo)
                if changed:
                    raise AoError(
                        f"workspace {path} has {len(changed)} uncommitted change(s) (e.g. {changed[0]}); "
                        "commit them or remove with --force"
                    )
            if has_branch:
                base = self.base_branch(repo)
                self.fetch(repo)
                saved = [f"refs/heads/{base}", f"refs/remotes/origin/{base}"]
                unsaved = unsaved_commits(repo, f"refs/heads/{branch}", saved)
                if unsaved:
                    raise AoError(
                        f"branch {branch} has {len(unsaved)} commit(s) neither merged into {base} nor pushed; "
                        "push or merge them, or remove with --force"
                    )
        if path.exists():
            git.out(repo, "worktree", "remove", "--force", "--force", str(path), check=False)
            if path.exists():
                shutil.rmtree(path)
        git.out(repo, "worktree", "prune")
        if has_branch:
            git.out(repo, "branch", "-D", branch)

    def list(self, repo: Path) -> list[Path]:
        """ao's worktrees of ``repo`` (stale registrations pruned first)."""
        repo = Path(repo).resolve()
        git.out(repo, "worktree", "prune")
        root = self.root().resolve()
        found = []
        for line in git.out(repo, "worktree", "list", "--porcelain").splitlines():
            if line.startswith("worktree "):
                path = Path(line[len("worktree ") :])
                if root in path.resolve().parents:
                    found.append(path)
        return found
