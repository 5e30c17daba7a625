"""ao's one way to git (ao_tui/git.py): what a caller relies on, against real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ao_tui import git
from ao_tui.errors import AoError


def test_a_failure_is_one_line_with_gits_last_word(tmp_path: Path) -> None:
    with pytest.raises(AoError) as failed:
        git.out(tmp_path, "rev-parse", "--verify", "HEAD")
    message = str(failed.value)
    assert message.startswith(f"git rev-parse in {tmp_path} failed: ") and "not a git repository" in message
    assert "\n" not in message


def test_exit_codes_the_caller_expects_are_not_failures(git_repo: Path) -> None:
    missing = git.run(git_repo, "rev-parse", "--verify", "-q", "refs/heads/nope", check=(0, 1))
    assert missing.returncode == 1 and missing.stdout == ""
    assert git.run(git_repo, "merge-base", "--is-ancestor", "HEAD", "HEAD", check=False).returncode == 0
    with pytest.raises(AoError, match="failed: exit 1$"):
        git.run(git_repo, "rev-parse", "--verify", "-q", "refs/heads/nope")


def test_arguments_are_never_read_by_a_shell(git_repo: Path) -> None:
    branch = "ao/x;touch pwned"
    with pytest.raises(AoError):
        git.out(git_repo, "branch", branch)  # refused by git as a name, not run by a shell
    assert not (git_repo / "pwned").exists()
    assert git.out(git_repo, "log", "-1", "--format=%s$(id)").strip().endswith("$(id)")


def test_git_never_waits_for_a_human(git_repo: Path) -> None:
    assert git.out(git_repo, "var", "GIT_EDITOR").strip() == "true"
    assert git.out(git_repo, "config", "--get", "core.editor", check=False) == ""
    subprocess.run(["git", "config", "alias.nap", "!sleep 30"], cwd=git_repo, check=True)
    with pytest.raises(AoError, match=r"^git nap in .* took longer than 0.5s$"):
        git.run(git_repo, "nap", timeout=0.5, remote=True)  # its shell and sleep are stopped with it


def test_without_git_the_error_says_so(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(git_repo))
    with pytest.raises(AoError, match=r"^git is not installed"):
        git.out(git_repo, "status")
