"""The orchestrator chat pane: streaming Markdown replies, tool calls, confirmations.

Mount ``ChatPane(engine)`` anywhere; it loads the conversation from the store
and talks to the model through ``ao_tui.orchestrator.Orchestrator``. Keys:
Esc stops a reply, Ctrl+T shows the triage ("what needs you"), Ctrl+F
toggles full screen. ``/triage`` and ``/new`` work as typed commands.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ao_tui.orchestrator import (
    API_KEY_HELP,
    ChatError,
    ChatEvent,
    ConfirmRequest,
    Orchestrator,
    ReplyReset,
    TextDelta,
    ToolCall,
    ToolDone,
    TurnEnd,
    has_api_key,
)
from ao_tui.orchestrator.client import preload
from ao_tui.orchestrator.context import triage_markdown
from ao_tui.tui.text import clean, clean_block

if TYPE_CHECKING:
    from ao_tui.engine import Engine

CSS_FILE = Path(__file__).with_name("chat_pane.tcss")


def tool_label(name: str, args: dict[str, Any]) -> str:
    shown = json.dumps(args, ensure_ascii=False)
    if len(shown) > 90:
        shown = shown[:89] + "…"
    return clean(f"→ {name} {shown}")


class ConfirmScreen(ModalScreen[bool]):
    """Ask the human to allow one action, showing exactly what will happen."""

    BINDINGS = [
        Binding("y", "answer(True)", "Allow"),
        Binding("n,escape", "answer(False)", "Decline"),
    ]

    def __init__(self, request: ConfirmRequest) -> None:
        super().__init__(classes=f"confirm-{request.action}")
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(clean(self.request.title), id="confirm-title", markup=False)
            with VerticalScroll(id="confirm-scroll"):  # a long plan scrolls; the buttons stay
                yield Static("\n".join(f"• {clean(line)}" for line in self.request.details), id="confirm-details",
                             markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Allow (y)", id="confirm-yes", variant="warning")
                yield Button("Decline (n)", id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, allow: bool) -> None:
        self.dismiss(allow)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class ToolLine(Static):
    """One tool call, then its outcome."""

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        super().__init__(tool_label(name, args), classes="chat-tool", markup=False)
        self.label = tool_label(name, args)

    def finish(self, text: str, *, declined: bool, error: bool) -> None:
        first = clean(text.strip().splitlines()[0]) if text.strip() else ""
        if declined:
            mark, cls = "✗ declined by you", "-declined"
        elif error:
            mark, cls = f"✗ {first[:100]}", "-error"
        else:
            mark, cls = f"✓ {first[:100]}", "-ok"
        self.update(f"{self.label}\n  {mark}")
        self.add_class(cls)


class ChatPane(Vertical):
    """The orchestrator chat, ready to mount: ``ChatPane(engine)``."""

    DEFAULT_CSS = CSS_FILE.read_text(encoding="utf-8")
    ALLOW_MAXIMIZE = True
    SCOPED_CSS = False  # the file styles ConfirmScreen too; every rule names its widget
    BINDINGS = [
        Binding("escape", "stop", "Stop reply"),
        Binding("ctrl+t", "triage", "What needs me"),
        Binding("ctrl+f", "toggle_fullscreen", "Full screen"),
    ]

    streaming: reactive[bool] = reactive(False, init=False)

    class Busy(Message):
        """Posted when a reply starts or ends streaming."""

        def __init__(self, busy: bool) -> None:
            super().__init__()
            self.busy = busy

    def __init__(self, engine: Engine, *, orchestrator: Orchestrator | None = None, id: str | None = "chat-pane",
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.engine = engine
        self.orchestrator = orchestrator or Orchestrator(engine)
        self.orchestrator.set_confirm(self.confirm)
        self._reply: Markdown | None = None
        self._stream: MarkdownStream | None = None
        self._tools: dict[str, ToolLine] = {}
        self._worker: Any = None
        self._retrying = False

    def compose(self) -> ComposeResult:
        yield Static("Orchestrator", id="chat-title")
        yield VerticalScroll(id="chat-log")
        yield Static("", id="chat-status", markup=False)
        yield Input(placeholder=self.PLACEHOLDER, id="chat-input")

    @property
    def log_view(self) -> VerticalScroll:
        return self.query_one("#chat-log", VerticalScroll)

    @property
    def input(self) -> Input:
        return self.query_one("#chat-input", Input)

    def on_mount(self) -> None:
        self._load_history()
        if not has_api_key():
            self._notice(API_KEY_HELP, "chat-setup")
        else:  # the chat is open: import the SDK off the UI thread before the first message
            self.run_worker(preload, thread=True, group="preload", exit_on_error=False)

    # -- showing things ----------------------------------------------------------

    def _load_history(self) -> None:
        widgets: list[Widget] = []
        pending_tools: dict[str, ToolLine] = {}
        for message in self.orchestrator.conversation.history()[-80:]:
            for block in message["content"]:
                kind = block.get("type")
                if kind == "text" and block.get("text", "").strip():
                    if message["role"] == "user":
                        widgets.append(Static(clean_block(block["text"]), classes="chat-user", markup=False))
                    else:
                        widgets.append(Markdown(clean_block(block["text"]), classes="chat-assistant"))
                elif kind == "tool_use":
                    line = ToolLine(block.get("name", "?"), block.get("input") or {})
                    pending_tools[block.get("id", "")] = line
                    widgets.append(line)
                elif kind == "tool_result" and block.get("tool_use_id") in pending_tools:
                    content = block.get("content")
                    text = content if isinstance(content, str) else json.dumps(content)
                    line = pending_tools[block["tool_use_id"]]
                    line.finish(text, declined=text.startswith("declined by the human"), error=bool(block.get("is_error")))
        if widgets:
            self.log_view.mount_all(widgets)
            self.log_view.scroll_end(animate=False)

    def _notice(self, text: str, cls: str = "chat-notice") -> Static:
        widget = Static(clean_block(text), classes=cls, markup=False)
        self.log_view.mount(widget)
        self.log_view.scroll_end(animate=False)
        return widget

    def _status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(text)

    PLACEHOLDER = "Ask the orchestrator…  Enter sends · Esc stops · Ctrl+T what needs me"

    def watch_streaming(self, streaming: bool) -> None:
        self.input.disabled = streaming
        self.input.placeholder = "the orchestrator is writing… Esc stops it" if streaming else self.PLACEHOLDER
        self.set_class(streaming, "-streaming")
        self._status("● writing… Esc stops" if streaming else "")
        if not streaming:
            self.input.focus()
        else:
            self.log_view.focus()
        self.post_message(self.Busy(streaming))

    async def _end_reply(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self._reply = None

    async def on_chat_event(self, event: ChatEvent) -> None:
        """Render one event from the orchestrator as it happens."""
        if isinstance(event, TextDelta):
            if self._retrying:
                self._retrying = False
                self._status("● writing… Esc stops")
            if self._reply is None:
                self._reply = Markdown("", classes="chat-assistant")
                await self.log_view.mount(self._reply)
                self._stream = Markdown.get_stream(self._reply)
            assert self._stream is not None
            await self._stream.write(clean_block(event.text))
            self.log_view.scroll_end(animate=False)
        elif isinstance(event, ToolCall):
            await self._end_reply()
            line = ToolLine(event.name, event.input)
            self._tools[event.id] = line
            await self.log_view.mount(line)
            self.log_view.scroll_end(animate=False)
        elif isinstance(event, ToolDone):
            done = self._tools.pop(event.id, None)
            if done is not None:
                done.finish(event.outcome.text, declined=event.outcome.declined, error=event.outcome.is_error)
        elif isinstance(event, ReplyReset):
            if self._reply is not None:
                reply = self._reply
                await self._end_reply()
                await reply.remove()
            self._retrying = True
            self._status(f"↻ {event.retry.reason}; retry {event.retry.attempt} of {event.retry.attempts - 1}"
                         f" in {event.retry.delay:.0f}s")
        elif isinstance(event, TurnEnd):
            await self._end_reply()
            if event.stopped:
                self._notice("stopped", "chat-stopped")

    # -- the turn ------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.send(event.value)

    def send(self, text: str) -> None:
        """Send ``text`` as the human's message (what Enter does)."""
        text = text.strip()
        if not text or self.streaming:
            return
        if text == "/triage":
            self.input.value = ""
            self.action_triage()
            return
        if text == "/new":
            self.input.value = ""
            self.orchestrator.conversation.clear()
            self.log_view.remove_children()
            self._notice("new conversation")
            return
        if not has_api_key():
            self._notice(API_KEY_HELP, "chat-setup")
            return  # the text stays in the input
        self.input.value = ""
        self.log_view.mount(Static(clean_block(text), classes="chat-user", markup=False))
        self.log_view.scroll_end(animate=False)
        self.streaming = True
        self._worker = self.run_worker(self._turn(text), exclusive=True, group="chat", exit_on_error=False)

    async def _turn(self, text: str) -> None:
        try:
            await self.orchestrator.ask(text, self.on_chat_event)
            self._status("")
        except ChatError as exc:
            await self._end_reply()
            self._notice(f"✗ {exc}", "chat-error")
            if exc.kept:
                self._status("the conversation so far is kept; ask again to go on")
            else:
                if not self.input.value:
                    self.input.value = text  # nothing typed is lost
                    self.input.cursor_position = len(text)
                self._status("your message is back in the input: Enter sends it again")
        except asyncio.CancelledError:
            await self._end_reply()
            raise
        finally:
            self._tools.clear()
            self.streaming = False

    # -- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":
            return self.streaming  # otherwise Esc goes on to the app
        return True

    def action_stop(self) -> None:
        if self._worker is not None and self.streaming:
            self._worker.cancel()

    def action_triage(self) -> None:
        """Show what needs the human, in order, and why (no model needed)."""
        self.run_worker(self._triage(), group="triage")

    async def _triage(self) -> None:
        try:
            text = await asyncio.to_thread(triage_markdown, self.engine)
        except Exception as exc:
            text = f"triage unavailable: {exc}"
        await self.log_view.mount(Markdown(text, classes="chat-triage"))
        self.log_view.scroll_end(animate=False)

    def focus_input(self) -> None:
        """Put the cursor in the chat input (e.g. when the app shows the pane)."""
        self.input.focus()

    def focus(self, scroll_visible: bool = True) -> ChatPane:
        """Focusing the pane focuses its input (or its log while a reply streams).

        Safe right after ``mount`` too: before the pane is composed the focus waits for it.
        """
        found = self.query("#chat-log" if self.streaming else "#chat-input")
        if found:
            found.first().focus(scroll_visible)
        else:
            self.call_after_refresh(self.focus, scroll_visible)
        return self

    def action_toggle_fullscreen(self) -> None:
        screen = self.screen
        if screen.maximized is self:
            screen.minimize()
        else:
            screen.maximized = self

    async def confirm(self, request: ConfirmRequest) -> bool:
        """Ask the human with a modal; used by the orchestrator's world-changing tools."""
        self._status(f"? {clean(request.title)}")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(allow: bool | None) -> None:
            if not future.done():
                future.set_result(bool(allow))

        self.app.push_screen(ConfirmScreen(request), callback=answered)
        try:
            return await future
        finally:
            self._status("● writing… Esc stops" if self.streaming else "")
