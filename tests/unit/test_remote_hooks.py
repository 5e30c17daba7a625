"""A remote agent's hooks: given on its command line (nothing written in the host's worktree), and their
events streamed back into this machine's copy once each, whatever the host repeats after a reconnect; and
the git ao on a host runs for the engine (reading only)."""

from __future__ import annotations

import json
from pathlib import Path

from ao_tui.config import Config
from ao_tui.remote import RemoteHosts
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_claude_code import _TOOL_EVENTS, HOOK_EVENTS, ClaudeCodeAgent


def test_claude_code_takes_its_hooks_as_a_settings_json_string(ao_home: Path) -> None:
    agent = ClaudeCodeAgent(PluginContext(ao_home=ao_home, options={}))
    command = "/home/u/.ao-host/venv/bin/python -m ao_tui.activity.hook --session app-1 --out '/x y/e.jsonl'"
    flag, value = agent.settings_argv(command)
    hooks = json.loads(value)["hooks"]
    assert flag == "--settings" and list(hooks) == list(HOOK_EVENTS)
    for event, groups in hooks.items():
        assert groups == [{**({"matcher": "*"} if event in _TOOL_EVENTS else {}),
                           "hooks": [{"type": "command", "command": command, "timeout": 10}]}]


def test_streamed_events_land_once_in_order(ao_home: Path) -> None:
    remote = RemoteHosts(Config(), ao_home)
    one, two = '{"event":"UserPromptSubmit"}\n', '{"event":"Stop"}\n'
    remote._event("build-1", {"event": "hook", "session": "app-1", "offset": 0, "data": one})
    remote._event("build-1", {"event": "hook", "session": "app-1", "offset": 0, "data": one + two})  # asked again
    remote._event("build-1", {"event": "hook", "session": "app-1", "offset": len(one), "data": two})
    assert RemoteHosts.mirror_path("app-1").read_text() == one + two


def test_ao_on_a_host_runs_only_read_only_git_for_the_engine(tmp_path: Path) -> None:
    import pytest

    from ao_tui.hostd import HostDaemon

    hostd = HostDaemon(str(tmp_path / "state"))
    for args in (["push", "origin", "main"], ["-c", "core.pager=sh", "log"], ["commit", "-m", "x"], []):
        with pytest.raises(ValueError, match="not a read-only command"):
            hostd.op_git("app-1", args)
    with pytest.raises(ValueError, match="bad session id"):
        hostd.op_git("../app-1", ["log"])


def test_a_remote_agents_last_words_come_from_its_latest_stop_event(tmp_path: Path) -> None:
    from ao_tui.engine_loop import last_stop_words

    events = tmp_path / "hook-events.jsonl"
    assert last_stop_words(events) == ""  # no file yet
    events.write_text("\n".join([
        json.dumps({"event": "Stop", "last_assistant_message": "first"}),
        json.dumps({"event": "UserPromptSubmit", "prompt": "more"}),
        json.dumps({"event": "Stop", "last_assistant_message": "Done.\n\nREADY"}),
        '{"event": "Stop", "last_assistant_mes',  # a line still being written
    ]))
    assert last_stop_words(events) == "Done.\n\nREADY"
