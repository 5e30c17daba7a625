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


def test_ls_lists_the_live_and_recently_finished_sessions_and_counts_the_older(ao_home, git_repo):
    """`ao ls` (and `--json`) show the live sessions and those finished in the last day, then one line
    counting the older finished ones; `--all` lists every session ever run."""
    from datetime import UTC, datetime, timedelta

    from ao_tui.config import load_config
    from ao_tui.models import Session, SessionStatus
    from ao_tui.store import open_store
    from tests.tui.fleet import finished_sessions, insert_many

    assert ao("init", cwd=git_repo, env_home=ao_home).returncode == 0
    project = next(iter(load_config(str(git_repo / "ao.config.yaml")).projects))
    now = datetime.now(UTC)
    store = open_store()
    store.insert_session(Session(id="live-1", project=project, status=SessionStatus.MERGED, task_title="Merged, not yet done"))
    recent = finished_sessions(3, timedelta(minutes=5), timedelta(hours=20), now=now, first=10, project=project)
    older = finished_sessions(61, timedelta(days=2), timedelta(days=30), now=now, first=100, project=project)
    insert_many(store, recent + older)
    store.close()

    table = ao("ls", cwd=git_repo, env_home=ao_home)
    assert table.returncode == 0, table.stderr
    listed = [line.split()[0] for line in table.stdout.splitlines()[1:-1]]
    assert sorted(listed) == ["hist-10", "hist-11", "hist-12", "live-1"]
    assert table.stdout.splitlines()[-1] == "… 61 older finished sessions: `ao ls --all` lists them"
    rows = json.loads(ao("ls", "--json", cwd=git_repo, env_home=ao_home).stdout)
    assert sorted(r["id"] for r in rows) == ["hist-10", "hist-11", "hist-12", "live-1"]
    assert {"id", "status", "zone", "pr", "branch"} <= set(rows[0])

    everything = ao("ls", "--all", cwd=git_repo, env_home=ao_home)
    assert len(everything.stdout.splitlines()) == 1 + 1 + 3 + 61 and "older" not in everything.stdout
    assert "hist-160" in everything.stdout
    assert len(json.loads(ao("ls", "--json", "--all", cwd=git_repo, env_home=ao_home).stdout)) == 65


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
    assert set(lines) == {"runtime", "agent", "workspace", "tracker", "scm", "notifier", "terminal", "reactions", "host"}
    assert "local" in lines["host"] and "ssh" in lines["host"]
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


def test_retro_shows_costs_and_the_lessons_new_sessions_get(git_repo, tmp_path):
    import os

    home = tmp_path / "home"
    assert ao("init", cwd=git_repo, env_home=home).returncode == 0
    os.environ["AO_HOME"] = str(home)
    try:
        from ao_tui.config import load_config
        from ao_tui.store import open_store

        store = open_store()
        name = next(iter(load_config(git_repo / "ao.config.yaml").projects))
        for n, (checks, merge_s) in enumerate([(["pytest"], 5400.0), (["pytest", "lint"], None), ([], 900.0)], 1):
            store.put_outcome(f"app-{n}", name, {
                "status": "done" if merge_s else "killed", "task_id": f"T-{n}", "ci_cycles": len(checks),
                "review_rounds": 1, "time_to_pr_s": 600.0, "time_to_merge_s": merge_s, "tokens": 12000 * n,
                "cost_usd": 0.5 * n, "failing_checks": checks, "failing_tests": [], "review_comments": [],
                "escalated": n == 2, "recorded_at": f"2026-12-0{n}T10:00:00+00:00",
            })
        store.close()
    finally:
        os.environ.pop("AO_HOME")
    out = ao("retro", cwd=git_repo, env_home=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (f"{name}: 3 sessions recorded, 2 merged; per session 1.0 CI cycles, 1.0 review rounds; "
                        "52m to merge; 72,000 tokens, $3.00")
    assert lines[1].split() == ["SESSION", "TASK", "STATUS", "CI", "REVIEWS", "TO", "PR", "TO", "MERGE", "TOKENS",
                                "COST", "ESCALATED"]
    assert lines[2].split() == ["app-3", "T-3", "done", "0", "1", "10m", "15m", "36,000", "$1.50"]
    assert lines[3].split()[-1] == "yes" and lines[4].split()[6] == "1.5h"
    assert lines[5:8] == ["Lessons added to new sessions' rules:",
                          "  - CI check `pytest` failed in 2 of the last 3 sessions: run it yourself and make it pass "
                          "before saying READY.", ""]
    assert lines[8].startswith("Spend, all projects: $")  # the fleet's figures close the report
    data = json.loads(ao("retro", "--json", cwd=git_repo, env_home=home).stdout)
    assert data[0]["summary"]["merged"] == 2 and len(data[0]["sessions"]) == 3
    assert ao("retro", "--project", "nope", cwd=git_repo, env_home=home).returncode == 3
