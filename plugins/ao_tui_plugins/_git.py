"""What the ``worktree`` and ``clone`` workspaces share: git queries (through ``ao_tui.git``), paths, included files, setup, safety checks.

Never lose work (field complaint #7): a checkout with uncommitted changes or
a branch with commits that are neither merged into the base branch nor on a
remote is only deleted when forced.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from ao_tui import git
from ao_tui.errors import AoError, InvalidName
from ao_tui.names import contained_path, validate_branch, validate_session_id
from ao_tui.slots.base import PluginOptions, Seconds
from ao_tui.slots.workspace import Workspace

log = logging.getLogger(__name__)

INCLUDE_FILE = ".worktreeinclude"


def ref_exists(cwd: Path, ref: str) -> bool:
    return bool(git.out(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).strip())


def remote_url(repo: Path, remote: str = "origin") -> str | None:
    url = git.out(repo, "config", "--get", f"remote.{remote}.url", check=False).strip()
    return url or None


def is_repo(path: Path) -> bool:
    return (path / ".git").exists() and bool(git.out(path, "rev-parse", "--git-dir", check=False).strip())


def included_files(repo: Path) -> list[str]:
    """Untracked files of ``repo`` matching its ``.worktreeinclude`` (gitignore-style patterns).

    An entry with a ``..`` component is refused: nothing outside the
    repository is ever copied.
    """
    spec = repo / INCLUDE_FILE
    if not spec.is_file():
        return []
    patterns = []
    for number, raw in enumerate(spec.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        body = line.lstrip("!")
        if body.startswith("~") or ".." in body.replace("\\", "/").split("/"):
            raise AoError(f"{spec}:{number}: {line!r} points outside the repository")
        patterns.append(line)
    if not patterns:
        return []
    with tempfile.NamedTemporaryFile("w", suffix=".worktreeinclude", delete=False) as handle:
        handle.write("\n".join(patterns) + "\n")
    try:
        out = git.out(repo, "ls-files", "-z", "--others", "--ignored", f"--exclude-from={handle.name}")
    finally:
        os.unlink(handle.name)
    return [p for p in out.split("\0") if p]


def copy_included(repo: Path, dest: Path) -> list[str]:
    """Copy the ``.worktreeinclude`` files (``.env``...) from ``repo`` into the new checkout."""
    copied = []
    for rel in included_files(repo):
        source = repo / rel
        try:
            contained_path(repo, *Path(rel).parent.parts)  # no symlinked directory leading out
            target_dir = contained_path(dest, *Path(rel).parent.parts)
        except InvalidName:
            log.warning("%s: %s leads outside the checkout; not copied", INCLUDE_FILE, rel)
            continue
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / source.name
        if target.exists() or target.is_symlink():
            continue  # never overwrite what the checkout already has
        shutil.copy2(source, target, follow_symlinks=False)
        copied.append(rel)
    return copied


def setup_argv(setup: object) -> list[str]:
    """The ``setup`` option as an argument list: a string is split like a shell would, never run by one."""
    if isinstance(setup, str):
        try:
            return shlex.split(setup)
        except ValueError as exc:
            raise AoError(f"workspace setup {setup!r}: {exc}") from None
    if isinstance(setup, list | tuple) and all(isinstance(a, str | int | float) for a in setup):
        return [str(a) for a in setup]
    raise AoError(f"workspace setup must be a string or a list of strings, not {type(setup).__name__}")


def run_setup(argv: list[str], cwd: Path, log_path: Path, timeout: float) -> None:
    """Run the setup command in the new checkout; output goes to ``log_path``."""
    shown = shlex.join(argv)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        try:
            proc = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as exc:
            raise AoError(f"workspace setup `{shown}` could not start: {exc.strerror}") from None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # npm and friends leave children: stop the group
            proc.wait()
            raise AoError(f"workspace setup `{shown}` took longer than {timeout:g}s (log: {log_path})") from None
    if code != 0:
        raise AoError(f"workspace setup `{shown}` failed with exit {code} (log: {log_path})")


def uncommitted_changes(checkout: Path, repo: Path) -> list[str]:
    """Changed or new files in ``checkout``; copies of ``repo``'s included files do not count."""
    out = git.out(checkout, "status", "--porcelain", "-z", "--untracked-files=all")
    changed = []
    for entry in out.split("\0"):
        if len(entry) < 4:
            continue
        code, rel = entry[:2], entry[3:]
        if code == "??" and _same_file_content(checkout / rel, repo / rel):
            continue
        changed.append(rel)
    return changed


def _same_file_content(a: Path, b: Path) -> bool:
    try:
        if a.is_symlink() or b.is_symlink():
            return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
        return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def unsaved_commits(cwd: Path, tip: str, saved_refs: list[str]) -> list[str]:
    """Commits reachable from ``tip`` but from none of ``saved_refs`` nor any remote branch,
    and not applied there as the same patch (a cherry-pick or rebase-merge)."""
    existing = [ref for ref in saved_refs if ref_exists(cwd, ref)]
    shas = git.out(cwd, "rev-list", tip, "--not", *existing, "--remotes").split()
    if not shas or not existing:
        return shas
    unmerged = set(shas)
    for ref in existing:  # `git cherry` marks commits whose patch is already upstream with '-'
        same = {line[2:] for line in git.out(cwd, "cherry", ref, tip).splitlines() if line.startswith("- ")}
        unmerged -= same
    return [sha for sha in shas if sha in unmerged]


class GitWorkspaceOptions(PluginOptions):
    setup: str | list[str] | None = Field(
        default=None, description="Command run in a new workspace (split like a shell would, never run by one).")
    setup_timeout: Seconds = Field(default=600.0, description="Time the setup command may take.")
    fetch_timeout: Seconds = Field(default=60.0, description="Time `git fetch origin` may take before branching.")


class GitWorkspace(Workspace):
    """Paths, fetch, included files and setup: everything but how the checkout is made."""

    Options: ClassVar[type[PluginOptions] | None] = GitWorkspaceOptions
    options: GitWorkspaceOptions
    _last_fetch: dict[str, float]

    def root(self) -> Path:
        return self.context.ao_home / "workspaces"

    def path_for(self, repo: Path, session_id: str) -> Path:
        """``<ao_home>/workspaces/<project or repo name>/<session_id>``, never outside it."""
        validate_session_id(session_id)
        project = self.context.project or Path(repo).resolve().name
        self.root().mkdir(parents=True, exist_ok=True)
        return contained_path(self.root(), project, session_id)

    def new_path(self, repo: Path, session_id: str, branch: str, base: str) -> tuple[Path, Path]:
        """Before ``create``: the resolved repository and the workspace's folder (its parent made), the branch
        names checked; a workspace already there is an error."""
        validate_branch(branch)
        validate_branch(base)
        repo = Path(repo).resolve()
        path = self.path_for(repo, session_id)
        if path.exists():
            raise AoError(f"workspace {path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        return repo, path

    def check_removable_path(self, path: Path) -> Path:
        try:
            resolved = Path(path).resolve()
        except OSError as exc:
            raise AoError(f"cannot remove workspace {path}: {exc}") from None
        root = self.root().resolve()
        if root not in resolved.parents:
            raise InvalidName(f"refusing to remove {path}: it is not under ao's workspaces ({root})")
        return resolved

    def discard(self, repo: Path, path: Path) -> None:
        """Delete a checkout whose making was cut off; its branch (and any work on it) stays."""
        path = self.check_removable_path(path)
        git.out(Path(repo).resolve(), "worktree", "remove", "--force", "--force", str(path), check=False)
        if path.exists():
            shutil.rmtree(path)
        git.out(Path(repo).resolve(), "worktree", "prune", check=False)

    def base_branch(self, repo: Path) -> str:
        cfg = self.context.project_config
        base = getattr(cfg, "default_branch", None)
        if not base:
            head = git.out(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", check=False).strip()
            base = head.removeprefix("origin/") or "main"
        return validate_branch(str(base))

    def fetch(self, cwd: Path, *refspecs: str) -> None:
        """``git fetch origin`` if there is an origin; at most once a minute per checkout; best effort."""
        if not hasattr(self, "_last_fetch"):
            self._last_fetch = {}
        key = f"{Path(cwd).resolve()} {' '.join(refspecs)}"
        if time.monotonic() - self._last_fetch.get(key, -1e9) < 60 or not remote_url(cwd):
            return
        try:
            git.out(cwd, "fetch", "--quiet", "origin", *refspecs, timeout=self.options.fetch_timeout, remote=True)
            self._last_fetch[key] = time.monotonic()
        except AoError as exc:
            log.warning("could not fetch origin (working from local refs): %s", exc)

    def start_point(self, cwd: Path, base: str) -> str:
        for ref in (f"refs/remotes/origin/{base}", f"refs/heads/{base}"):
            if ref_exists(cwd, ref):
                return ref
        raise AoError(f"base branch {base!r} not found in {cwd} (neither origin/{base} nor a local {base})")

    def prepare(self, repo: Path, checkout: Path, session_id: str) -> None:
        """After the checkout exists: included files, then the setup command."""
        copy_included(repo, checkout)
        setup = self.options.setup
        if setup:
            argv = setup_argv(setup)
            if argv:
                log_path = self.context.ao_home / "sessions" / session_id / "setup.log"
                run_setup(argv, checkout, log_path, self.options.setup_timeout)
