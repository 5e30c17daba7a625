"""CodexAgent: its argv (hooks trusted, rules, modes, resume), its rollout and its screens.

Screens and events are captures of Codex 0.171.0 (tests/fixtures/*/codex/0.171.0/).
"""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ao_tui.activity.transcript import TranscriptReader
from ao_tui.errors import PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_codex import CodexAgent, hook_trust_hash

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCREENS = FIXTURES / "screens" / "codex" / "0.171.0"
EVENTS = FIXTURES / "events" / "codex" / "0.171.0"
HOSTILE = "--yes-always\n$(rm -rf ~); `id` 'x' \"y\""


def make_spec(tmp_path: Path, **overrides) -> LaunchSpec:
    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    values = dict(session_id="app-1", agent_session_id="", workspace=workspace, prompt="Fix the login bug",
                  model="gpt-5-codex", permission_mode="default", extra_rules="Rules for this session:\n- Use tabs.",
                  events_file=tmp_path / "sessions" / "app-1" / "hook-events.jsonl")
    values.update(overrides)
    return LaunchSpec(**values)


@pytest.fixture
def codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CodexAgent:
    monkeypatch.delenv("AO_CODEX_BIN", raising=False)
    return CodexAgent(PluginContext(ao_home=tmp_path))


def overrides(argv: list[str]) -> dict:
    """The ``-c key=value`` arguments, parsed as Codex parses them (TOML)."""
    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merged: dict = {}
    for i, arg in enumerate(argv):
        if arg == "-c":
            merge(merged, tomllib.loads(argv[i + 1]))
    return merged


def test_launch_passes_prompt_after_double_dash_and_rules_as_developer_instructions(codex, tmp_path) -> None:
    spec = make_spec(tmp_path, prompt=HOSTILE)
    argv = codex.launch_argv(spec)
    assert argv[:3] == ["codex", "--model", "gpt-5-codex"]
    assert argv[-2:] == ["--", HOSTILE]
    assert argv[argv.index("--sandbox") + 1] == "workspace-write"
    assert argv[argv.index("--ask-for-approval") + 1] == "on-request"
    assert argv[argv.index("--disable") + 1] == "daemon_auto_start"
    config = overrides(argv)
    assert config["developer_instructions"] == "Rules for this session:\n- Use tabs."
    assert config["projects"] == {str(spec.workspace.absolute()): {"trust_level": "trusted"}}


def test_hooks_are_installed_and_trusted_for_this_launch_only(codex, tmp_path) -> None:
    config = overrides(codex.launch_argv(make_spec(tmp_path)))
    hooks = config["hooks"]
    assert set(hooks) - {"state"} == {"SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest",
                                      "PostToolUse", "Stop"}
    command = hooks["Stop"][0]["hooks"][0]["command"]
    assert "ao_tui/activity/hook.py" in command and "--session app-1" in command
    assert hooks["PreToolUse"][0]["matcher"] == "*"
    trusted = hooks["state"]["/<session-flags>/config.toml:pre_tool_use:0:0"]["trusted_hash"]
    assert trusted == hook_trust_hash("pre_tool_use", command, "*")


def test_trust_hash_matches_what_codex_wrote_when_a_human_trusted_the_hook() -> None:
    # Codex 0.171.0's own [hooks.state] entry after "Trust all and continue" for this hook.
    assert hook_trust_hash("stop", "/tmp/cx/hook.sh", None) == (
        "sha256:a2963ce8525970b22625661ec5c922e8dfea4816b4c6860f63fd428848714344")
    assert hook_trust_hash("pre_tool_use", "/tmp/cx/hook.sh", "*") == (
        "sha256:ea6fdeea47c84a7ce9511d588086520ba141f45dc9fa360a83597a72f55ea4e8")


def test_modes_and_big_prompt(codex, tmp_path) -> None:
    assert "--dangerously-bypass-approvals-and-sandbox" in codex.launch_argv(
        make_spec(tmp_path, permission_mode="bypassPermissions"))
    plan = codex.launch_argv(make_spec(tmp_path, permission_mode="plan"))
    assert plan[plan.index("--sandbox") + 1] == "read-only"
    with pytest.raises(PluginError):
        codex.launch_argv(make_spec(tmp_path, permission_mode="yolo"))
    big = "z" * 120_000
    argv = codex.launch_argv(make_spec(tmp_path, prompt=big))
    assert str(tmp_path / "ws" / ".ao" / "task.md") in argv[-1]
    assert (tmp_path / "ws" / ".ao" / "task.md").read_text() == big


def test_restore_resumes_the_thread_its_hooks_named(codex, tmp_path) -> None:
    spec = make_spec(tmp_path)
    assert codex.restore_argv(spec)[-1] == "--last"  # nothing known yet
    spec.events_file.parent.mkdir(parents=True)
    lines = [json.loads(line) for line in (EVENTS / "hooks.jsonl").read_text().splitlines() if line.strip()]
    spec.events_file.write_text("".join(json.dumps({"event": e["hook_event_name"], **e}) + "\n" for e in lines))
    thread = lines[0]["session_id"]
    argv = codex.restore_argv(spec)
    assert argv[:2] == ["codex", "resume"] and argv[-1] == thread
    assert codex.agent_session_id(spec) == thread
    assert codex.transcript_path(spec) == Path(lines[-1]["transcript_path"])


def test_rollout_gives_turns_tools_errors_and_tokens(tmp_path) -> None:
    lines = (EVENTS / "rollout.jsonl").read_text().splitlines(keepends=True)
    path = tmp_path / "rollout.jsonl"

    def state_after(predicate) -> tuple:
        for n, line in enumerate(lines):
            if predicate(json.loads(line)):
                path.write_text("".join(lines[: n + 1]))
                reader = TranscriptReader(path)
                reader.poll()
                return reader.state.verdict(), reader.state
        raise AssertionError("no such record")

    (verdict, st) = state_after(lambda r: r["payload"].get("call_id") == "call_touch"
                                and r["payload"].get("type") == "function_call")
    assert verdict == (ActivityState.RUNNING_TOOL, "exec_command touch made.txt", "exec_command")
    assert st.agent_session_id == "01a24439-e3dc-7152-8c45-514748aa9cb8"
    (verdict, st) = state_after(lambda r: r["payload"].get("last_agent_message") == "Created made.txt.")
    assert verdict[0] is ActivityState.IDLE and st.last_text == "Created made.txt."
    assert st.usage.input_tokens > 0 and st.usage.output_tokens > 0 and st.usage.cost_usd > 0
    (verdict, st) = state_after(lambda r: "red or blue" in str(r["payload"].get("last_agent_message")))
    assert verdict[:2] == (ActivityState.WAITING_INPUT, "Which colour should the button be: red or blue?")
    path.write_text("".join(lines))
    reader = TranscriptReader(path)
    reader.poll()
    assert reader.state.verdict()[:2] == (
        ActivityState.ERRORED, "We’re currently experiencing high demand, which may cause temporary errors.")
    assert reader.state.model == "gpt-5-codex"


def test_the_usage_limit_codex_marks_is_one_whatever_its_words(tmp_path) -> None:
    """Codex 0.171.0's task_complete against a 429 usage_limit_reached (tests/functional/test_codex_real.py)."""
    from ao_tui.usage_limits import find_limit

    said = ("You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
            "https://chatgpt.com/settings/usage to purchase more credits or try again at 8:44 AM.")
    path = tmp_path / "rollout.jsonl"
    for message in (said, "Quota used up; try again at 8:44 AM."):  # the second: wording Codex may change to
        path.write_text(json.dumps({"timestamp": "2026-12-05T07:14:18.523Z", "type": "event_msg", "payload": {
            "type": "task_complete", "last_agent_message": None,
            "error": {"message": message, "codex_error_info": "usage_limit_exceeded"}}}) + "\n")
        reader = TranscriptReader(path)
        reader.poll()
        state, detail, _ = reader.state.verdict()
        assert state is ActivityState.ERRORED and message in detail
        hit = find_limit(detail, datetime(2026, 12, 5, 7, 14, tzinfo=UTC))
        assert hit is not None and hit.resets_at == datetime(2026, 12, 5, 8, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [
        ("permission_command", ActivityState.WAITING_PERMISSION,
         "Would you like to run the following command? (touch made.txt)"),
        ("working_tool", ActivityState.WORKING, "Working (1s • esc to interrupt)"),
        ("working_reconnecting", ActivityState.WORKING, "Reconnecting... 2/5 (8s • esc to interrupt)"),
        ("idle", ActivityState.IDLE, ""),
        ("idle_after_question", ActivityState.IDLE, ""),
        ("error_5xx", ActivityState.ERRORED, "We’re currently experiencing high demand"),
    ],
)
def test_screens(codex, name, state, detail) -> None:
    guess = codex.read_screen((SCREENS / f"{name}.txt").read_text())
    assert guess is not None and guess.state == state
    assert detail in guess.detail
