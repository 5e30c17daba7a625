"""The `ao` command as a shell user sees it: exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def ao(*args: str, cwd: Path, env_home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "AO_HOME": str(env_home)}
    env.pop("AO_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "ao_tui.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_init_writes_a_config_that_ls_accepts(git_repo, tmp_path):
    home = tmp_path / "home"
    out = ao("init", cwd=git_repo, env_home=home)
    assert out.returncode == 0, out.stderr
    assert (git_repo / "ao.config.yaml").exists()
    again = ao("init", cwd=git_repo, env_home=home)
    assert again.returncode == 1 and "already exists" in again.stderr
    listing = ao("ls", "--json", cwd=git_repo, env_home=home)
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == []


def test_bad_config_gives_one_line_and_no_traceback(tmp_path):
    (tmp_path / "ao.config.yaml").write_text("projects:\n  app:\n    repo: /nonexistent/repo\n")
    out = ao("spawn", "--prompt", "x", cwd=tmp_path, env_home=tmp_path / "home")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "ao.config.yaml:3: projects.app.repo: /nonexistent/repo is not a git repository" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_session_is_exit_3(git_repo, tmp_path):
    home = tmp_path / "home"
    ao("init", cwd=git_repo, env_home=home)
    out = ao("peek", "nope-1", cwd=git_repo, env_home=home)
    assert out.returncode == 3 and out.stderr.startswith("ao: no session 'nope-1'")
    out = ao("kill", "../x", cwd=git_repo, env_home=home)
    assert out.returncode == 2 and "invalid session id" in out.stderr


def test_unknown_plugin_is_named(git_repo, tmp_path):
    (git_repo / "ao.config.yaml").write_text("projects:\n  app:\n    repo: .\n    runtime: docker\n")
    out = ao("spawn", "--prompt", "hi", cwd=git_repo, env_home=tmp_path / "home")
    assert out.returncode == 2
    assert "ao.config.yaml:4: projects.app.runtime: unknown runtime plugin 'docker'; installed: process, tmux" in out.stderr
    assert "Traceback" not in out.stderr


def test_plugins_lists_every_slot(tmp_path):
    out = ao("plugins", cwd=tmp_path, env_home=tmp_path / "home")
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert set(lines) == {"runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal", "reactions"}
    assert "claude-code" in lines["agent"]


def test_config_flag_works_after_the_subcommand(git_repo, tmp_path):
    home = tmp_path / "home"
    ao("init", cwd=git_repo, env_home=home)
    config = str(git_repo / "ao.config.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = ao("ls", "--json", "--config", config, cwd=elsewhere, env_home=home)
    assert out.returncode == 0, out.stderr
    out = ao("events", "nope-1", "--config", config, cwd=elsewhere, env_home=home)
    assert out.returncode == 3 and "unrecognized" not in out.stderr
