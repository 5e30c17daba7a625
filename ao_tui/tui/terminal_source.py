"""Where the live terminal pane gets a session's terminal from.

``TerminalView`` talks to a ``TerminalSource`` only, so it can be driven by
the engine (tmux behind ``Engine``) in the app and by a fake in tests. Every
call but ``stream`` blocks (a tmux round trip); the view calls them from a
worker thread, never from the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TerminalSource(Protocol):
    """One session's terminal: its screen, its output stream and its keyboard."""

    session_id: str

    def capture(self, history: int = 0) -> str:
        """The screen (and ``history`` lines of scrollback above it) with SGR escapes, lines split by ``\\n``."""
        ...

    def stream(self) -> AsyncIterator[bytes]:
        """Raw output bytes as the pane receives them.

        Raises ``NotImplementedError`` (when called or when first iterated)
        if the runtime cannot stream; the view then re-captures on a timer.
        """
        ...

    def send_bytes(self, data: bytes) -> None:
        """Write bytes as typed by a person."""
        ...

    def send_keys(self, *keys: str) -> None:
        """Press named keys (tmux key names)."""
        ...

    def resize(self, width: int, height: int) -> None:
        """Make the terminal ``width`` x ``height`` cells (best effort)."""
        ...


class EngineTerminalSource:
    """A session's terminal reached through ``Engine`` (and so its runtime plugin)."""

    def __init__(self, engine: Any, session_id: str) -> None:
        self.engine = engine
        self.session_id = session_id

    def __repr__(self) -> str:
        return f"EngineTerminalSource({self.session_id!r})"

    def capture(self, history: int = 0) -> str:
        return str(self.engine.peek(self.session_id, escapes=True, history=history))

    def stream(self) -> AsyncIterator[bytes]:
        return self.engine.stream(self.session_id)  # type: ignore[no-any-return]

    def send_bytes(self, data: bytes) -> None:
        self.engine.send_bytes(self.session_id, data)

    def send_keys(self, *keys: str) -> None:
        self.engine.send_keys(self.session_id, *keys)

    def resize(self, width: int, height: int) -> None:
        self.engine.resize(self.session_id, width, height)
