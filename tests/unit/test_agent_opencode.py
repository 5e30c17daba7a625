"""OpenCodeAgent: argv, permissions in its environment, its session id from its database, and its screens."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ao_tui.errors import PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_opencode import OpenCodeAgent

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens" / "opencode" / "1.18.33"
HOSTILE = "--session x\n$(rm -rf ~); `id` 'x' \"y\""


def make_spec(workspace: Path, **overrides) -> LaunchSpec:
    workspace.mkdir(parents=True, exist_ok=True)
    values = dict(session_id="app-1", agent_session_id="", workspace=workspace, prompt="Fix the login bug",
                  model="aotest/gpt-test", permission_mode="default", extra_rules="Rules:\n- Use tabs.")
    values.update(overrides)
    return LaunchSpec(**values)


@pytest.fixture
def opencode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpenCodeAgent:
    monkeypatch.delenv("AO_OPENCODE_BIN", raising=False)
    monkeypatch.delenv("OPENCODE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return OpenCodeAgent(PluginContext(ao_home=tmp_path))


def test_launch_starts_on_the_prompt_with_the_rules_first(opencode, tmp_path) -> None:
    argv = opencode.launch_argv(make_spec(tmp_path / "ws", prompt=HOSTILE))
    assert argv[:3] == ["opencode", "--model", "aotest/gpt-test"]
    assert argv[-2] == "--prompt" and argv[-1] == "Rules:\n- Use tabs.\n\n" + HOSTILE  # one argument, never flags


@pytest.mark.parametrize(("mode", "bash", "edit"), [("default", "ask", "ask"), ("acceptEdits", "ask", "allow"),
                                                    ("plan", "ask", "deny"), ("bypassPermissions", "allow", "allow")])
def test_permission_modes_travel_in_its_environment(opencode, tmp_path, mode, bash, edit) -> None:
    spec = make_spec(tmp_path / "ws", permission_mode=mode)
    permission = json.loads(opencode.environment(spec)["OPENCODE_PERMISSION"])
    assert (permission["bash"], permission["edit"]) == (bash, edit)
    assert ("--agent" in opencode.launch_argv(spec)) == (mode == "plan")


def test_an_unknown_mode_is_refused(opencode, tmp_path) -> None:
    with pytest.raises(PluginError, match="unknown permission mode"):
        opencode.launch_argv(make_spec(tmp_path / "ws", permission_mode="yolo"))


def _database(path: Path, rows: list[tuple[str, str, str | None, int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE session (id text PRIMARY KEY, directory text NOT NULL, parent_id text, "
                     "time_created integer NOT NULL)")
        conn.executemany("INSERT INTO session VALUES (?,?,?,?)", rows)


def test_restore_reopens_the_newest_session_of_its_worktree(opencode, tmp_path) -> None:
    ws = tmp_path / "ws"
    spec = make_spec(ws)
    assert opencode.restore_argv(spec)[-1] == "--continue" and opencode.transcript_path(spec) is None
    _database(tmp_path / "data" / "opencode" / "opencode.db", [
        ("ses_0000000000aaaaaaaa", str(ws), None, 1), ("ses_0000000000bbbbbbbb", str(ws), None, 2),
        ("ses_0000000000cccccccc", str(ws), "ses_0000000000bbbbbbbb", 3),  # a sub-agent's
        ("ses_0000000000dddddddd", str(tmp_path / "other"), None, 4)])
    assert opencode.restore_argv(spec)[-2:] == ["--session", "ses_0000000000bbbbbbbb"]
    assert opencode.transcript_path(spec) == tmp_path / "data" / "opencode" / "opencode.db"


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [  # captured from OpenCode 1.18.33: 120x40 by hand, wide_* by tests/functional/test_opencode_real.py
        ("permission_shell", ActivityState.WAITING_PERMISSION,
         "Shell command: printf 'made\\n' > made.txt && git add made.txt && git commit -qm 'Add made.txt'"),
        ("running_command", ActivityState.RUNNING_TOOL, "sleep 3; echo checked"),
        ("idle", ActivityState.IDLE, ""),
        ("question", ActivityState.WAITING_INPUT, "Which test should I look at first: test_made or the rest?"),
        ("wide_retrying_error", ActivityState.ERRORED,
         "Bad request from the scripted server (retrying in 6s, attempt #3)"),
        ("wide_waiting_permission", ActivityState.WAITING_PERMISSION, None),
        ("wide_running_tool", ActivityState.RUNNING_TOOL, "sleep 4; echo checked"),
        ("wide_waiting_input", ActivityState.WAITING_INPUT, "Which test should I look at first: test_made or the rest?"),
        ("wide_errored", ActivityState.ERRORED, None),
        ("wide_idle", ActivityState.IDLE, ""),
    ],
)
def test_screens(opencode, name, state, detail) -> None:
    guess = opencode.read_screen((SCREENS / f"{name}.txt").read_text())
    assert guess is not None and guess.state == state, guess
    if detail is not None:
        assert guess.detail == detail


def test_not_opencode_screen(opencode) -> None:
    assert opencode.read_screen("some compiler output\nstill going") is None


def test_registered() -> None:
    from ao_tui.registry import load

    assert load("agent", "opencode") is OpenCodeAgent


def test_tokens_and_cost_come_from_its_database(opencode, tmp_path) -> None:
    ws = tmp_path / "ws"
    spec = make_spec(ws)
    db = tmp_path / "data" / "opencode" / "opencode.db"
    _database(db, [("ses_0000000000aaaaaaaa", str(ws), None, 1), ("ses_0000000000dddddddd", str(tmp_path), None, 2)])
    assert opencode.usage(spec) is None
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE message (id text PRIMARY KEY, session_id text, data text)")
        rows = [("m1", "ses_0000000000aaaaaaaa", {"role": "user"}),
                ("m2", "ses_0000000000aaaaaaaa", {"role": "assistant", "cost": 0.5, "tokens": {
                    "input": 7970, "output": 33, "reasoning": 2, "cache": {"read": 10, "write": 0}}}),
                ("m3", "ses_0000000000aaaaaaaa", {"role": "assistant", "cost": 0.25, "tokens": {
                    "input": 8059, "output": 7, "reasoning": 0, "cache": {"read": 0, "write": 5}}}),
                ("m4", "ses_0000000000dddddddd", {"role": "assistant", "cost": 9, "tokens": {"input": 1, "output": 1}})]
        conn.executemany("INSERT INTO message VALUES (?,?,?)", [(i, sid, json.dumps(d)) for i, sid, d in rows])
    usage = opencode.usage(spec)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens,
            usage.cache_creation_input_tokens) == (16029, 42, 10, 5)
    assert usage.cost_usd == pytest.approx(0.75)


EVENTS = Path(__file__).resolve().parent.parent / "fixtures" / "events" / "opencode" / "1.18.33"


def test_its_plugin_is_written_for_the_session_and_named_in_its_inline_config(opencode, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPENCODE_CONFIG_CONTENT", json.dumps({"plugin": ["mine"], "share": "disabled"}))
    events = tmp_path / "sessions" / "app-1" / "hook-events.jsonl"
    spec = make_spec(tmp_path / "ws", events_file=events)
    opencode.prepare_workspace(spec)
    plugin = events.parent / "ao-opencode-events.js"
    source = plugin.read_text()
    assert f"const OUT = {json.dumps(str(events))};" in source and 'const SESSION = "app-1";' in source
    content = json.loads(opencode.environment(spec)["OPENCODE_CONFIG_CONTENT"])
    assert content == {"plugin": ["mine", plugin.as_uri()], "share": "disabled"}  # yours kept, ao's once
    monkeypatch.setenv("OPENCODE_CONFIG_CONTENT", json.dumps(content))
    assert json.loads(opencode.environment(spec)["OPENCODE_CONFIG_CONTENT"])["plugin"] == ["mine", plugin.as_uri()]
    monkeypatch.setenv("OPENCODE_CONFIG_CONTENT", "{not json")
    with pytest.raises(PluginError, match="OPENCODE_CONFIG_CONTENT: not JSON"):
        opencode.environment(spec)


def test_its_plugin_lines_drive_the_states() -> None:
    """What ao's plugin wrote inside OpenCode 1.18.33 (tests/support/openai_server.py answering), through
    ao's detector: a prompt, a tool asked for and approved, a slow one, a question, retried errors."""
    from ao_tui.activity.detector import ActivityDetector

    det = ActivityDetector(clock=lambda: 1_800_000_000.0, settle=0.0, start_hold=0.0)
    seen = []
    for line in (EVENTS / "plugin.jsonl").read_text().splitlines():
        event = json.loads(line)
        det.on_hook(event)
        det.update()
        now = (event["event"].removeprefix("opencode:"), det.activity.state, det.activity.detail)
        if not seen or seen[-1][1:] != now[1:]:
            seen.append(now)
    State = ActivityState
    assert [(kind, state) for kind, state, _ in seen] == [
        ("loaded", State.IDLE), ("text", State.WORKING),
        ("tool", State.RUNNING_TOOL), ("permission", State.WAITING_PERMISSION), ("permission.replied", State.RUNNING_TOOL),
        ("tool", State.WORKING), ("idle", State.IDLE),
        ("text", State.WORKING), ("permission", State.WAITING_PERMISSION), ("permission.replied", State.RUNNING_TOOL),
        ("tool", State.WORKING), ("idle", State.WAITING_INPUT),
        ("text", State.WORKING), ("retry", State.ERRORED), ("retry", State.ERRORED), ("retry", State.ERRORED), ("idle", State.IDLE),
        ("text", State.WORKING), ("retry", State.ERRORED), ("retry", State.ERRORED), ("retry", State.ERRORED)]
    details = [detail for _, _, detail in seen]
    assert details[3] == "permission: bash printf 'made\\n' > made.txt" and details[4] == "bash printf 'made\\n' > made.txt"
    assert details[11] == "Which test should I look at first?"
    assert details[13] == "Bad request from the scripted server (retrying, attempt #1)"
    assert details[-1] == "Invalid API key from the scripted server (retrying, attempt #3)"


def test_a_sub_agents_work_is_not_the_sessions_but_its_prompts_are() -> None:
    from ao_tui.activity.opencode_events import OpenCodeEvents

    oc = OpenCodeEvents()
    assert oc.translate({"event": "opencode:session", "sessionID": "ses_child", "parentID": "ses_root"}) == []
    assert oc.translate({"event": "opencode:tool", "sessionID": "ses_child", "tool": "bash", "status": "running"}) == []
    asked = oc.translate({"event": "opencode:permission", "sessionID": "ses_child", "id": "per_1", "callID": "c1",
                          "permission": "edit", "metadata": {"filepath": "/w/a.py"}})
    assert asked == [{"event": "PermissionRequest", "tool_name": "edit", "tool_input": {"file_path": "/w/a.py"}}]
    assert oc.translate({"event": "opencode:permission.replied", "sessionID": "ses_child", "id": "per_1",
                         "reply": "reject"}) == [{"event": "PermissionDenied"}]
    assert oc.translate({"event": "opencode:question", "sessionID": "ses_root", "id": "q", "question": "Which one?"})[0][
        "tool_input"] == {"questions": [{"question": "Which one?"}]}
    assert oc.translate({"event": "opencode:error", "sessionID": "ses_root", "name": "MessageAbortedError"}) == [
        {"event": "Idle", "detail": "interrupted"}]
    assert oc.translate({"event": "opencode:error", "sessionID": "ses_root", "name": "APIError", "message": "quota"}) == [
        {"event": "StopFailure", "error": "quota"}]
    assert oc.translate({"event": "opencode:idle", "sessionID": "ses_root"}) == []  # the error is the news
