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
