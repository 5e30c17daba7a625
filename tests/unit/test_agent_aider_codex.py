"""AiderAgent: argv building and screen reading; the agent plugins are registered (Codex: test_agent_codex.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_tui.errors import PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_aider import AiderAgent
from ao_tui_plugins.agent_codex import CodexAgent

SCREENS = Path(__file__).resolve().parent.parent / "fixtures" / "screens"
HOSTILE = "--yes-always\n$(rm -rf ~); `id` 'x' \"y\""


def make_spec(workspace: Path, **overrides) -> LaunchSpec:
    workspace.mkdir(parents=True, exist_ok=True)
    values = dict(session_id="app-1", agent_session_id="x", workspace=workspace, prompt="Fix the login bug",
                  model="some-model", permission_mode="default", extra_rules="Rules for this session:\n- Use tabs.")
    values.update(overrides)
    return LaunchSpec(**values)


def screen(agent: str, name: str) -> str:
    return (SCREENS / agent / f"{name}.txt").read_text()


@pytest.fixture
def aider(tmp_path: Path) -> AiderAgent:
    return AiderAgent(PluginContext(ao_home=tmp_path))


# ---------------------------------------------------------------------- aider


def test_aider_launches_at_its_prompt_with_rules_read_only_and_the_task_typed_in(aider, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("AO_AIDER_BIN", raising=False)
    ws = tmp_path / "ws"
    argv = aider.launch_argv(make_spec(ws, prompt=HOSTILE))
    assert argv[0] == "aider"
    assert argv[argv.index("--model") + 1] == "some-model"
    assert HOSTILE not in " ".join(argv) and "--message-file" not in argv  # the task is typed in, never a flag
    assert aider.types_prompt
    assert "--yes-always" not in argv and "--no-gitignore" in argv
    assert (ws / ".ao" / "rules.md").read_text().startswith("Rules for this session:")
    assert argv[argv.index("--read") + 1] == str(ws / ".ao" / "rules.md")


def test_aider_restore_reopens_the_chat_and_bypass_means_yes_always(aider, tmp_path) -> None:
    spec = make_spec(tmp_path / "ws", permission_mode="bypassPermissions", command=["/x/aider"])
    argv = aider.restore_argv(spec)
    assert argv[0] == "/x/aider"
    assert "--restore-chat-history" in argv and "--yes-always" in argv
    assert aider.transcript_path(spec) == tmp_path / "ws" / ".aider.chat.history.md"


def test_aider_plan_mode_only_asks_and_an_unknown_mode_is_refused(aider, tmp_path) -> None:
    argv = aider.launch_argv(make_spec(tmp_path / "ws", permission_mode="plan"))
    assert argv[argv.index("--chat-mode") + 1] == "ask"
    with pytest.raises(PluginError, match="unknown permission mode"):
        aider.launch_argv(make_spec(tmp_path / "ws", permission_mode="yolo"))


@pytest.mark.parametrize(
    ("name", "state", "detail"),
    [  # captured from aider 0.86.2 (tests/fixtures/screens/aider/0.86.2/)
        ("permission_create_file", ActivityState.WAITING_PERMISSION, "Create new file? (made.txt)"),
        ("idle", ActivityState.IDLE, ""),
        ("question", ActivityState.WAITING_INPUT, "Which test should I look at first: test_made or the rest?"),
        ("error", ActivityState.ERRORED, "litellm.BadRequestError: OpenAIException - Bad request from the scripted server"),
    ],
)
def test_aider_screens(aider, name, state, detail) -> None:
    guess = aider.read_screen(screen("aider/0.86.2", name))
    assert guess is not None and guess.state == state
    assert guess.detail == detail


def test_aider_unknown_screen(aider) -> None:
    assert aider.read_screen("some compiler output\nstill going") is None


def test_builtin_agent_plugins_are_registered() -> None:
    from ao_tui.registry import load
    from ao_tui_plugins.agent_claude_code import ClaudeCodeAgent

    assert load("agent", "aider") is AiderAgent
    assert load("agent", "codex") is CodexAgent
    assert load("agent", "claude-code") is ClaudeCodeAgent


def test_aider_tokens_come_from_its_chat_history(aider, tmp_path) -> None:
    spec = make_spec(tmp_path / "ws")
    assert aider.usage(spec) is None
    (tmp_path / "ws" / ".aider.chat.history.md").write_text(
        "#### Create made.txt  \n\n> Tokens: 598 sent, 14 received.  \n"
        "#### more  \n\n> Tokens: 1.2k sent, 2.0k cache hit, 31 received. Cost: $0.0031 message, $0.0042 session.  \n")
    usage = aider.usage(spec)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (1798, 45, 2000)
    assert usage.cost_usd == pytest.approx(0.0042)


def test_aider_chat_history_says_when_a_turn_starts_fails_or_goes_on(tmp_path) -> None:
    """Aider 0.86.2's own chat history of tests/functional/test_aider_real.py, appended a line at a time."""
    from ao_tui.activity.session_file import reader_for

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "events" / "aider" / "0.86.2" / "chat.history.md"
    path = tmp_path / ".aider.chat.history.md"
    path.write_bytes(b"")
    reader = reader_for(path)
    seen = []
    for line in fixture.read_text().splitlines(keepends=True):
        with path.open("a") as f:
            f.write(line)
        reader.poll()
        state, detail, _ = reader.state.verdict()
        if state is not ActivityState.UNKNOWN and (not seen or seen[-1][2] != reader.state.kind):
            seen.append((line.strip()[:20], state, reader.state.kind, detail))
    State = ActivityState
    assert [entry[:3] for entry in seen] == [
        ("# aider chat started", State.IDLE, "turn_end"),
        ("#### Create made.txt", State.WORKING, "prompt"), ("I will create it.", State.WORKING, "text"),
        ("> Create new file? (", State.WORKING, "tool_result"),  # the human answered: it goes on
        ("#### CI failed on yo", State.WORKING, "prompt"), ("Which test should I ", State.WORKING, "text"),
        ("#### break now", State.WORKING, "prompt"), ("> litellm.BadRequest", State.ERRORED, "api_error"),
        ("# aider chat started", State.IDLE, "turn_end"),  # restored
        ("#### what have you d", State.WORKING, "prompt"), ("I created made.txt a", State.WORKING, "text")]
    assert seen[7][3] == "litellm.BadRequestError: OpenAIException - Bad request from the scripted server"
    assert reader.state.last_text == "I created made.txt and committed it."
    usage = reader.state.usage
    assert (usage.input_tokens, usage.output_tokens) == (931 + 961 + 1000, 14 + 15 + 8)


def test_aider_rate_limited_while_it_retries_and_when_it_gives_up(tmp_path) -> None:
    """aider 0.86.2's chat history against the scripted server's 429: litellm's error, aider's words for it,
    "Retrying in ..." (working, the error said), until it gives up (the same two lines without a retry)."""
    from datetime import UTC, datetime, timedelta

    from ao_tui.activity.detector import ActivityDetector
    from ao_tui.activity.session_file import reader_for

    fixture = Path(__file__).resolve().parent.parent / "fixtures" / "events" / "aider" / "0.86.2"
    lines = (fixture / "rate_limited.history.md").read_text().splitlines(keepends=True)
    path = tmp_path / ".aider.chat.history.md"
    path.write_text("".join(lines))
    reader = reader_for(path)
    reader.poll()
    state, detail, _ = reader.state.verdict()
    assert state is ActivityState.WORKING and detail.startswith("litellm.RateLimitError") and detail.endswith(
        "(Retrying in 0.5 seconds...)"), detail
    gave_up = [line for line in lines if not line.startswith("> Retrying")][:-1]  # its last two lines, no retry
    path.write_text("".join(gave_up))
    reader = reader_for(path)
    reader.poll()
    now = datetime(2026, 12, 5, 7, 14, tzinfo=UTC)
    det = ActivityDetector(clock=now.timestamp)
    det.on_transcript(reader.state)
    act = det.update()
    assert act is not None and act.state is ActivityState.RATE_LIMITED and act.until == now + timedelta(seconds=20)
