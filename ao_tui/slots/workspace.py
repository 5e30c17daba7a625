"""Workspace: the checkout an agent works in (a git worktree, a clone)."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

from ao_tui.errors import AoError
from ao_tui.slots.base import Plugin


class Workspace(Plugin):
    slot = "workspace"

    @abstractmethod
    def create(self, repo: Path, session_id: str, branch: str, base: str) -> Path:
        """Make a checkout of ``branch`` (new, from an up-to-date ``base``).

        Lives under ``<ao_home>/workspaces/<project>/<session_id>``; copies the
        files ``.worktreeinclude`` lists; runs the configured ``setup`` command.
        """

    @abstractmethod
    def remove(self, repo: Path, path: Path, branch: str, *, force: bool = False) -> None:
        """Delete the checkout. Refuses (``AoError``) to delete a branch with
        commits that are not merged anywhere unless ``force``."""

    def discard(self, repo: Path, path: Path) -> None:
        """Delete a checkout whose making was cut off (a crash mid-``create``), keeping its branch."""
        raise AoError(f"workspace {path} was left half-made by an interrupted spawn; remove it, then restore")

    def exists(self, path: Path) -> bool:
        return path.is_dir()

    def list(self, repo: Path) -> list[Path]:
        """Checkouts this plugin made for ``repo`` (for cleanup of stale ones)."""
        return []
