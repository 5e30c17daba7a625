"""GeminiAgent: argv, its per-session home (the user's settings plus ao's hooks), its hooks and chat, its screens.

Screens and events are captures of Gemini CLI 0.61.0 (tests/fixtures/*/gemini/0.61.0/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.activity.detector import ActivityDetector
from ao_tui.activity.transcript import TranscriptReader
from ao_tui.errors import PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_gemini import GeminiAgent, message_unsent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCREENS = FIXTURES / "screens" / "gemini" / "0.61.0"
EVENTS = FIXTURES / "events" / "gemini" / "0.61.0"
SID = "3f0e8f9a-1111-4222-8333-444455556666"


def make_spec(tmp_path: Path, **overrides) -> LaunchSpec:
    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    values = dict(session_id="gm-1", agent_session_id=SID, workspace=workspace, prompt="Fix the login bug",
                  model="gemini-2.5-pro", permission_mode="default", extra_rules="Rules for this session:\n- Use tabs.",
                  events_file=tmp_path / "sessions" / "gm-1" / "hook-events.jsonl")
    values.update(overrides)
    return LaunchSpec(**values)


@pytest.fixture
def gemini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GeminiAgent:
    monkeypatch.delenv("AO_GEMINI_BIN", raising=False)
    monkeypatch.delenv("GEMINI_CLI_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return GeminiAgent(PluginContext(ao_home=tmp_path))


def test_launch_and_restore(gemini, tmp_path) -> None:
    spec = make_spec(tmp_path, prompt="-y $(id)")
    argv = gemini.launch_argv(spec)
    assert argv[:3] == ["gemini", "--session-id", SID]
    assert argv[argv.index("--model") + 1] == "gemini-2.5-pro"
    assert argv[argv.index("--approval-mode") + 1] == "default" and "--skip-trust" in argv
    assert argv[-2] == "--prompt-interactive"
    assert argv[-1].startswith("Rules for this session:") and argv[-1].endswith("-y $(id)")
    assert gemini.restore_argv(spec)[:3] == ["gemini", "--resume", SID]
    modes = {m: gemini.launch_argv(make_spec(tmp_path, permission_mode=m)) for m in ("acceptEdits", "plan",
                                                                                     "bypassPermissions")}
    assert [a[a.index("--approval-mode") + 1] for a in modes.values()] == ["auto_edit", "plan", "yolo"]
    with pytest.raises(PluginError):
        gemini.launch_argv(make_spec(tmp_path, agent_session_id="not-a-uuid"))


def test_session_home_keeps_the_users_settings_and_links_their_login(gemini, tmp_path) -> None:
    user = tmp_path / "home" / ".gemini"
    user.mkdir(parents=True)
    (user / "settings.json").write_text(json.dumps({"ui": {"theme": "Dracula"}, "hooks": {
        "AfterTool": [{"matcher": "x", "hooks": [{"type": "command", "command": "mine"}]}]}}))
    (user / "oauth_creds.json").write_text("{}")
    spec = make_spec(tmp_path)
    gemini.prepare_workspace(spec)
    gemini.prepare_workspace(spec)  # twice: nothing doubled
    home = gemini.home(spec)
    settings = json.loads((home / ".gemini" / "settings.json").read_text())
    assert settings["ui"] == {"theme": "Dracula"}
    after = settings["hooks"]["AfterTool"]
    assert after[0]["hooks"][0]["command"] == "mine" and len(after) == 2
    assert "ao_tui/activity/hook.py" in after[1]["hooks"][0]["command"] and after[1]["matcher"] == ".*"
    assert (home / ".gemini" / "oauth_creds.json").resolve() == (user / "oauth_creds.json").resolve()
    assert json.loads((user / "settings.json").read_text())["hooks"]["AfterTool"][0]["hooks"][0]["command"] == "mine"
    assert gemini.environment(spec)["GEMINI_CLI_HOME"] == str(home)


def test_its_hooks_drive_the_states() -> None:
    """The payloads Gemini CLI sent, through ao's detector: working, permission, working, idle."""
    clock = [1_800_000_000.0]
    det = ActivityDetector(clock=lambda: clock[0], settle=0.0)
    states = []
    for line in (EVENTS / "hooks.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        clock[0] += 1
        det.on_hook({"at": clock[0], **event})
        det.update()
        states.append((event["hook_event_name"], det.activity.state))
    names = [n for n, _ in states]
    assert names[:6] == ["SessionStart", "BeforeAgent", "BeforeTool", "Notification", "AfterTool", "AfterAgent"]
    assert states[1][1] is ActivityState.WORKING and states[2][1] is ActivityState.RUNNING_TOOL
    assert states[3][1] is ActivityState.WAITING_PERMISSION and det.hook is not None
    assert states[5][1] is ActivityState.IDLE


def test_its_chat_gives_tokens_model_and_last_words(tmp_path) -> None:
    reader = TranscriptReader(EVENTS / "chat.jsonl")
    reader.poll()
    st = reader.state
    assert st.usage.input_tokens > 0 and st.usage.output_tokens > 0 and st.usage.cost_usd > 0
    assert st.model == "gemini-2.5-pro" and st.last_text == "Thinking hard."


@pytest.mark.parametrize(("name", "state", "detail"), [
    ("permission_shell", ActivityState.WAITING_PERMISSION, "Allow execution of [Shell]?"),
    ("working", ActivityState.WORKING, "esc to cancel"),
    ("idle_after_tool", ActivityState.IDLE, ""),
    ("idle", ActivityState.IDLE, ""),
])
def test_screens(gemini, name, state, detail) -> None:
    guess = gemini.read_screen((SCREENS / f"{name}.txt").read_text())
    assert guess is not None and guess.state is state and detail in guess.detail


def test_a_message_left_in_the_input_box_is_told_from_a_sent_one() -> None:
    """unsent_after_resume.txt is the screen CI saw when an Enter landed inside the paste after a resume."""
    unsent = (SCREENS / "unsent_after_resume.txt").read_text()
    assert message_unsent(unsent, "what have you done so far?")
    # Sent: the same words sit in the history above the box, which shows its placeholder again.
    sent = unsent.replace(" > what have you done so far\n", " > what have you done so far?\n\n >   Type your message or @path/to/file\n")
    assert not message_unsent(sent, "what have you done so far?")
    assert not message_unsent((SCREENS / "idle.txt").read_text(), "Fix the login bug")
    assert not message_unsent(unsent, "something else entirely")
