"""The orchestrator chat pane, driven by Pilot against the scripted Anthropic server.

Snapshots: a reply while it streams, a finished turn with a tool call, and a
confirmation. Pilot tests: input locked while streaming, Esc stops, errors keep
what was typed, a declined merge does nothing, no key means one setup message,
triage is a key away, and the conversation is back after a restart.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Markdown, Static

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import CheckState, PullRequest, ReviewState, Session, SessionStatus
from ao_tui.orchestrator import Orchestrator
from ao_tui.orchestrator.client import ModelClient
from ao_tui.tui.chat_pane import ChatPane, ConfirmScreen
from tests.support.anthropic_server import AnthropicServer, overloaded, text, tool_use
from tests.support.gitrepo import git
from tests.tui.helpers import steady_cursors

SIZE = (100, 30)


class HeldServer(AnthropicServer):
    """Streams the first content block, then holds the stream until released."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.release = threading.Event()

    def stream_events(self, request, reply):
        for event, data in super().stream_events(request, reply):
            yield event, data
            if self.hold and event == "content_block_stop" and data["index"] == 0:
                self.release.wait(15)


@pytest.fixture
def api(monkeypatch):
    server = HeldServer().start()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-secret")
    yield server
    server.release.set()
    server.stop()


@pytest.fixture
def chat_engine(git_repo: Path, ao_home: Path):
    (git_repo / "backlog.yaml").write_text(
        "- id: T-1\n  title: Add a greeting\n- id: T-2\n  title: Greet in French\n  depends_on: [T-1]\n")
    git(git_repo, "add", "backlog.yaml")
    git(git_repo, "commit", "-qm", "backlog")
    (git_repo / "ao.config.yaml").write_text("projects:\n  demo:\n    repo: .\n    session_prefix: dm\n")
    engine = Engine(load_config(str(git_repo / "ao.config.yaml")))
    yield engine
    engine.store.close()


def mergeable(engine: Engine, sid: str = "dm-1") -> None:
    pr = PullRequest(number=12, url="local://12", title="Add a greeting", branch=f"ao/{sid}", base="main",
                     ci=CheckState.PASSED, review=ReviewState.APPROVED)
    engine.store.insert_session(Session(id=sid, project="demo", branch=f"ao/{sid}", workspace="/nonexistent",
                                        runtime_handle=sid, task_id="T-1", task_title="Add a greeting"))
    for status in (SessionStatus.WORKING, SessionStatus.PR_OPEN, SessionStatus.MERGEABLE):
        engine.store.transition(sid, status, pr=pr)


class ChatHost(App):
    """The smallest app around the pane, as the control room mounts it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        client = ModelClient(engine.config.orchestrator.model, sdk_retries=1, attempts=2, backoff=0.01, timeout=5)
        self.orchestrator = Orchestrator(engine, client=client)
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield ChatPane(self.engine, orchestrator=self.orchestrator)


async def until(pilot, predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        await pilot.pause(0.05)


def pane(app: App) -> ChatPane:
    return app.query_one(ChatPane)


def replies(app: App) -> list[str]:
    return [m.source for m in app.query(".chat-assistant").results(Markdown)]


async def say(pilot, words: str) -> None:
    await pilot.pause()
    assert await pilot.click("#chat-input")
    await pilot.press(*list(words))
    await pilot.press("enter")


# -- snapshots ---------------------------------------------------------------------


def test_snapshot_while_streaming(snap_compare, api, chat_engine):
    api.hold = True
    api.script.on_prompt("state", text("## Two things need you\n\n1. **dm-1** waits for a *permission*\n2. `dm-3` failed CI")
                         + text(" and more that has not arrived yet"))

    async def run_before(pilot) -> None:
        await say(pilot, "state?")
        await until(pilot, lambda: any("failed CI" in r for r in replies(pilot.app)))
        await pilot.pause(0.2)
        await steady_cursors(pilot)

    assert snap_compare(ChatHost(chat_engine), terminal_size=SIZE, run_before=run_before)


def test_snapshot_with_a_tool_call(snap_compare, api, chat_engine):
    api.script.on_prompt("next", text("Checking the backlog.") + tool_use("backlog", {"project": "demo"}, id="toolu_b"))
    api.script.on_tool_result("toolu_b", text("Start **T-1** now: `T-2` depends on it, so it unblocks the rest."))

    async def run_before(pilot) -> None:
        await say(pilot, "what next?")
        await until(pilot, lambda: not pane(pilot.app).streaming and len(replies(pilot.app)) == 2)
        await pilot.pause(0.2)
        await steady_cursors(pilot)

    assert snap_compare(ChatHost(chat_engine), terminal_size=SIZE, run_before=run_before)


def test_snapshot_of_a_confirmation(snap_compare, api, chat_engine):
    mergeable(chat_engine)
    api.script.on_prompt("merge", tool_use("merge", {"session_id": "dm-1"}, id="toolu_m"))

    async def run_before(pilot) -> None:
        await say(pilot, "merge it")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
        await pilot.pause(0.2)
        await steady_cursors(pilot)

    assert snap_compare(ChatHost(chat_engine), terminal_size=SIZE, run_before=run_before)


# -- behaviour ---------------------------------------------------------------------


async def test_input_is_locked_while_streaming_and_markdown_arrives_as_written(api, chat_engine):
    api.hold = True
    api.script.on_prompt("hello", text("Hello **human**,") + text(" all is well."))
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "hello")
        await until(pilot, lambda: replies(app) == ["Hello **human**,"])
        assert app.query_one("#chat-input", Input).disabled
        await pilot.press("x")  # typing into a locked input does nothing
        api.release.set()
        await until(pilot, lambda: replies(app) == ["Hello **human**, all is well."] and not pane(app).streaming)
        chat_input = app.query_one("#chat-input", Input)
        assert not chat_input.disabled and chat_input.value == "" and chat_input.has_focus


async def test_escape_stops_a_reply(api, chat_engine):
    api.script.on_prompt("essay", text(" ".join(f"w{i}" for i in range(60))).slowly(0.1))
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "essay")
        await until(pilot, lambda: any(r.startswith("w0") for r in replies(app)))
        await pilot.press("escape")
        await until(pilot, lambda: not pane(app).streaming, timeout=3)
        assert app.query(".chat-stopped")
        assert not app.query_one("#chat-input", Input).disabled
        stopped = app.orchestrator.conversation.history()[-1]["content"][0]["text"]
        assert stopped.endswith("*(stopped)*") and "w59" not in stopped


async def test_an_error_keeps_what_was_typed(api, chat_engine):
    api.script.on_prompt("status", overloaded(0.01), times=None)
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "status please")
        await until(pilot, lambda: bool(app.query(".chat-error")))
        await until(pilot, lambda: not pane(app).streaming)
        error = str(app.query_one(".chat-error", Static).render())
        assert "overloaded (529)" in error and "\n" not in error.strip()
        assert app.query_one("#chat-input", Input).value == "status please"
        assert app.orchestrator.conversation.history() == []


async def test_declining_a_merge_in_the_modal_does_nothing(api, chat_engine):
    mergeable(chat_engine)
    api.script.on_prompt("merge", tool_use("merge", {"session_id": "dm-1"}, id="toolu_m"))
    api.script.on_tool_result("toolu_m", text("Left it unmerged."), contains="declined by the human")
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "merge dm-1")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        details = str(app.screen.query_one("#confirm-details", Static).render())
        assert "merge PR #12 'Add a greeting'" in details and "ao/dm-1 into main of demo" in details
        await pilot.press("n")
        await until(pilot, lambda: not pane(app).streaming and replies(app) == ["Left it unmerged."])
        assert "declined" in str(app.query_one(".chat-tool", Static).render())
    assert chat_engine.session("dm-1").status is SessionStatus.MERGEABLE
    assert api.script.pending() == []


async def test_without_a_key_one_setup_message_and_the_rest_works(chat_engine, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    mergeable(chat_engine)
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        [setup] = app.query(".chat-setup").results(Static)
        assert "export ANTHROPIC_API_KEY=" in str(setup.render())
        await say(pilot, "hi")
        assert app.query_one("#chat-input", Input).value == "hi"  # kept, not lost
        await pilot.press("ctrl+t")
        await until(pilot, lambda: bool(app.query(".chat-triage")))
        triage = app.query_one(".chat-triage", Markdown).source
        assert "dm-1" in triage and "merge it" in triage


async def test_the_conversation_is_back_after_a_restart(api, chat_engine):
    api.script.on_prompt("codename", text("Noted: **heron**."))
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "codename heron")
        await until(pilot, lambda: replies(app) == ["Noted: **heron**."] and not pane(app).streaming)
    again = ChatHost(chat_engine)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        users = [str(w.render()) for w in again.query(".chat-user").results(Static)]
        assert users == ["codename heron"] and replies(again) == ["Noted: **heron**."]


async def test_full_screen_toggles(api, chat_engine):
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+f")
        assert app.screen.maximized is pane(app)
        await pilot.press("ctrl+f")
        assert app.screen.maximized is None


async def test_focusing_the_pane_puts_the_cursor_in_the_input(api, chat_engine):
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        pane(app).focus()
        await pilot.press(*"hi")
        assert app.query_one("#chat-input", Input).value == "hi"


async def test_hostile_text_is_shown_as_text(api, chat_engine):
    hostile = "[bold red]pwned[/] \x1b[2J\x1b]0;title\x07"
    chat_engine.store.insert_session(Session(id="dm-9", project="demo", branch="ao/dm-9", workspace="/nonexistent",
                                             runtime_handle="dm-9", task_title=hostile))
    chat_engine.store.transition("dm-9", SessionStatus.WORKING)
    api.script.on_prompt("kill", tool_use("kill", {"session_id": "dm-9"}, id="toolu_k"))
    api.script.on_tool_result("toolu_k", text("Fine: \x1b[31mnot red\x1b[0m"))
    app = ChatHost(chat_engine)
    async with app.run_test(size=SIZE) as pilot:
        await say(pilot, "kill dm-9")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        details = str(app.screen.query_one("#confirm-details", Static).render())
        assert "[bold red]pwned[/] ␛[2J␛]0;title␇" in details and "\x1b" not in details
        await pilot.press("n")
        await until(pilot, lambda: not pane(app).streaming and replies(app))
        assert replies(app) == ["Fine: ␛[31mnot red␛[0m"]
    assert chat_engine.session("dm-9").status is SessionStatus.WORKING
