"""`ao doctor` as a user runs it: a subprocess on a real set-up, one line per check, a fix for each
failure, exit 1 on any failure; secrets never printed."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_tui.doctor import Result, Setup, check, fail, ok, run_checks
from tests.conftest import claude_bin
from tests.support.github_server import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-ant-doctor-secret-value"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user with tmux, git and Claude Code on PATH and no keys set."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("ANTHROPIC_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "LINEAR_API_KEY", "AO_CONFIG")}
    clean["AO_HOME"] = str(tmp_path / "ao-home")
    clean["AO_TMUX_SOCKET"] = f"ao-doctor-{tmp_path.name}"  # the orphans check lists this (empty) server
    found = claude_bin()
    if found:
        clean["AO_CLAUDE_BIN"] = found
    return clean


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    return repo


def doctor(tmp_path: Path, env: dict[str, str], project_yaml: str = "", top: str = "") -> tuple[int, list[str]]:
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"projects:\n  app:\n    repo: app\n{project_yaml}{top}")
    done = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "doctor"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.stderr == ""
    return done.returncode, done.stdout.splitlines()


def test_a_healthy_set_up_passes_every_check(tmp_path: Path, env: dict[str, str], project: Path) -> None:
    if "AO_CLAUDE_BIN" not in env:
        pytest.skip("Claude Code CLI not installed (scripts/setup installs it)")
    env["ANTHROPIC_API_KEY"] = SECRET
    code, lines = doctor(tmp_path, env)
    assert code == 0, lines
    assert lines[0] == f"ok   config: {tmp_path / 'ao.config.yaml'} (1 project(s))"
    assert lines[1].startswith("ok   tmux: 3.") and lines[2].startswith("ok   git: 2.")
    assert lines[3].startswith("ok   agent claude-code (app): 2.1.")
    assert lines[4:] == [
        "ok   hooks claude-code: installed in a workspace's .claude/settings.local.json and fired",
        f"ok   state dir: {env['AO_HOME']} is writable",
        "ok   engine: not running (`ao run` or ao-tui starts one)",
        f"ok   store: none yet at {env['AO_HOME']}/ao.sqlite3 (made on first use)",
        "ok   orphans: every tmux session on ao's socket and every workspace has a session record",
        "ok   ANTHROPIC_API_KEY: set (the orchestrator chat can start)",
    ]
    assert SECRET not in "\n".join(lines)
    assert not (project / ".claude").exists(), "the hooks check works in a scratch directory, not the repository"


def test_a_missing_agent_binary_fails_with_how_to_install_it(tmp_path: Path, env: dict[str, str],
                                                             project: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("tmux", "git"):
        (bin_dir / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    env["PATH"] = str(bin_dir)
    env.pop("AO_CLAUDE_BIN", None)
    code, lines = doctor(tmp_path, env, "    agents: {codex: {model: o4-mini}}\n")
    assert code == 1
    assert [line for line in lines if line.startswith("fail")] == [
        "fail agent claude-code (app): `claude` not found on PATH (fix: npm install -g @anthropic-ai/claude-code, "
        "or set agent.command in the config to where it is)",
        "fail agent codex (app): `codex` not found on PATH (fix: npm install -g @openai/codex, "
        "or set agents.codex.command in the config to where it is)",
    ]


def test_an_unwritable_state_dir_fails(tmp_path: Path, env: dict[str, str], project: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env["AO_HOME"] = str(blocker / "ao")  # works as root too, where permission bits do not stop writes
    code, lines = doctor(tmp_path, env)
    assert code == 1
    assert [line for line in lines if line.startswith("fail")] == [
        f"fail state dir: {blocker / 'ao'} is not writable (Not a directory) "
        "(fix: make it writable, or set AO_HOME to a directory you own)"]


def test_missing_tokens_for_github_linear_and_bridges_fail(tmp_path: Path, env: dict[str, str],
                                                           project: Path) -> None:
    env["AO_TEST_SLACK_BOT"] = SECRET
    with FakeGitHub() as github:
        code, lines = doctor(tmp_path, env, f"    scm: {{plugin: github, repo: acme/app, base_url: '{github.url}'}}\n"
                                            "    tracker: {plugin: linear, team: ENG}\n",
                             top="bridges:\n  telegram: {token_env: AO_TEST_TELEGRAM, allowed_users: [1]}\n"
                                 "  slack: {token_env: AO_TEST_SLACK_BOT, app_token_env: AO_TEST_SLACK_APP}\n")
    assert code == 1
    assert ("fail GITHUB_TOKEN: not set (scm or tracker github needs it) (fix: create a token with the repo scope at "
            "github.com/settings/tokens and export GITHUB_TOKEN=...)") in lines
    assert ("fail LINEAR_API_KEY: not set (tracker linear needs it) (fix: create a personal API key in Linear "
            "(Settings, API) and export LINEAR_API_KEY=...)") in lines
    assert not github.requests, "no token, no request"
    assert lines[-3:] == [
        "fail AO_TEST_TELEGRAM: not set (bridge telegram needs it) (fix: export AO_TEST_TELEGRAM=... in the shell "
        "that runs the engine, or remove bridges.telegram)",
        "ok   AO_TEST_SLACK_BOT: set (bridge slack)",
        "fail AO_TEST_SLACK_APP: not set (bridge slack needs it) (fix: export AO_TEST_SLACK_APP=... in the shell "
        "that runs the engine, or remove bridges.slack)",
    ]
    assert SECRET not in "\n".join(lines)


def test_the_github_token_is_checked_for_its_scopes(tmp_path: Path, env: dict[str, str], project: Path) -> None:
    scm = "    scm: {{plugin: github, repo: acme/app, base_url: '{url}'}}\n"
    with FakeGitHub(token="good-token", users={"narrow-token": "ao-bot"},
                    scopes={"good-token": "repo, read:org", "narrow-token": "read:org"}) as github:
        env["GITHUB_TOKEN"] = "good-token"
        code, lines = doctor(tmp_path, env, scm.format(url=github.url))
        assert "ok   GITHUB_TOKEN: set, user ao-bot, scopes repo, read:org" in lines
        env["GITHUB_TOKEN"] = "narrow-token"
        code, lines = doctor(tmp_path, env, scm.format(url=github.url))
        assert code == 1
        assert ("fail GITHUB_TOKEN: user ao-bot, scopes read:org: no repo scope "
                "(fix: add the repo scope to the token at github.com/settings/tokens)") in lines
        env["GITHUB_TOKEN"] = "wrong-token"
        code, lines = doctor(tmp_path, env, scm.format(url=github.url))
        assert code == 1
        assert (f"fail GITHUB_TOKEN: {github.url} refused it (HTTP 401) "
                "(fix: the token is wrong or expired: create a new one and export it)") in lines
        assert all(r.path == "/user" for r in github.requests)
    assert not any(token in "\n".join(lines) for token in ("good-token", "narrow-token", "wrong-token"))


def test_a_config_mistake_is_the_config_line(tmp_path: Path, env: dict[str, str], project: Path) -> None:
    code, lines = doctor(tmp_path, env, "    scm: {plugin: local, pol_interval: 3s}\n")
    assert code == 1
    assert lines[0] == (f"fail config: {tmp_path / 'ao.config.yaml'}:4: projects.app.scm.pol_interval: unknown option "
                        "(did you mean poll_interval?) (fix: correct it (every key is in ao.config.yaml.example))")


@pytest.fixture
def running_engine(env: dict[str, str]) -> Iterator[int]:
    """Holds engine.lock the way the engine loop does (flock, pid written)."""
    home = Path(env["AO_HOME"])
    home.mkdir(parents=True)
    fd = os.open(home / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, str(os.getpid()).encode())
    yield os.getpid()
    os.close(fd)


def test_a_running_engine_is_reported_without_taking_its_lock(tmp_path: Path, env: dict[str, str], project: Path,
                                                              running_engine: int) -> None:
    code, lines = doctor(tmp_path, env)
    assert f"ok   engine: running (pid {running_engine})" in lines


def test_a_check_is_one_function_and_a_broken_one_is_one_failing_line(tmp_path: Path) -> None:
    setup = Setup(config=None, config_problem=None, env={}, ao_home=tmp_path)

    def sessions(setup: Setup) -> Result:
        return ok("sessions", "none orphaned")

    def broken(setup: Setup) -> Result:
        raise RuntimeError("boom")

    lines = [r.line() for r in run_checks(setup, [sessions, broken, lambda s: [fail("x", "y", "z")]])]
    assert lines == ["ok   sessions: none orphaned",
                     "fail broken: the check itself failed: RuntimeError: boom (fix: report this as a bug in ao doctor)",
                     "fail x: y (fix: z)"]
    from ao_tui import doctor

    try:
        assert check(sessions) is sessions  # registering is the one line `@check` above the function
        assert doctor.CHECKS[-1] is sessions
    finally:
        doctor.CHECKS.remove(sessions)


def test_a_damaged_store_and_orphans_are_reported_with_the_command_to_run(
    tmp_path: Path, env: dict[str, str], project: Path
) -> None:
    home = Path(env["AO_HOME"])
    (home / "workspaces" / "app" / "ao-7").mkdir(parents=True)  # a workspace no record names
    _, lines = doctor(tmp_path, env)
    assert "warn orphans: 1 workspace(s) with no session record (ao-7) (fix: ao store recover adopts them; " \
           "ao store orphans --clean removes them)" in lines, lines
    assert not (home / "ao.sqlite3").exists(), "the doctor makes no store"
    (home / "ao.sqlite3").write_bytes(b"a sync tool wrote this\n" * 50)
    code, lines = doctor(tmp_path, env)
    assert code != 0
    assert f"fail store: {home / 'ao.sqlite3'} is damaged: it is not an SQLite database (fix: ao store recover)" \
        in lines, lines
