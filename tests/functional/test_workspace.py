"""Workspaces ``worktree`` and ``clone`` on real git repositories with a bare origin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.errors import AoError, InvalidName
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.workspace_clone import CloneWorkspace
from ao_tui_plugins.workspace_worktree import WorktreeWorkspace
from tests.support.gitrepo import git


def worktrees(ao_home: Path, project: str = "demo", **options) -> WorktreeWorkspace:
    return WorktreeWorkspace(PluginContext(ao_home=ao_home, project=project, options=options))


def clones(ao_home: Path, **options) -> CloneWorkspace:
    return CloneWorkspace(PluginContext(ao_home=ao_home, project="demo", options=options))


def commit(cwd: Path, name: str, text: str = "x\n") -> str:
    (cwd / name).write_text(text)
    git(cwd, "add", name)
    git(cwd, "commit", "-qm", f"add {name}")
    return git(cwd, "rev-parse", "HEAD")


def push_from_elsewhere(git_repo: Path, tmp_path: Path) -> str:
    """Someone else pushes to origin/main: the local main is now behind."""
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(git_repo.parent / "repo.git"), str(other)], check=True)
    git(other, "config", "user.email", "o@example.invalid")
    git(other, "config", "user.name", "Other")
    sha = commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", "main")
    return sha


@pytest.fixture
def repo_with_includes(git_repo: Path) -> Path:
    (git_repo / ".gitignore").write_text(".env\nconfig/*.json\nnode_modules/\n")
    (git_repo / ".worktreeinclude").write_text("# secrets the agent needs\n.env\nconfig/*.json\n!config/skip.json\n")
    git(git_repo, "add", ".gitignore", ".worktreeinclude")
    git(git_repo, "commit", "-qm", "includes")
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / ".env").write_text("API_URL=http://127.0.0.1\n")
    (git_repo / "config").mkdir()
    (git_repo / "config" / "local.json").write_text("{}\n")
    (git_repo / "config" / "skip.json").write_text("{}\n")
    (git_repo / "notes.txt").write_text("untracked but not listed\n")
    return git_repo


def test_worktree_starts_from_the_fetched_base_on_a_new_branch(ao_home, git_repo, tmp_path):
    theirs = push_from_elsewhere(git_repo, tmp_path)
    path = worktrees(ao_home).create(git_repo, "dm-1", "ao/dm-1", "main")
    assert path == (ao_home / "workspaces" / "demo" / "dm-1").resolve()
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == "ao/dm-1"
    assert git(path, "rev-parse", "HEAD") == theirs  # up to date with origin, not the stale local main
    upstream = subprocess.run(["git", "-C", str(path), "rev-parse", "--abbrev-ref", "@{upstream}"], capture_output=True)
    assert upstream.returncode != 0  # `git push` must not go to main
    assert worktrees(ao_home).list(git_repo) == [path]


def test_worktreeinclude_copies_ignored_files(ao_home, repo_with_includes):
    path = worktrees(ao_home).create(repo_with_includes, "dm-1", "ao/dm-1", "main")
    assert (path / ".env").read_text() == "API_URL=http://127.0.0.1\n"
    assert (path / "config" / "local.json").exists()
    assert not (path / "config" / "skip.json").exists()  # negated
    assert not (path / "notes.txt").exists()  # not listed
    assert git(path, "status", "--porcelain") == ""  # the copies are ignored files, not changes


@pytest.mark.parametrize("entry", ["../outside.txt", "config/../../outside.txt", "~/.ssh/id_rsa"])
def test_worktreeinclude_entries_leaving_the_repo_are_refused(ao_home, git_repo, entry):
    (git_repo.parent / "outside.txt").write_text("not yours\n")
    (git_repo / ".worktreeinclude").write_text(f".env\n{entry}\n")
    with pytest.raises(AoError, match=r"\.worktreeinclude:2: .* outside the repository"):
        worktrees(ao_home).create(git_repo, "dm-1", "ao/dm-1", "main")
    assert not (ao_home / "workspaces" / "demo" / "dm-1").exists()  # rolled back
    assert git(git_repo, "branch", "--list", "ao/dm-1") == ""


def test_setup_runs_as_an_argument_list_with_its_output_logged(ao_home, git_repo):
    script = "import sys; open('setup-ran', 'w').write(repr(sys.argv[1:])); print('installed')"
    setup = f"{sys.executable} -c \"{script}\" '$(touch pwned)' ';' '`id`'"
    path = worktrees(ao_home, setup=setup).create(git_repo, "dm-1", "ao/dm-1", "main")
    assert (path / "setup-ran").read_text() == repr(["$(touch pwned)", ";", "`id`"])
    assert not (path / "pwned").exists()
    assert "installed" in (ao_home / "sessions" / "dm-1" / "setup.log").read_text()


def test_failing_or_slow_setup_is_one_line_and_rolls_back(ao_home, git_repo):
    failing = [sys.executable, "-c", "print('npm ERR! boom'); raise SystemExit(3)"]
    with pytest.raises(AoError) as info:
        worktrees(ao_home, setup=failing).create(git_repo, "dm-1", "ao/dm-1", "main")
    message = str(info.value)
    assert "\n" not in message and "failed with exit 3" in message and "setup.log" in message
    assert "npm ERR! boom" in (ao_home / "sessions" / "dm-1" / "setup.log").read_text()
    assert not (ao_home / "workspaces" / "demo" / "dm-1").exists()
    assert git(git_repo, "branch", "--list", "ao/dm-1") == ""
    with pytest.raises(AoError, match="took longer than 0.5s"):
        worktrees(ao_home, setup=["sleep", "5"], setup_timeout=0.5).create(git_repo, "dm-2", "ao/dm-2", "main")
    with pytest.raises(AoError, match="could not start"):
        worktrees(ao_home, setup="no-such-tool-xyz install").create(git_repo, "dm-3", "ao/dm-3", "main")


def test_remove_refuses_a_branch_with_unsaved_commits_unless_forced(ao_home, git_repo):
    ws = worktrees(ao_home)
    path = ws.create(git_repo, "dm-1", "ao/dm-1", "main")
    sha = commit(path, "work.txt")
    with pytest.raises(AoError, match="ao/dm-1 has 1 commit"):
        ws.remove(git_repo, path, "ao/dm-1")
    assert path.exists() and git(git_repo, "rev-parse", "ao/dm-1") == sha  # nothing lost
    ws.remove(git_repo, path, "ao/dm-1", force=True)
    assert not path.exists() and git(git_repo, "branch", "--list", "ao/dm-1") == ""
    assert ws.list(git_repo) == []


def test_remove_deletes_pushed_merged_or_cherry_picked_work(ao_home, git_repo):
    ws = worktrees(ao_home)
    pushed = ws.create(git_repo, "dm-1", "ao/dm-1", "main")
    commit(pushed, "pushed.txt")
    git(pushed, "push", "-q", "origin", "ao/dm-1")
    ws.remove(git_repo, pushed, "ao/dm-1")
    assert not pushed.exists() and git(git_repo, "branch", "--list", "ao/dm-1") == ""

    merged = ws.create(git_repo, "dm-2", "ao/dm-2", "main")
    commit(merged, "merged.txt")
    git(git_repo, "merge", "-q", "--ff-only", "ao/dm-2")  # merged into the local base branch
    ws.remove(git_repo, merged, "ao/dm-2")
    assert not merged.exists()

    picked = ws.create(git_repo, "dm-3", "ao/dm-3", "main")
    sha = commit(picked, "picked.txt")
    git(git_repo, "cherry-pick", sha)  # same patch, another commit (a rebase merge)
    ws.remove(git_repo, picked, "ao/dm-3")
    assert not picked.exists()


def test_remove_refuses_uncommitted_changes(ao_home, repo_with_includes):
    ws = worktrees(ao_home)
    path = ws.create(repo_with_includes, "dm-1", "ao/dm-1", "main")
    (path / "README.md").write_text("edited\n")
    with pytest.raises(AoError, match="uncommitted change"):
        ws.remove(repo_with_includes, path, "ao/dm-1")
    git(path, "checkout", "README.md")
    (path / ".worktreeinclude").write_text(".env\n")
    git(path, "checkout", ".worktreeinclude")
    ws.remove(repo_with_includes, path, "ao/dm-1")  # the copied .env is not work
    assert not path.exists()


def test_names_and_paths_cannot_escape(ao_home, git_repo, tmp_path):
    ws = worktrees(ao_home)
    for session_id in ("../x", "a/b", "..", "X"):
        with pytest.raises(InvalidName):
            ws.create(git_repo, session_id, "ao/x", "main")
    for branch in ("../x", "-f", "a..b", "x.lock"):
        with pytest.raises(InvalidName):
            ws.create(git_repo, "dm-1", branch, "main")
    with pytest.raises(InvalidName):
        worktrees(ao_home, project="../../outside").create(git_repo, "dm-1", "ao/dm-1", "main")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(InvalidName):
        ws.remove(git_repo, elsewhere, "main", force=True)
    with pytest.raises(InvalidName):
        ws.remove(git_repo, ao_home / "workspaces" / "demo" / ".." / ".." / "..", "main", force=True)
    assert elsewhere.exists() and ao_home.exists()
    assert not any((ao_home / "workspaces").rglob("*.txt"))


def test_list_prunes_stale_worktrees_and_ignores_foreign_ones(ao_home, git_repo, tmp_path):
    import shutil

    ws = worktrees(ao_home)
    kept = ws.create(git_repo, "dm-1", "ao/dm-1", "main")
    gone = ws.create(git_repo, "dm-2", "ao/dm-2", "main")
    git(git_repo, "worktree", "add", "-q", str(tmp_path / "mine"), "-b", "human-branch")
    shutil.rmtree(gone)
    assert ws.list(git_repo) == [kept]
    assert str(gone) not in git(git_repo, "worktree", "list")


def test_a_surviving_branch_is_checked_out_again(ao_home, git_repo):
    """`ao restore` after the checkout was lost: the branch and its commits come back."""
    import shutil

    ws = worktrees(ao_home)
    path = ws.create(git_repo, "dm-1", "ao/dm-1", "main")
    sha = commit(path, "work.txt")
    shutil.rmtree(path)
    again = ws.create(git_repo, "dm-1", "ao/dm-1", "main")
    assert again == path and git(again, "rev-parse", "HEAD") == sha


def test_clone_is_a_standalone_checkout_that_keeps_unpushed_work(ao_home, repo_with_includes, tmp_path):
    theirs = push_from_elsewhere(repo_with_includes, tmp_path)
    ws = clones(ao_home)
    path = ws.create(repo_with_includes, "dm-1", "ao/dm-1", "main")
    assert (path / ".git").is_dir()  # its own repository, not a worktree
    assert git(path, "remote", "get-url", "origin") == str(repo_with_includes.parent / "repo.git")
    assert git(path, "rev-parse", "HEAD") == theirs
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == "ao/dm-1"
    assert (path / ".env").exists() and not (path / "notes.txt").exists()
    assert not (path / ".git" / "objects" / "info" / "alternates").exists()  # dissociated
    assert ws.list(repo_with_includes) == [path]
    commit(path, "work.txt")
    with pytest.raises(AoError, match="not pushed"):
        ws.remove(repo_with_includes, path, "ao/dm-1")
    assert path.exists()
    git(path, "push", "-q", "origin", "ao/dm-1")
    ws.remove(repo_with_includes, path, "ao/dm-1")
    assert not path.exists() and ws.list(repo_with_includes) == []


def test_clone_without_origin_and_forced_removal(ao_home, tmp_path):
    repo = tmp_path / "solo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    git(repo, "config", "user.email", "dev@example.invalid")
    git(repo, "config", "user.name", "Dev")
    commit(repo, "a.txt")
    ws = clones(ao_home)
    path = ws.create(repo, "dm-1", "ao/dm-1", "main")
    commit(path, "b.txt")  # the identity came along from the repository
    with pytest.raises(AoError, match="not pushed"):
        ws.remove(repo, path, "ao/dm-1")
    ws.remove(repo, path, "ao/dm-1", force=True)
    assert not path.exists()
