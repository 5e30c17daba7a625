"""The live terminal of the focused session: a title line and ``ao_tui.tui.terminal_view.TerminalView``,
mounted just after the first frame."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from ao_tui.errors import AoError
from ao_tui.models import SessionStatus
from ao_tui.tui.text import clean, fit
from ao_tui.tui.wording import humanize, status_since


def no_terminal_text(engine: Any, session_id: str, error: Exception, now: datetime | None = None) -> str:
    """Why a session's terminal cannot be shown, in words (the engine's message names internal statuses)."""
    if "has no terminal" not in str(error):
        return humanize(str(error))
    try:
        session = engine.session(session_id)
    except Exception:
        return humanize(str(error))
    text = f"{session_id} has no running terminal ({status_since(session, now or datetime.now(UTC))})"
    if session.status not in (SessionStatus.DONE, SessionStatus.MERGED):
        text += "; r restores it"
    return text


def _terminal_view_classes() -> tuple[Any, Any]:
    """TerminalView and EngineTerminalSource, imported on first use (pyte costs ~80 ms at startup)."""
    from ao_tui.tui.terminal_source import EngineTerminalSource
    from ao_tui.tui.terminal_view import TerminalView

    class PlainWordsSource(EngineTerminalSource):
        """The engine's terminal, whose "no terminal" error is said in words."""

        clock: Any = None

        def capture(self, history: int = 0) -> str:
            try:
                return super().capture(history)
            except AoError as exc:
                now = self.clock() if self.clock else None
                raise AoError(no_terminal_text(self.engine, self.session_id, exc, now)) from exc

    return TerminalView, PlainWordsSource


class TerminalPane(Vertical):
    """Title line plus the terminal (TerminalView).

    The view is created just after the first frame, so the terminal emulator's
    import does not delay the first full screen.
    """

    input_mode: reactive[bool] = reactive(False)

    def __init__(self, engine: Any, source_factory: Callable[[str], Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        #: Makes a session's ``TerminalSource`` (default: the engine's terminal; tests give a fake one).
        self.source_factory = source_factory
        self.session_id: str | None = None
        self.pane_title = ""
        self.live = False
        self._source_class: Any = None
        self._title = Static("", id="terminal-title")
        self.view: Any = Static("", id="terminal-view")

    def compose(self) -> ComposeResult:
        yield self._title
        yield self.view

    def on_mount(self) -> None:
        self._set_title()
        self.call_after_refresh(self._create_view)

    async def _create_view(self) -> None:
        view_class, self._source_class = _terminal_view_classes()
        view: Any = view_class(id="terminal-view")
        self.live = True
        placeholder, self.view = self.view, view
        await placeholder.remove()
        await self.mount(view)
        self.set_class(self.live, "-live")
        self._title.display = not self.live
        session_id, self.session_id = self.session_id, None
        self.show(session_id)
        if self.input_mode:
            self.view.input_mode = True
            self.view.focus()

    def on_terminal_view_input_mode_changed(self, message: Any) -> None:
        """The view left typing by itself (its own ctrl+]): follow it."""
        if self.input_mode != message.value:
            self.input_mode = message.value
            if not message.value:
                self.post_message(self.LeftInput())

    def on_terminal_view_title_changed(self, message: Any) -> None:
        self.pane_title = clean(message.title)
        self._set_title()

    class LeftInput(Message):
        """Typing into the agent ended (the app puts focus back on the list)."""

    def show(self, session_id: str | None) -> None:
        if session_id == self.session_id:
            return
        self.session_id = session_id
        self.pane_title = ""
        if not self.live:
            self._set_title()
            return  # the view is not created yet; it shows this session when it is
        source = self._make_source(session_id) if session_id else None
        try:
            self.view.show(source)
        except AoError as exc:
            self.notify(str(exc), severity="warning")
        self._set_title()

    def _make_source(self, session_id: str) -> Any:
        if self.source_factory is not None:
            return self.source_factory(session_id)
        source = self._source_class(self.engine, session_id)
        source.clock = getattr(self.app, "clock", None)
        return source

    def watch_input_mode(self, value: bool) -> None:
        if getattr(self.view, "input_mode", value) != value:
            self.view.input_mode = value
        self.set_class(value, "-input")
        if value:
            self.view.focus()
        self._set_title()

    def _set_title(self) -> None:
        title = Text(" ")
        if self.session_id:
            title.append(clean(self.session_id), style="bold")
            if self.input_mode:
                title.append("  TYPING INTO AGENT", style="reverse bold")
                title.append("  ctrl+] to leave", style="dim")
            else:
                title.append("  i: type  a: attach", style="dim")
        else:
            title.append("terminal", style="dim")
        self._title.update(title, layout=False)
        if self.live:
            border = Text(clean(self.session_id or "terminal"), style="bold")
            if self.pane_title:
                border.append(f" · {fit(self.pane_title, 40)}", style="")
            if self.session_id and not self.input_mode:
                border.append("  i: type · a: attach", style="dim")
            self.view.border_title = border
