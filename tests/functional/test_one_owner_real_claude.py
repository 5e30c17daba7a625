"""One fleet with the real Claude Code (scripted model, real tmux and git), as a user runs it:
``ao run`` in one terminal, ``ao spawn`` and ``ao send`` in another. Each state the agent's
screen shows (running a tool, idle, asking permission, asking a question, exited) reaches
``ao ls --json`` within a couple of seconds; with the engine killed, ``ao ls`` still shows the
agent idle once it is, read from its files.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.ao_process import AoRun, ao, ls_json
from tests.support.claude_project import claude_project, needs_worktree
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.slow,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(180),
]

#: How long after the screen shows a state the fleet's view (what `ao ls --json` prints) may lag.
LAG = 2.0


def test_states_of_a_real_agent_spawned_elsewhere_reach_ao_ls(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = ao_home / "workspaces" / "demo" / "rc-1"
    with AnthropicServer() as api:
        api.script.on_prompt("Run the slow command", tool_use("Bash", {"command": "sleep 6", "description": "Wait"},
                                                              id="toolu_sleep"))
        api.script.on_tool_result("toolu_sleep", text("Slept well."))
        api.script.on_prompt("create hello.txt", text("Creating it.") + tool_use(
            "Write", {"file_path": str(workspace / "hello.txt"), "content": "hi\n"}, id="toolu_write"))
        api.script.on_tool_result("toolu_write", text("Created hello.txt."))
        api.script.on_prompt("which file", text("I can change either. Which file should I edit, a.py or b.py?"))
        config = claude_project(git_repo, tmp_path / "home", api.url, monkeypatch)
        # The slow command runs without asking (a user setting: a project one makes newer Claude Code
        # ask whether to trust the folder's pre-approved permissions); Write still asks.
        (tmp_path / "home" / ".claude").mkdir(parents=True, exist_ok=True)
        (tmp_path / "home" / ".claude" / "settings.json").write_text(
            json.dumps({"permissions": {"allow": ["Bash(sleep:*)"]}}))
        data = json.loads(config.read_text())
        data["projects"]["demo"]["agent"]["permission_mode"] = "default"  # so Write asks
        config.write_text(json.dumps(data))

        def screen() -> str:
            out = subprocess.run(["tmux", "-L", tmux_socket, "capture-pane", "-p", "-t", "rc-1"],
                                 capture_output=True, text=True)
            return out.stdout if out.returncode == 0 else ""

        lags: dict[str, float] = {}

        viewer = Engine(load_config(str(config)))  # what any ao process shows (`ao ls` prints the same)

        def shows(**want: str) -> bool:
            s = next((x for x in viewer.observed_sessions() if x.id == "rc-1"), None)
            row = {"status": s.status.value, "activity": s.activity.state.value} if s else {}
            return all(row.get(k) == v for k, v in want.items())

        def expect(name: str, shown: Callable[[str], bool], **want: str) -> dict:
            wait_until(lambda: shown(screen()), timeout=60, interval=0.05, message=screen)
            seen = time.monotonic()
            wait_until(lambda: shows(**want), timeout=10, interval=0.05, message=lambda: f"{name}: {screen()}")
            lags[name] = time.monotonic() - seen
            row = ls_json(config)["rc-1"]  # and `ao ls --json`, as a user runs it, says so
            assert all(row[k] == v for k, v in want.items()), (name, row)
            return row

        first = AoRun(config, tmp_path / "first.log").start()
        second = AoRun(config, tmp_path / "second.log")
        try:
            assert json.loads(ao(config, "spawn", "--json", "--prompt", "Run the slow command now.").stdout)["id"] == "rc-1"
            row = expect("running_tool", lambda sc: "sleep 6" in sc and "esc to interrupt" in sc,
                         activity="running_tool")
            assert row["activity_detail"] == "Bash sleep 6"

            # The engine dies while the tool runs: with none, `ao ls` reads the agent's files.
            first.kill9()
            row = expect("idle (no engine)", lambda sc: "Slept well." in sc and "esc to interrupt" not in sc,
                         activity="idle", status="idle")
            assert row["activity_source"] in ("hook", "transcript")

            second.start()
            ao(config, "send", "rc-1", "Please create hello.txt for me.")
            row = expect("waiting_permission", lambda sc: "Do you want to create" in sc,
                         activity="waiting_permission", status="needs_input")
            assert "hello.txt" in row["activity_detail"]
            time.sleep(1.0)  # answered once read (Claude Code 2.1.3xx ignores a key pressed as a dialog appears)
            subprocess.run(["tmux", "-L", tmux_socket, "send-keys", "-t", "rc-1", "1"], check=True)
            expect("idle", lambda sc: "Created hello.txt." in sc and "esc to interrupt" not in sc,
                   activity="idle", status="idle")
            assert (workspace / "hello.txt").read_text() == "hi\n"

            ao(config, "send", "rc-1", "Tell me which file to edit.")
            row = expect("waiting_input", lambda sc: "a.py or b.py?" in sc and "esc to interrupt" not in sc,
                         activity="waiting_input")
            assert row["activity_detail"].endswith("a.py or b.py?")

            ao(config, "send", "rc-1", "/exit")
            expect("exited", lambda sc: sc == "" or "Resume this session" in sc, activity="exited", status="exited")
        finally:
            first.stop()
            second.stop()
        assert all(lag < LAG for lag in lags.values()), lags
        assert api.script.pending() == [] and api.script.unmatched == []
