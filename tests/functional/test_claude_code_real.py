"""The real Claude Code CLI, launched by ClaudeCodeAgent in tmux, against the scripted server.

Each test plays a short scripted turn in a real git repo and checks what a
user relies on: the file and the commit exist, the transcript is where the
agent says and holds the prompt and the tool result, ao's hooks fired, and
the screen reads as a permission prompt while one is open.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from ao_tui.models import ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_claude_code import ClaudeCodeAgent
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.claude_env import claude_env
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
]

TRAILER = "Co-Authored-By: claude-sonnet-4-5 <noreply@ao-tui.dev>"


def _start(socket: str, name: str, spec: LaunchSpec, agent: ClaudeCodeAgent) -> None:
    agent.prepare_workspace(spec)
    argv = agent.launch_argv(spec)
    cmd = ["tmux", "-L", socket, "new-session", "-d", "-s", name, "-x", "120", "-y", "40", "-c", str(spec.workspace)]
    for key, value in agent.environment(spec).items():
        cmd += ["-e", f"{key}={value}"]
    subprocess.run([*cmd, "--", *argv], check=True, timeout=10)


def _screen(socket: str, name: str) -> tuple[str, str]:
    out = subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-t", name], capture_output=True, text=True)
    title = subprocess.run(["tmux", "-L", socket, "display-message", "-p", "-t", name, "#{pane_title}"],
                           capture_output=True, text=True)
    return out.stdout, title.stdout.strip()


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _spec(tmp_path: Path, repo: Path, api: AnthropicServer, prompt: str, mode: str) -> LaunchSpec:
    # The workspace is NOT pre-trusted here: prepare_workspace must do it, or the CLI stops at its trust dialog.
    env = claude_env(tmp_path / "home", [], api.url, inherit=False)
    env["IS_SANDBOX"] = "1"  # bypassPermissions is refused for root otherwise (test containers run as root)
    return LaunchSpec(
        session_id="real-1", agent_session_id=str(uuid.uuid4()), workspace=repo, prompt=prompt,
        model="claude-sonnet-4-5", permission_mode=mode, events_file=tmp_path / "events.jsonl", env=env,
        command=[claude_bin()],
    )


def test_unattended_turn_writes_a_file_commits_and_leaves_transcript_and_hook_events(
    tmp_path: Path, git_repo: Path, tmux_socket: str
) -> None:
    message = f"Add hello.txt\n\n{TRAILER}"
    with AnthropicServer() as api:
        api.script.on_prompt(
            "add hello.txt",
            text("Creating the file.")
            + tool_use("Write", {"file_path": str(git_repo / "hello.txt"), "content": "hello\n"}, id="toolu_write"),
        )
        api.script.on_tool_result(
            "toolu_write",
            tool_use("Bash", {"command": f"git add hello.txt && git commit -q -m {json.dumps(message)}",
                              "description": "Commit hello.txt"}, id="toolu_commit"),
        )
        api.script.on_tool_result("toolu_commit", text("Committed.\n\nREADY"))
        agent = ClaudeCodeAgent(PluginContext(ao_home=tmp_path))
        spec = _spec(tmp_path, git_repo, api, "Please add hello.txt and commit it.", "bypassPermissions")
        _start(tmux_socket, "real-1", spec, agent)

        wait_until(lambda: api.script.pending() == [], timeout=45,
                   message=lambda: f"pending {api.script.pending()}\n{_screen(tmux_socket, 'real-1')[0]}")
        wait_until(lambda: agent.read_screen(*_screen(tmux_socket, "real-1")).state == ActivityState.IDLE,
                   timeout=20, message=lambda: _screen(tmux_socket, "real-1")[0])

    assert (git_repo / "hello.txt").read_text() == "hello\n"
    log = git(git_repo, "log", "-1", "--format=%B")
    assert log.startswith("Add hello.txt") and log.rstrip().endswith(TRAILER)
    assert git(git_repo, "status", "--porcelain") == ""  # ao's own files stay out of the agent's commits

    transcript = agent.transcript_path(spec)
    assert transcript is not None and transcript.name == f"{spec.agent_session_id}.jsonl"
    records = wait_until(lambda: _records(transcript) if transcript.exists() else None, timeout=5)
    assert any(r.get("type") == "user" and r["message"]["content"] == spec.prompt for r in records)
    results = [b for r in records if r.get("type") == "user" and isinstance(r["message"]["content"], list)
               for b in r["message"]["content"] if b.get("type") == "tool_result"]
    assert {b["tool_use_id"] for b in results} == {"toolu_write", "toolu_commit"}

    events = wait_until(lambda: [json.loads(x) for x in spec.events_file.read_text().splitlines()]
                        if spec.events_file.exists() else None, timeout=10)
    names = [e["event"] for e in events]
    for expected in ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse"):
        assert expected in names
    assert {e["ao_session"] for e in events} == {"real-1"}
    assert any(e["event"] == "PreToolUse" and e.get("tool_name") == "Bash" for e in events)
    # the system prompt carried the rules
    assert TRAILER in json.dumps(api.main_requests[0].get("system"))


def test_default_mode_stops_at_the_permission_prompt_and_restore_resumes_the_conversation(
    tmp_path: Path, git_repo: Path, tmux_socket: str
) -> None:
    with AnthropicServer() as api:
        api.script.on_prompt(
            "notes.md",
            tool_use("Write", {"file_path": str(git_repo / "notes.md"), "content": "# notes\n"}, id="toolu_notes"),
        )
        api.script.on_tool_result("toolu_notes", text("done"))
        api.script.on_prompt("anything else", text("Nothing else, all done."))
        agent = ClaudeCodeAgent(PluginContext(ao_home=tmp_path))
        spec = _spec(tmp_path, git_repo, api, "Write notes.md please.", "default")
        _start(tmux_socket, "real-2", spec, agent)

        guess = wait_until(
            lambda: (g := agent.read_screen(*_screen(tmux_socket, "real-2"))) and
            g.state == ActivityState.WAITING_PERMISSION and g,
            timeout=30, message=lambda: _screen(tmux_socket, "real-2")[0],
        )
        assert guess.detail == "Do you want to create notes.md?"
        assert not (git_repo / "notes.md").exists()
        time.sleep(1.0)  # answered once read, as a person does (2.1.3xx ignores a key pressed as a dialog appears)
        subprocess.run(["tmux", "-L", tmux_socket, "send-keys", "-t", "real-2", "-l", "1"], check=True)
        wait_until(lambda: (git_repo / "notes.md").exists(), timeout=20,
                   message=lambda: _screen(tmux_socket, "real-2")[0])
        wait_until(lambda: agent.read_screen(*_screen(tmux_socket, "real-2")).state == ActivityState.IDLE,
                   timeout=20, message=lambda: _screen(tmux_socket, "real-2")[0])
        events = [json.loads(x) for x in spec.events_file.read_text().splitlines()]
        assert any(e["event"] == "PermissionRequest" and e.get("tool_name") == "Write" for e in events)

        # The pane dies (ao restarted, machine rebooted...): restore_argv brings the same conversation back.
        # (Another session keeps the tmux server up: killing its last one makes it exit, and a new
        # session asked for while it exits is refused.)
        subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "keep", "cat"], check=True, timeout=10)
        subprocess.run(["tmux", "-L", tmux_socket, "kill-session", "-t", "real-2"], check=True)
        subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "real-2b", "-x", "120", "-y", "40",
                        "-c", str(git_repo), *[f"-e{k}={v}" for k, v in agent.environment(spec).items()],
                        "--", *agent.restore_argv(spec)], check=True, timeout=10)
        wait_until(lambda: (g := agent.read_screen(*_screen(tmux_socket, "real-2b"))) and g.state == ActivityState.IDLE,
                   timeout=20, message=lambda: _screen(tmux_socket, "real-2b")[0])
        subprocess.run(["tmux", "-L", tmux_socket, "send-keys", "-t", "real-2b", "-l", "anything else?"], check=True)
        subprocess.run(["tmux", "-L", tmux_socket, "send-keys", "-t", "real-2b", "Enter"], check=True)
        wait_until(lambda: "Nothing else, all done." in _screen(tmux_socket, "real-2b")[0], timeout=20,
                   message=lambda: _screen(tmux_socket, "real-2b")[0])

    resumed = api.main_requests[-1]
    assert resumed.last_user_text.strip() == "anything else?"
    assert "toolu_notes" in resumed.tool_names_by_id()  # the earlier turn came back with it
    assert api.script.pending() == []
