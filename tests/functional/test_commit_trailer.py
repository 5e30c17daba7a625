"""Every agent commit names its model: ao's prepare-commit-msg hook, real git, real worktrees."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ao_tui import commit_trailer
from tests.support.gitrepo import git

TRAILER = "Co-Authored-By: claude-opus-4 <noreply@ao-tui.dev>"


@pytest.fixture
def worktree(git_repo: Path, tmp_path: Path) -> Path:
    path = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "ao/t-1", str(path), "main")
    return path


def agent_git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """git as the agent runs it: ao's environment additions on top of the inherited one."""
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True)


def commit(cwd: Path, env: dict[str, str], name: str, *flags: str) -> subprocess.CompletedProcess[str]:
    (cwd / name).write_text(name)
    agent_git(cwd, env, "add", name)
    return agent_git(cwd, env, "commit", "-q", *flags)


def last_message(cwd: Path) -> list[str]:
    return git(cwd, "log", "-1", "--format=%B").splitlines()


def test_a_commit_without_the_trailer_gets_it_once_even_with_no_verify(worktree: Path, tmp_path: Path) -> None:
    env = commit_trailer.install(tmp_path / "session", worktree, TRAILER)
    assert commit(worktree, env, "a.txt", "-m", "Add a").returncode == 0
    assert last_message(worktree) == ["Add a", "", TRAILER]
    assert commit(worktree, env, "b.txt", "--no-verify", "-m", "Add b").returncode == 0
    assert last_message(worktree)[-1] == TRAILER
    # The agent wrote it itself, or amends: never twice. Its own other trailers stay.
    assert commit(worktree, env, "c.txt", "-m", "Add c", "-m", f"Co-Authored-By: Claude <x@y>\n{TRAILER}").returncode == 0
    assert last_message(worktree)[-2:] == ["Co-Authored-By: Claude <x@y>", TRAILER]
    assert agent_git(worktree, env, "commit", "-q", "--amend", "-m", f"Add c, amended\n\n{TRAILER}").returncode == 0
    assert last_message(worktree).count(TRAILER) == 1
    # Nothing in the user's repository config changed; a commit made outside the agent has no trailer.
    assert "hookspath" not in git(worktree, "config", "--list").lower()
    (worktree / "d.txt").write_text("d")
    git(worktree, "add", "d.txt")
    git(worktree, "commit", "-q", "-m", "by the human")
    assert last_message(worktree) == ["by the human"]


def test_the_trailer_follows_the_model_once_it_is_known(worktree: Path, tmp_path: Path) -> None:
    env = commit_trailer.install(tmp_path / "session", worktree, "Co-Authored-By: claude-code <noreply@ao-tui.dev>")
    commit_trailer.write_trailer(tmp_path / "session", "Co-Authored-By: claude-sonnet-4-5\n <noreply@ao-tui.dev>")
    assert commit(worktree, env, "a.txt", "-m", "Add a").returncode == 0
    assert last_message(worktree)[-1] == "Co-Authored-By: claude-sonnet-4-5 <noreply@ao-tui.dev>"


def test_the_repositorys_own_hooks_still_run(git_repo: Path, worktree: Path, tmp_path: Path) -> None:
    hooks = git_repo / ".git" / "hooks"
    (hooks / "pre-commit").write_text("#!/bin/sh\n[ ! -e BAD ] || { echo 'BAD file refused' >&2; exit 1; }\n")
    (hooks / "commit-msg").write_text("#!/bin/sh\necho 'Checked-By: repo hook' >> \"$1\"\n")
    for hook in ("pre-commit", "commit-msg"):
        (hooks / hook).chmod(0o755)
    env = commit_trailer.install(tmp_path / "session", worktree, TRAILER)
    refused = commit(worktree, env, "BAD", "-m", "Add BAD")
    assert refused.returncode != 0 and "BAD file refused" in refused.stderr
    agent_git(worktree, env, "rm", "-q", "--cached", "BAD")
    (worktree / "BAD").unlink()
    assert commit(worktree, env, "ok.txt", "-m", "Add ok").returncode == 0
    assert last_message(worktree)[-2:] == [TRAILER, "Checked-By: repo hook"]


def test_git_config_from_the_environment_is_kept(worktree: Path, tmp_path: Path) -> None:
    base = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "user.name", "GIT_CONFIG_VALUE_0": "Env Name"}
    env = {**base, **commit_trailer.install(tmp_path / "session", worktree, TRAILER, base_env=base)}
    assert commit(worktree, env, "a.txt", "-m", "Add a").returncode == 0
    assert git(worktree, "log", "-1", "--format=%an") == "Env Name"
    assert last_message(worktree)[-1] == TRAILER


def test_an_agent_that_blanks_the_hooks_path_for_its_commands_still_gets_the_trailer(worktree: Path, tmp_path: Path) -> None:
    # What Gemini CLI 0.61 does to the environment of each shell command it runs (its shellExecutionService):
    # keeps GIT_CONFIG_*, appends core.hooksPath="" and friends after them, ignores the global config, and
    # in its strict mode drops every variable it does not know.
    env = commit_trailer.install(tmp_path / "session", worktree, TRAILER)
    count = int(env["GIT_CONFIG_COUNT"])
    blanked = {k: v for k, v in env.items() if k.startswith("GIT_CONFIG_")}
    blanked |= {f"GIT_CONFIG_KEY_{count}": "core.hooksPath", f"GIT_CONFIG_VALUE_{count}": "",
                "GIT_CONFIG_COUNT": str(count + 1), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    strict = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    (worktree / "a.txt").write_text("a")
    for args in (["add", "a.txt"], ["-c", "user.name=A", "-c", "user.email=a@example.invalid", "commit", "-qm", "Add a"]):
        done = subprocess.run(["git", *args], cwd=worktree, env={**strict, **blanked}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert last_message(worktree) == ["Add a", "", TRAILER]
