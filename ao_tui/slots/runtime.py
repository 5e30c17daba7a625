"""Runtime: where an agent process lives (a tmux session, a bare pty)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ao_tui.slots.base import Plugin


@dataclass(frozen=True)
class RuntimeStatus:
    alive: bool
    exit_code: int | None = None
    pid: int | None = None


@dataclass(frozen=True)
class PaneInfo:
    """One line of a batch listing: enough to detect activity without a capture."""

    handle: str
    title: str
    dead: bool
    exit_code: int | None
    pid: int | None
    width: int
    height: int


class Runtime(Plugin):
    slot = "runtime"

    @abstractmethod
    def create(
        self,
        handle: str,
        cwd: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        size: tuple[int, int] = (200, 50),
    ) -> str:
        """Start ``argv`` (never a shell string) in ``cwd``; return the handle.

        ``env`` is passed as data (``tmux new-session -e``), not on disk.
        The process stays inspectable after it exits (exit status kept).
        """

    @abstractmethod
    def send_text(self, handle: str, text: str, submit: bool = True) -> None:
        """Type ``text`` literally (no key names interpreted), then Enter if ``submit``.

        Must never leave a prompt typed but unsent: the implementation waits
        for the text to land before pressing Enter.
        """

    @abstractmethod
    def send_keys(self, handle: str, *keys: str) -> None:
        """Press named keys (tmux key names: Enter, Escape, C-c, Up, 1...)."""

    def send_bytes(self, handle: str, data: bytes) -> None:
        """Write raw bytes as typed by a person in the live terminal pane."""
        raise NotImplementedError

    @abstractmethod
    def capture(self, handle: str, *, escapes: bool = False, history: int = 0) -> str:
        """The visible screen (plus ``history`` lines of scrollback), with SGR escapes if asked."""

    @abstractmethod
    def status(self, handle: str) -> RuntimeStatus:
        """Alive, or exited with which status. Unknown handles are not alive."""

    @abstractmethod
    def kill(self, handle: str) -> None:
        """Stop the process and forget it. Idempotent."""

    @abstractmethod
    def list_handles(self) -> list[str]:
        """Every handle this runtime still has (live or dead-but-kept)."""

    def panes(self) -> dict[str, PaneInfo]:
        """All handles' titles and liveness in one call (for activity detection)."""
        return {}

    def server_pid(self) -> int | None:
        """A process whose end ends every handle at once (tmux's server), if the runtime has one.

        With each pane's ``PaneInfo.pid`` it lets the engine notice exits without polling.
        """
        return None

    def attach_argv(self, handle: str) -> list[str]:
        """Argument list that attaches a terminal to the session."""
        raise NotImplementedError

    def human_clients(self, handle: str) -> list[str]:
        """Terminals a person has attached to the session (their size wins over ao's)."""
        return []

    def resize(self, handle: str, width: int, height: int) -> None:
        """Follow the viewer's size. Optional."""

    async def stream(self, handle: str) -> AsyncIterator[bytes]:
        """Raw output bytes as the pane receives them, for the live terminal pane.

        Optional: without it the UI re-captures the screen on activity.
        """
        raise NotImplementedError
        yield b""  # pragma: no cover
