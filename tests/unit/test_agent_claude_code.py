"""ClaudeCodeAgent: argv, hooks and trust merging, big prompts, and the screen classifier on real screens."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import ao_tui.activity.hook
from ao_tui.errors import AoError, InvalidName, PluginError
from ao_tui.models import ActivityState
from ao_tui.prompts import session_rules
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_claude_code import (
    HOOK_EVENTS,
    PROMPT_ARG_LIMIT,
    ClaudeCodeAgent,
    project_slug,
)

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens" / "claude_code"
#: Screens captured from each Claude Code version ao is tested with, side by side.
VERSIONS = sorted((p.name for p in SCREENS.iterdir() if p.is_dir()), key=lambda v: tuple(map(int, v.split("."))))
AGENT_ID = "0b9f4a52-6f1e-4d0c-9a57-3f3b3f3a1c11"


@pytest.fixture
def agent(tmp_path: Path) -> ClaudeCodeAgent:
    return ClaudeCodeAgent(PluginContext(ao_home=tmp_path / "ao"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("AO_CLAUDE_BIN", raising=False)
    return home


def make_spec(workspace: Path, **overrides) -> LaunchSpec:
    workspace.mkdir(parents=True, exist_ok=True)
    values = dict(
        session_id="app-1",
        agent_session_id=AGENT_ID,
        workspace=workspace,
        prompt="Fix the login bug",
        model="claude-sonnet-4-5",
        permission_mode="acceptEdits",
        extra_rules="Use tabs.",
        events_file=workspace.parent / "events" / "hook-events.jsonl",
    )
    values.update(overrides)
    return LaunchSpec(**values)


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# ----------------------------------------------------------------------- argv


def test_launch_argv_carries_session_id_model_mode_rules_and_prompt_last(agent, tmp_path, home) -> None:
    argv = agent.launch_argv(make_spec(tmp_path / "ws"))
    assert argv[0] == "claude"
    assert flag(argv, "--session-id") == AGENT_ID
    assert flag(argv, "--model") == "claude-sonnet-4-5"
    assert flag(argv, "--permission-mode") == "acceptEdits"
    rules = flag(argv, "--append-system-prompt")
    assert "Use tabs." in rules
    assert "Co-Authored-By: claude-sonnet-4-5" in rules
    assert "READY" in rules
    assert argv[-2:] == ["--", "Fix the login bug"]


def test_rules_the_engine_already_rendered_are_used_as_they_are(agent, tmp_path, home) -> None:
    rendered = session_rules("ao/app-1", agent.model_trailer("m"), "Use tabs.")
    argv = agent.launch_argv(make_spec(tmp_path / "ws", extra_rules=rendered))
    assert flag(argv, "--append-system-prompt") == rendered


def test_executable_comes_from_config_then_env_then_path(agent, tmp_path, home, monkeypatch) -> None:
    spec = make_spec(tmp_path / "ws")
    monkeypatch.setenv("AO_CLAUDE_BIN", "/opt/claude/bin/claude")
    assert agent.launch_argv(spec)[0] == "/opt/claude/bin/claude"
    configured = make_spec(tmp_path / "ws", command=["node", "/x/cli.js"])
    assert agent.launch_argv(configured)[:2] == ["node", "/x/cli.js"]


def test_restore_resumes_the_same_conversation_without_a_new_prompt(agent, tmp_path, home) -> None:
    argv = agent.restore_argv(make_spec(tmp_path / "ws", model=None))
    assert argv[:3] == ["claude", "--resume", AGENT_ID]
    assert "--model" not in argv and "--session-id" not in argv
    assert flag(argv, "--permission-mode") == "acceptEdits"
    assert "Fix the login bug" not in argv


def test_agent_session_id_must_be_a_uuid(agent, tmp_path, home) -> None:
    with pytest.raises(PluginError, match="UUID"):
        agent.launch_argv(make_spec(tmp_path / "ws", agent_session_id="../../etc/passwd"))


def test_unknown_permission_mode_is_a_one_line_error(agent, tmp_path, home) -> None:
    with pytest.raises(PluginError, match="permission mode"):
        agent.launch_argv(make_spec(tmp_path / "ws", permission_mode="yolo"))


def test_hostile_prompt_text_stays_one_argument(agent, tmp_path, home) -> None:
    hostile = "--dangerously-skip-permissions\n$(rm -rf ~); `id` && echo 'x' \"y\" ; --model evil"
    argv = agent.launch_argv(make_spec(tmp_path / "ws", prompt=hostile))
    assert argv[-1] == hostile
    assert argv[-2] == "--"
    assert argv.count("--dangerously-skip-permissions") == 0  # only as part of the prompt string
    assert flag(argv, "--model") == "claude-sonnet-4-5"


def test_a_100_kb_prompt_goes_to_a_file_in_the_workspace(agent, tmp_path, home) -> None:
    big = "Refactor everything.\n" + ("x" * 79 + "\n") * 1300  # ~104 kB
    assert len(big.encode()) > PROMPT_ARG_LIMIT
    workspace = tmp_path / "ws"
    argv = agent.launch_argv(make_spec(workspace, prompt=big))
    task_file = workspace / ".ao" / "task.md"
    assert task_file.read_text() == big
    assert str(task_file) in argv[-1]
    assert max(len(a.encode()) for a in argv) < 32_000
    assert (workspace / ".ao" / ".gitignore").read_text() == "*\n"  # never committed
    small = agent.launch_argv(make_spec(tmp_path / "ws2", prompt="y" * 90_000))
    assert small[-1] == "y" * 90_000


def test_environment_passes_anthropic_vars_and_config_env(agent, tmp_path, home, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("UNRELATED_SECRET", "nope")
    env = agent.environment(make_spec(tmp_path / "ws", env={"FOO": "bar"}))
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert env["FOO"] == "bar"
    assert "UNRELATED_SECRET" not in env


# ---------------------------------------------------------------- hooks merge


def _settings(workspace: Path) -> dict:
    return json.loads((workspace / ".claude" / "settings.local.json").read_text())


def test_hooks_are_installed_for_every_event_with_a_quoted_command(agent, tmp_path, home) -> None:
    spec = make_spec(tmp_path / "my ws; rm -rf", events_file=tmp_path / "ev dir" / "$(x).jsonl")
    agent.prepare_workspace(spec)
    hooks = _settings(spec.workspace)["hooks"]
    assert set(hooks) == set(HOOK_EVENTS)
    command = hooks["PreToolUse"][0]["hooks"][0]["command"]
    assert hooks["PreToolUse"][0]["matcher"] == "*"
    hook_file = str(Path(ao_tui.activity.hook.__file__).resolve())
    assert shlex.split(command) == [sys.executable, "-I", "-S", hook_file, "--session", "app-1",
                                    "--out", str(tmp_path / "ev dir" / "$(x).jsonl")]


def test_a_hook_module_in_the_workspace_cannot_stand_in_for_aos(agent, tmp_path, home) -> None:
    """ao working on its own repository: the workspace holds an ao_tui/activity/hook.py of its own."""
    spec = make_spec(tmp_path / "ws", events_file=tmp_path / "events.jsonl")
    fake = spec.workspace / "ao_tui" / "activity"
    fake.mkdir(parents=True)
    for init in (fake.parent / "__init__.py", fake / "__init__.py"):
        init.write_text("")
    (fake / "hook.py").write_text("open('PWNED', 'w').write('x')\n")
    agent.prepare_workspace(spec)
    command = _settings(spec.workspace)["hooks"]["Stop"][0]["hooks"][0]["command"]
    done = subprocess.run(shlex.split(command), cwd=spec.workspace, input='{"hook_event_name": "Stop"}',
                          text=True, capture_output=True, timeout=30)
    assert done.returncode == 0 and not (spec.workspace / "PWNED").exists()
    assert json.loads((tmp_path / "events.jsonl").read_text())["event"] == "Stop"


def test_hooks_installed_by_an_older_ao_are_replaced_not_doubled(agent, tmp_path, home) -> None:
    spec = make_spec(tmp_path / "ws", events_file=tmp_path / "events.jsonl")
    settings_file = spec.workspace / ".claude" / "settings.local.json"
    settings_file.parent.mkdir(parents=True)
    old = {"type": "command", "command": f"{sys.executable} -m ao_tui.activity.hook --session app-1 --out x"}
    settings_file.write_text(json.dumps({"hooks": {"Stop": [{"hooks": [old]}]}}))
    agent.prepare_workspace(spec)
    stop = _settings(spec.workspace)["hooks"]["Stop"]
    assert [h["command"] for entry in stop for h in entry["hooks"]] == [agent.hook_command(spec)]


def test_hooks_merge_keeps_user_keys_and_user_hooks_and_is_idempotent(agent, tmp_path, home) -> None:
    workspace = tmp_path / "ws"
    settings_file = workspace / ".claude" / "settings.local.json"
    settings_file.parent.mkdir(parents=True)
    user_hook = {"type": "command", "command": "notify-send done"}
    settings_file.write_text(json.dumps({
        "permissions": {"allow": ["Bash(npm test)"]},
        "env": {"FOO": "1"},
        "hooks": {"Stop": [{"hooks": [user_hook]}], "PreToolUse": [{"matcher": "Bash", "hooks": [user_hook]}]},
    }))
    spec = make_spec(workspace)
    agent.prepare_workspace(spec)
    first = settings_file.read_text()
    agent.prepare_workspace(spec)
    assert settings_file.read_text() == first  # idempotent
    data = json.loads(first)
    assert data["permissions"] == {"allow": ["Bash(npm test)"]}
    assert data["env"] == {"FOO": "1"}
    assert data["hooks"]["Stop"][0] == {"hooks": [user_hook]}
    assert data["hooks"]["PreToolUse"][0] == {"matcher": "Bash", "hooks": [user_hook]}
    assert len(data["hooks"]["Stop"]) == 2
    # a new events file replaces ao's entry rather than adding a second one
    agent.prepare_workspace(make_spec(workspace, events_file=tmp_path / "other.jsonl"))
    stop = _settings(workspace)["hooks"]["Stop"]
    assert len(stop) == 2 and "other.jsonl" in stop[1]["hooks"][0]["command"]


def test_broken_settings_file_is_reported_not_overwritten(agent, tmp_path, home) -> None:
    workspace = tmp_path / "ws"
    settings_file = workspace / ".claude" / "settings.local.json"
    settings_file.parent.mkdir(parents=True)
    settings_file.write_text('{"permissions": {\n  "allow": [,]\n}}')
    with pytest.raises(AoError, match=r"settings.local.json:2: invalid JSON"):
        agent.prepare_workspace(make_spec(workspace))
    assert settings_file.read_text() == '{"permissions": {\n  "allow": [,]\n}}'


def test_invalid_session_id_never_reaches_the_hook_command(agent, tmp_path, home) -> None:
    with pytest.raises(InvalidName):
        agent.prepare_workspace(make_spec(tmp_path / "ws", session_id="x; rm -rf ~"))
    assert not (tmp_path / "ws" / ".claude").exists()


# ---------------------------------------------------------------- trust merge


def test_trust_is_merged_into_claude_json_keeping_other_keys(agent, tmp_path, home) -> None:
    other = {"hasTrustDialogAccepted": False, "allowedTools": ["Bash"]}
    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True, "userID": "abc", "projects": {"/somewhere/else": other},
    }))
    workspace = tmp_path / "ws"
    agent.prepare_workspace(make_spec(workspace))
    data = json.loads((home / ".claude.json").read_text())
    assert data["hasCompletedOnboarding"] is True and data["userID"] == "abc"
    assert data["projects"]["/somewhere/else"] == other
    assert data["projects"][str(workspace.resolve())]["hasTrustDialogAccepted"] is True


@pytest.mark.parametrize("caught", ["", '{"hasCompletedOnboarding": true, "bypassPermis'])
def test_a_claude_json_caught_mid_write_is_waited_for_never_wiped(agent, tmp_path, home, caught) -> None:
    """A running Claude Code rewrites the file in place: ao reads it empty or cut short, then whole."""
    import threading

    whole = {"hasCompletedOnboarding": True, "bypassPermissionsModeAccepted": True, "userID": "abc"}
    claude_json = home / ".claude.json"
    claude_json.write_text(caught)
    writer = threading.Timer(0.3, lambda: claude_json.write_text(json.dumps(whole)))
    writer.start()
    workspace = tmp_path / "ws"
    agent.prepare_workspace(make_spec(workspace))
    writer.join()
    data = json.loads(claude_json.read_text())
    assert {k: data[k] for k in whole} == whole, "the user's settings survive"
    assert data["projects"][str(workspace.resolve())]["hasTrustDialogAccepted"] is True


def test_trust_uses_home_from_the_spec_env_and_creates_the_file(agent, tmp_path, home) -> None:
    agent_home = tmp_path / "agent-home"
    agent_home.mkdir()
    workspace = tmp_path / "ws"
    agent.prepare_workspace(make_spec(workspace, env={"HOME": str(agent_home)}))
    data = json.loads((agent_home / ".claude.json").read_text())
    assert data["projects"][str(workspace.resolve())]["hasTrustDialogAccepted"] is True
    assert not (home / ".claude.json").exists()


def test_a_worktree_and_its_repository_are_both_trusted(agent, git_repo, tmp_path, home) -> None:
    """Claude Code 2.1.3xx asks about the repository a worktree belongs to, 2.1.197 about the worktree."""
    import subprocess

    worktree = tmp_path / "workspaces" / "app-1"
    subprocess.run(["git", "-C", str(git_repo), "worktree", "add", "-q", "-b", "ao/app-1", str(worktree)], check=True)
    agent.prepare_workspace(make_spec(worktree))
    projects = json.loads((home / ".claude.json").read_text())["projects"]
    assert projects[str(worktree.resolve())]["hasTrustDialogAccepted"] is True
    assert projects[str(git_repo.resolve())]["hasTrustDialogAccepted"] is True
    agent.prepare_workspace(make_spec(tmp_path / "plain"))  # not a repository: only itself
    assert set(json.loads((home / ".claude.json").read_text())["projects"]) == {
        str(worktree.resolve()), str(git_repo.resolve()), str((tmp_path / "plain").resolve())}


def test_ao_files_are_excluded_from_the_agents_commits(agent, git_repo, home) -> None:
    agent.prepare_workspace(make_spec(git_repo))
    exclude = (git_repo / ".git" / "info" / "exclude").read_text().splitlines()
    assert ".claude/settings.local.json" in exclude and ".ao/" in exclude


# ----------------------------------------------------------------- transcript


def test_transcript_found_by_session_id_else_computed_slug(agent, tmp_path, home) -> None:
    workspace = tmp_path / "a_b.c" / "ws"
    spec = make_spec(workspace)
    expected = home / ".claude" / "projects" / project_slug(workspace) / f"{AGENT_ID}.jsonl"
    assert agent.transcript_path(spec) == expected
    assert project_slug(Path("/tmp/cc3_x.8foa1tm4/repo")) == "-tmp-cc3-x-8foa1tm4-repo"  # as the real CLI names it
    elsewhere = home / ".claude" / "projects" / "-some-other-slug" / f"{AGENT_ID}.jsonl"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("{}\n")
    assert agent.transcript_path(spec) == elsewhere


def test_transcript_honours_claude_config_dir(agent, tmp_path, home) -> None:
    spec = make_spec(tmp_path / "ws", env={"CLAUDE_CONFIG_DIR": str(tmp_path / "cfg")})
    assert agent.transcript_path(spec).is_relative_to(tmp_path / "cfg" / "projects")


# --------------------------------------------------------------------- screen


def screen(name: str, version: str = VERSIONS[0]) -> tuple[str, str]:
    folder = SCREENS / version
    return (folder / f"{name}.txt").read_text(), (folder / f"{name}.title").read_text().strip()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("working_first_request", ActivityState.WORKING, "…"),
        ("working_spinner", ActivityState.WORKING, "…"),
        ("working_after_permission", ActivityState.WORKING, "… ("),
        ("permission_write", ActivityState.WAITING_PERMISSION, "Do you want to create hello.txt?"),
        ("permission_bash", ActivityState.WAITING_PERMISSION, "Do you want to proceed? (git add -A && git commit"),
        ("question_dialog", ActivityState.WAITING_INPUT, "Which database should I use?"),
        ("idle_turn_done", ActivityState.IDLE, ""),
        ("error_api_400", ActivityState.ERRORED, "API Error: 400 scripted failure"),
        ("working_api_retry", ActivityState.WORKING, "etrying in"),
        ("trust_dialog", ActivityState.WAITING_INPUT, "trust dialog"),
    ],
)
def test_classifier_on_captured_screens(agent, version, name, state, detail) -> None:
    text, title = screen(name, version)
    guess = agent.read_screen(text, title)
    assert guess is not None and guess.state == state
    assert detail in guess.detail
    if name == "working_api_retry":
        assert "attempt" in guess.detail  # what the detector shows while Claude Code retries


def test_every_version_has_every_screen() -> None:
    assert len(VERSIONS) >= 2
    names = {version: sorted(p.name for p in (SCREENS / version).iterdir()) for version in VERSIONS}
    assert all(found == names[VERSIONS[0]] for found in names.values()), names


@pytest.mark.parametrize("version", VERSIONS)
def test_working_is_seen_from_the_footer_even_without_a_title(agent, version) -> None:
    text, _ = screen("working_spinner", version)
    assert agent.read_screen(text, "").state == ActivityState.WORKING


def test_braille_title_alone_means_working(agent) -> None:
    text, _ = screen("idle_turn_done", "2.1.197")  # 2.1.3xx no longer spins in the title
    assert agent.read_screen(text.replace("? for shortcuts", ""), "⠋ Claude Code").state == ActivityState.WORKING


@pytest.mark.parametrize("version", VERSIONS)
def test_an_old_error_before_a_newer_prompt_is_not_an_error_now(agent, version) -> None:
    text, title = screen("error_api_400", version)
    lines = text.splitlines()
    box = next(i for i, ln in enumerate(lines) if "API Error" in ln)
    newer = lines[:box + 1] + ["", "❯ try again", "", "● All good now.", "", "✻ Worked for 1s"] + lines[box + 1:]
    assert agent.read_screen("\n".join(newer), title).state == ActivityState.IDLE


def test_unrecognisable_screen_gives_no_guess(agent) -> None:
    assert agent.read_screen("$ ls\nfoo bar\n$ ", "bash") is None
    assert agent.read_screen("", "") is None


def test_versions_outside_the_tested_range_get_a_plain_notice() -> None:
    from ao_tui_plugins.agent_claude_code import TESTED_VERSIONS, untested_version_notice, version_key

    oldest, newest = TESTED_VERSIONS
    assert version_key(oldest) < version_key(newest)
    assert untested_version_notice(oldest) is None and untested_version_notice(newest) is None
    assert "older than ao supports" in (untested_version_notice("2.0.99") or "")
    newer = untested_version_notice("2.1.1000") or ""
    assert newer.startswith("Claude Code 2.1.1000 is newer than ao was tested with") and f"@{newest}" in newer


def test_claude_version_is_read_once_per_build(tmp_path: Path) -> None:
    import os

    from ao_tui_plugins.agent_claude_code import claude_version

    calls = tmp_path / "calls"
    cli = tmp_path / "claude"
    cli.write_text(f'#!/bin/sh\necho x >> {calls}\necho "2.1.250 (Claude Code)"\n')
    cli.chmod(0o755)
    assert claude_version(str(cli)) == "2.1.250" and claude_version(str(cli)) == "2.1.250"
    assert calls.read_text().count("x") == 1
    cli.write_text("#!/bin/sh\necho \"Python 3.11.2\"\n")  # a new build (and not Claude Code at all)
    os.utime(cli, ns=(1, 1))
    assert claude_version(str(cli)) is None
    assert claude_version(str(tmp_path / "missing")) is None
    stand_in = tmp_path / "stand-in"
    stand_in.write_text(f'#!/bin/sh\necho y >> {calls}\necho "2.1.250 (Claude Code)"\n')
    stand_in.chmod(0o755)
    assert claude_version(str(stand_in)) is None and "y" not in calls.read_text(), "never run"


def test_the_permission_mode_is_always_passed_so_newer_claude_code_never_starts_in_auto_mode(agent, tmp_path, home) -> None:
    """Claude Code 2.1.3xx started without --permission-mode runs "auto mode" (a classifier approves
    edits): ao passes the configured mode, "default" when none is set, on launch and on restore."""
    spec = make_spec(tmp_path / "ws", permission_mode=None)
    assert flag(agent.launch_argv(spec), "--permission-mode") == "default"
    assert flag(agent.restore_argv(spec), "--permission-mode") == "default"


# ------------------------------------------------- start-up dialogs ao already decided

TRUST_FOLDER = {"2.1.197": "/tmp/cc4-ntfrhzvl/w", "2.1.332": "/tmp/cap-6au12_g4/repo"}
#: 2.1.197 puts the cursor on "1. Yes" already; 2.1.332 on "No, exit" above "Yes".
TRUST_KEYS = {"2.1.197": ["Enter"], "2.1.332": ["Down", "Enter"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_trust_dialog_for_aos_own_workspace_is_trusted_again_and_answered_yes(
        agent, tmp_path, home, version) -> None:
    """Agents starting together in one HOME can lose ao's trust mark: ao marks it again and says yes."""
    workspace = tmp_path / "ws"
    text, _ = screen("trust_dialog", version)
    shown = text.replace(TRUST_FOLDER[version], str(workspace.resolve()))
    (home / ".claude.json").write_text(json.dumps({"userID": "abc", "projects": {}}))  # the mark was lost
    answer = agent.startup_answer(make_spec(workspace), shown)
    assert answer == (f"trust dialog for {workspace.resolve()}", TRUST_KEYS[version])
    data = json.loads((home / ".claude.json").read_text())
    assert data["userID"] == "abc"
    assert data["projects"][str(workspace.resolve())]["hasTrustDialogAccepted"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_the_trust_dialog_for_a_folder_ao_did_not_make_is_left_to_the_user(agent, tmp_path, home, version) -> None:
    text, _ = screen("trust_dialog", version)
    assert agent.startup_answer(make_spec(tmp_path / "ws"), text) is None
    assert not (home / ".claude.json").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_the_bypass_dialog_is_accepted_only_when_the_config_asked_for_bypass(agent, tmp_path, home, version) -> None:
    text, _ = screen("bypass_dialog", version)
    text += "\n" * 40  # a tall pane pads the capture with blank lines
    assert agent.startup_answer(make_spec(tmp_path / "ws", permission_mode="bypassPermissions"), text) == (
        "bypass-permissions dialog", ["Down", "Enter"])
    for mode in ("default", "acceptEdits", "plan"):
        assert agent.startup_answer(make_spec(tmp_path / "ws", permission_mode=mode), text) is None


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["permission_bash", "permission_write", "question_dialog", "idle_turn_done"])
def test_no_other_screen_is_answered(agent, tmp_path, home, version, name) -> None:
    text, _ = screen(name, version)
    assert agent.startup_answer(make_spec(tmp_path / "ws", permission_mode="bypassPermissions"), text) is None
