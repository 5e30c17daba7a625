"""The live terminal pane: a session's real terminal, drawn from a pyte screen.

How it stays live without falling behind:

* ``show(source)`` sizes the pane to the widget and captures its screen
  (``capture-pane -e``) at once, then subscribes to ``source.stream()`` (tmux's
  raw output) and fetches the scrollback in the background. Bytes that arrive
  while a capture is in flight are dropped: the capture holds them.
* Output is parsed on the event loop in slices of a few milliseconds, so a key
  press never waits long. When parsing falls more than ``MAX_LAG`` behind
  (pyte parses well under 1 MB/s, tmux produces over 30 MB/s) the backlog is
  dropped and the view goes into flood mode: the stream is closed and tmux's
  screen is captured every ``FLOOD_INTERVAL`` until the stream calms down.
  Intermediate frames are skipped; the screen stays within about 100 ms of tmux.
* A capture cannot say where the cursor is, so after output stops (and every
  ``CHECK_EVERY`` seconds of output that never stops, every ``RESYNC_EVERY``
  once bytes were dropped) the screen is re-captured and corrected. A stream that fails (the session is
  still spawning, or was restored) is retried.

Drawing uses the Line API: one Strip per screen row, rebuilt only for rows pyte
marks dirty; a full-screen scroll shifts the cached rows instead of dirtying
them all. Lines that scroll off the top go into a scrollback the user can read
(mouse wheel, shift+pgup) while the agent works; the view stays put until the
user returns to the bottom. Text from the terminal only ever becomes Segments
(never markup), and title/OSC sequences are consumed by pyte, never forwarded to
the host terminal.

The parts: ``terminal_screen`` (the pyte screen with scrollback, screens from captures),
``terminal_style`` (cells and SGR escapes as Rich segments), ``terminal_keys`` (keys as the
bytes a terminal sends). This module is the widget: following the source, and drawing rows
(``render_line``) from strips kept in Textual's LRU caches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

import pyte
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.selection import Selection
from textual.strip import Strip

from ao_tui.tui.terminal_keys import key_to_bytes
from ao_tui.tui.terminal_screen import ScrollbackScreen, screen_from_capture, seeded_screen
from ao_tui.tui.terminal_source import TerminalSource
from ao_tui.tui.terminal_style import CONTROLS, highlight, line_segments, line_text
from ao_tui.tui.text import clean

log = logging.getLogger("ao.tui.terminal")


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("terminal task %s failed", task.get_name(), exc_info=task.exception())


# -- the widget -----------------------------------------------------------------------


class TerminalView(ScrollView, can_focus=True):
    """A session's live terminal: colours, scrollback, selection, typing."""

    DEFAULT_CSS = Path(__file__).with_name("terminal_view.tcss").read_text(encoding="utf-8")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+right_square_bracket", "leave_input", "Leave typing", show=False, priority=True),
        Binding("shift+pageup", "page_up", "Scroll back", show=False),
        Binding("shift+pagedown", "page_down", "Scroll forward", show=False),
        Binding("y", "copy_screen", "Copy screen", show=False),
    ]

    #: Keys that scroll the view even while typing into the agent.
    SCROLL_KEYS: ClassVar[dict[str, str]] = {"shift+pageup": "page_up", "shift+pagedown": "page_down",
                                              "shift+up": "scroll_up", "shift+down": "scroll_down"}
    HISTORY_LINES: ClassVar[int] = 5000
    SEED_HISTORY: ClassVar[int] = 1000  # scrollback lines fetched when a session is shown
    MAX_LAG: ClassVar[float] = 0.05  # drop the backlog and re-capture past this
    SLICE: ClassVar[float] = 0.006  # parse at most this long before yielding to the UI
    RESYNC_MIN_INTERVAL: ClassVar[float] = 0.03
    SETTLE: ClassVar[float] = 0.3  # quiet time after which the screen is checked against tmux
    RESYNC_EVERY: ClassVar[float] = 1.0
    CHECK_EVERY: ClassVar[float] = 2.0
    POLL_EVERY: ClassVar[float] = 0.3  # capture interval for runtimes that cannot stream
    RESIZE_DEBOUNCE: ClassVar[float] = 0.15
    FLOOD_INTERVAL: ClassVar[float] = 0.025  # capture period while output outruns the parser
    FLOOD_HOLD: ClassVar[float] = 1.0  # first look at the stream again after this long in a flood
    FLOOD_MAX_HOLD: ClassVar[float] = 4.0  # looks grow apart up to this
    FLOOD_PROBE: ClassVar[float] = 0.3  # how long a look lasts
    FLOOD_EXIT_RATE: ClassVar[float] = 100_000.0  # bytes/s under which the stream is parsed again

    input_mode: reactive[bool] = reactive(False)
    #: How the key that leaves input mode is shown (set it when the host remaps it).
    leave_key: str = "ctrl+]"

    class InputModeChanged(Message):
        """Typing into the agent was switched on or off."""

        def __init__(self, view: TerminalView, value: bool) -> None:
            super().__init__()
            self.view = view
            self.value = value

    class TitleChanged(Message):
        """The program in the terminal set its title (OSC 0/2); never echoed to the host."""

        def __init__(self, view: TerminalView, title: str) -> None:
            super().__init__()
            self.view = view
            self.title = title

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source: TerminalSource | None = None
        self._term_size = (80, 24)
        self._screen = ScrollbackScreen(*self._term_size, self.HISTORY_LINES)
        self._stream = pyte.ByteStream(self._screen)
        self._rows: list[Strip | None] = [None] * self._screen.lines
        # Strips kept for drawing, least recently drawn dropped first (sized to the screen: _size_caches).
        #: scrollback line (absolute number) -> its strip
        self._history_strips: LRUCache[int, Strip] = LRUCache(self._cache_rows())
        self._message: str | None = "No session selected."
        self._generation = 0
        self._pending: deque[tuple[float, bytes]] = deque()  # (arrival time, output)
        self._resync_wanted: tuple[int, bool] | None = None
        self._wake = asyncio.Event()
        self._capturing = False
        self._flooding = False
        self._flood_over = asyncio.Event()
        self._probing = False
        self._probe_bytes = 0
        #: a screen row's content -> its strip (shared by equal rows: re-captures, repeated lines). Its keys hold
        #: the row's pyte cells (~28 KB a 160-column row once the screen is gone): two screens' worth, the one
        #: shown and the next capture of it, and only the session on view's (see bench_terminal_memory.py).
        self._strip_cache: LRUCache[tuple[Any, ...], Strip] = LRUCache(2 * self._screen.lines)
        #: row -> (its content strip, the width, the strip drawn: offsets and cropped to the width)
        self._rendered: LRUCache[int, tuple[Strip, int, Strip]] = LRUCache(self._cache_rows())
        self._suspect = False
        self._last_output = 0.0
        self._last_capture = 0.0
        self._output_since_capture = False
        self._follow = True
        self._cursor_row: int | None = None
        self._outbox: list[bytes] = []
        self._sending = False
        self._resize_timer: Any = None
        self._sized = asyncio.Event()  # set once the widget has a real size
        self._base_style: Style | None = None
        self._workers: list[Any] = []
        self.pane_title = ""
        #: Figures for tests and the benchmark.
        self.stats = {"bytes": 0, "dropped": 0, "resyncs": 0, "rows_built": 0, "lines_painted": 0}

    # -- public API ----------------------------------------------------------------

    def show(self, source: TerminalSource | None) -> None:
        """Switch to ``source``'s terminal (``None`` shows nothing).

        The visible screen is captured right here (one tmux round trip), so
        the pane never shows a stale or blank frame; scrollback and the live
        stream follow in the background.
        """
        self._stop_following()
        self.source = source
        self._strip_cache.clear()  # another session's rows: no use to this one's
        self._generation += 1
        self._follow = True
        self.pane_title = ""
        self._update_subtitle()  # typing names the session it goes to
        switching_live = source is not None and self.is_mounted and self._sized.is_set()
        if not switching_live:
            self._install(ScrollbackScreen(*self._term_size, self.HISTORY_LINES), keep_history=False)
        if source is None:
            self._message = "No session selected."
            self.input_mode = False
            self.refresh()
            return
        self._message = None
        if not self.is_mounted:
            return  # on_mount starts following
        if not switching_live:
            self._start_following(source, self._generation)
            return
        # The previous screen stays up for the one tmux round trip it takes to capture this one
        # (off the event loop: keys in the list must not wait for tmux), never a blank frame.
        task = asyncio.get_running_loop().create_task(self._first_screen(source, self._generation),
                                                      name=f"terminal-show-{source.session_id}")
        task.add_done_callback(_log_failure)
        self._workers = [task]

    async def _first_screen(self, source: TerminalSource, generation: int) -> None:
        """Size the pane to the widget, capture its screen, show it, then follow its output."""
        columns, lines = self._term_size

        def size_and_capture() -> ScrollbackScreen:
            try:
                source.resize(columns, lines)  # the pane takes the widget's size first
            except Exception as exc:
                log.debug("resize of %s failed: %s", source, exc)
            return self._capture_screen(source, 0, columns, lines)

        try:
            screen = await asyncio.to_thread(size_and_capture)
        except Exception as exc:
            if generation == self._generation:
                self._install(ScrollbackScreen(*self._term_size, self.HISTORY_LINES), keep_history=False)
                self._show_error(exc)
        else:
            if generation == self._generation:
                self.stats["resyncs"] += 1
                self._last_capture = time.monotonic()
                if (columns, lines) != self._term_size:  # resized meanwhile: the stream's resync corrects it,
                    screen.resize(self._term_size[1], self._term_size[0])  # till then this screen, not a blank one
                self._install(screen, keep_history=False)
        if generation == self._generation:
            self._start_following(source, generation)

    @property
    def screen_model(self) -> ScrollbackScreen:
        return self._screen

    @property
    def following(self) -> bool:
        """Whether the view sticks to the bottom (False while the user reads scrollback)."""
        return self._follow

    def screen_lines(self) -> list[str]:
        """The terminal's visible screen as text, one string a row (trailing blanks kept)."""
        screen = self._screen
        return [line_text(screen.buffer[y], screen.columns) for y in range(screen.lines)]

    def screen_text(self) -> str:
        """The visible terminal screen as text, trailing blanks and blank last rows trimmed."""
        lines = [line.rstrip() for line in self.screen_lines()]
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines)

    def history_lines(self) -> list[str]:
        screen = self._screen
        return [text for text, _ in screen.history]

    def visible_text(self) -> str:
        """What the pane shows right now (scrollback included when scrolled back)."""
        first = round(self.scroll_y)
        rows = [self._row_text(first + y).rstrip() for y in range(self.scrollable_content_region.height)]
        while rows and not rows[-1]:
            rows.pop()
        return "\n".join(rows)

    def feed(self, data: bytes) -> None:
        """Apply output bytes now (what the stream does; for tests and fakes)."""
        self._feed_now(bytes(data))

    def send(self, data: bytes) -> None:
        """Type ``data`` into the terminal (in order, coalesced, off the event loop)."""
        if self.source is None or not data:
            return
        self._outbox.append(data)
        if not self._sending:
            self._sending = True
            self.run_worker(self._drain_outbox(self.source), group="terminal-send")

    # -- following the source -----------------------------------------------------------

    def on_mount(self) -> None:
        self._base_style = None
        if self.source is not None and not self._workers:
            self._start_following(self.source, self._generation)

    async def on_unmount(self) -> None:
        tasks = list(self._workers)
        self._stop_following()
        if tasks:  # let the stream close its tmux client while the loop still runs
            await asyncio.wait(tasks, timeout=2.0)

    def _start_following(self, source: TerminalSource, generation: int) -> None:
        # Plain tasks, not Textual workers: they live as long as the session is on
        # view, and ``app.workers.wait_for_complete()`` must not wait for them.
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._read(source, generation), name=f"terminal-read-{source.session_id}"),
            loop.create_task(self._parse(source, generation), name=f"terminal-parse-{source.session_id}"),
        ]
        for task in self._workers:
            task.add_done_callback(_log_failure)

    def _stop_following(self) -> None:
        for task in self._workers:
            task.cancel()
        self._workers = []
        self._pending.clear()
        self._resync_wanted = None
        self._capturing = False
        self._flooding = False
        self._probing = False
        self._flood_over.set()
        self._suspect = False

    async def _read(self, source: TerminalSource, generation: int) -> None:
        """Collect raw output; fall back to polling captures if the runtime cannot stream.

        During a flood the stream is closed (a control-mode client that cannot
        keep up slows tmux itself down) and reopened when the flood loop hands
        back. A stream that fails or ends (the session is not up yet, exited,
        was restored) is retried with a growing pause, re-capturing each time.
        """
        history = self.SEED_HISTORY
        failures = 0
        while generation == self._generation:
            stream: Any = None
            first: asyncio.Future[bytes] | None = None
            pause = 0.0
            try:
                stream = source.stream()
                iterator = stream.__aiter__()
                first = asyncio.ensure_future(iterator.__anext__())
                await asyncio.sleep(0)  # subscribe before the capture
                if self._sized.is_set():
                    await self._resize_source(source)
                self._request_resync(history=history)
                chunk = await first
                history, failures = 0, 0
                while generation == self._generation:
                    self._take(chunk)
                    if self._flooding and not self._probing:
                        break
                    chunk = await iterator.__anext__()
            except (NotImplementedError, AttributeError, TypeError):
                self._request_resync(history=history)
                await self._poll(source, generation)
                return
            except StopAsyncIteration:  # the pane went away: show its last screen, look again later
                self._request_resync(history=0)
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not there yet, or a runtime error: never kill the UI
                log.debug("terminal stream of %s failed: %s", source, exc)
                failures += 1
                self._request_resync(history=history)
                pause = min(2.0, 0.2 * 2 ** failures)
            finally:
                if first is not None and not first.done():
                    first.cancel()
                elif first is not None and not first.cancelled():
                    first.exception()  # retrieved: a failure already handled (or cancelled past) is not logged again
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        pass
            if pause:
                await asyncio.sleep(pause)
            else:
                await self._flood_over.wait()

    async def _resize_source(self, source: TerminalSource) -> None:
        try:
            await asyncio.to_thread(source.resize, *self._term_size)
        except Exception as exc:
            log.debug("resize of %s failed: %s", source, exc)

    def _take(self, chunk: bytes) -> None:
        self.stats["bytes"] += len(chunk)
        now = time.monotonic()
        self._last_output = now
        if self._flooding:  # frames are skipped: the next capture shows where tmux is
            self.stats["dropped"] += len(chunk)
            self._probe_bytes += len(chunk)
            return
        if self._capturing:
            self.stats["dropped"] += len(chunk)
            self._suspect = True
            return
        self._pending.append((now, chunk))
        self._wake.set()

    async def _poll(self, source: TerminalSource, generation: int) -> None:
        while generation == self._generation:
            await asyncio.sleep(self.POLL_EVERY)
            self._request_resync(history=0, only_if_changed=True)

    def _request_resync(self, history: int, only_if_changed: bool = False) -> None:
        self._resync_wanted = (history, only_if_changed)
        self._wake.set()

    async def _parse(self, source: TerminalSource, generation: int) -> None:
        """The one task that changes the screen: parses output in slices, resyncs when behind."""
        while generation == self._generation:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.SETTLE)
            except TimeoutError:
                self._settle_check()
                continue
            self._wake.clear()
            if self._resync_wanted is not None:
                history, only_if_changed = self._resync_wanted
                self._resync_wanted = None
                await self._resync(source, generation, history, only_if_changed=only_if_changed)
                continue
            while self._flooding and generation == self._generation:
                await self._follow_flood(source, generation)
            while self._pending and generation == self._generation:
                if time.monotonic() - self._pending[0][0] > self.MAX_LAG:
                    self._flooding = True  # skip frames: tmux has the answer
                    self._flood_over.clear()
                    self.stats["dropped"] += sum(len(chunk) for _, chunk in self._pending)
                    self._pending.clear()
                    self._wake.set()
                    break
                started = time.monotonic()
                while self._pending and time.monotonic() - started < self.SLICE:
                    arrived, chunk = self._pending.popleft()
                    if len(chunk) > 1024:
                        self._pending.appendleft((arrived, chunk[1024:]))
                        chunk = chunk[:1024]
                    self._feed_now(chunk, refresh=False)
                self._apply_changes()
                await asyncio.sleep(0)
            now = time.monotonic()
            if self._suspect and now - self._last_capture > self.RESYNC_EVERY:
                await self._resync(source, generation, 0)
            elif self._output_since_capture and now - self._last_capture > self.CHECK_EVERY:
                # Output that never pauses (a spinner): check the screen against tmux now
                # and then, in case the cursor guessed at the last capture was wrong.
                await self._resync(source, generation, 0, only_if_changed=True)

    async def _follow_flood(self, source: TerminalSource, generation: int) -> None:
        """Output faster than pyte can parse: show tmux's screen every FLOOD_INTERVAL instead.

        The stream stays closed. Now and then (after FLOOD_HOLD, then less
        and less often) it is opened again for FLOOD_PROBE seconds while the
        captures go on: if it still brings more than FLOOD_EXIT_RATE bytes/s it
        is closed again, else the flood is over and parsing resumes from a
        fresh capture. The screen never waits for the stream to prove itself.
        """
        columns, lines = self._term_size
        newest = [0.0]  # when the capture on screen was asked for
        last_text = [""]
        done = asyncio.Event()

        def capture() -> tuple[str, ScrollbackScreen | None]:
            text = source.capture(history=0)
            if text == last_text[0]:
                return text, None
            return text, screen_from_capture(text, columns, lines, self.HISTORY_LINES, visible_only=True)

        async def capture_loop(delay: float) -> None:
            # Two loops half a period apart: a capture round trip takes longer than the period.
            await asyncio.sleep(delay)
            while generation == self._generation and not done.is_set():
                started = time.monotonic()
                try:
                    text, screen = await asyncio.to_thread(capture)
                except Exception as exc:
                    if generation == self._generation:
                        self._show_error(exc)
                    done.set()
                    return
                if generation != self._generation or (columns, lines) != self._term_size:
                    done.set()
                    return
                if started > newest[0] and not done.is_set():
                    newest[0] = started
                    self._last_capture = time.monotonic()
                    last_text[0] = text
                    if screen is not None:
                        self.stats["resyncs"] += 1
                        screen.title = self._screen.title
                        self._message = None
                        self._install(screen, keep_history=True)
                await asyncio.sleep(max(0.0, 2 * self.FLOOD_INTERVAL - (time.monotonic() - started)))

        async def probe_loop() -> None:
            hold = self.FLOOD_HOLD
            while generation == self._generation and not done.is_set():
                try:
                    await asyncio.wait_for(done.wait(), timeout=hold)
                    return
                except TimeoutError:
                    pass
                self._probe_bytes = 0
                self._probing = True
                self._flood_over.set()  # the reader opens the stream again
                await asyncio.sleep(self.FLOOD_PROBE)
                self._probing = False
                if self._probe_bytes / self.FLOOD_PROBE < self.FLOOD_EXIT_RATE:
                    done.set()
                    return
                self._flood_over.clear()  # still flooding: the reader lets go of the stream
                hold = min(2 * hold, self.FLOOD_MAX_HOLD)

        await asyncio.gather(capture_loop(0.0), capture_loop(self.FLOOD_INTERVAL), probe_loop())
        self._flooding = False
        self._probing = False
        self._suspect = True
        self._flood_over.set()
        if generation == self._generation:
            await self._resync(source, generation, 0)  # parsing resumes from here

    def _settle_check(self) -> None:
        """After a quiet spell, make sure the screen matches tmux (cursor, dropped bytes)."""
        if self._output_since_capture or self._suspect:
            history = self.SEED_HISTORY if self._follow and self._suspect else 0
            self._request_resync(history=history, only_if_changed=True)

    async def _resync(self, source: TerminalSource, generation: int, history: int,
                      *, only_if_changed: bool = False) -> None:
        if not self._sized.is_set():  # capture at the size the pane will have
            try:
                await asyncio.wait_for(self._sized.wait(), timeout=0.3)
            except TimeoutError:
                pass
        wait = self._last_capture + self.RESYNC_MIN_INTERVAL - time.monotonic()
        self._capturing = True
        self.stats["dropped"] += sum(len(chunk) for _, chunk in self._pending)
        self._pending.clear()
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            columns, lines = self._term_size
            try:
                screen = await asyncio.to_thread(self._capture_screen, source, history, columns, lines)
            except Exception as exc:
                if generation == self._generation:
                    self._show_error(exc)
                return
        finally:
            if generation == self._generation:
                self._capturing = False
                self._last_capture = time.monotonic()
        if generation != self._generation:
            return
        self.stats["resyncs"] += 1
        self._message = None
        self._output_since_capture = False
        self._suspect = False
        if only_if_changed and not history and self._same_screen(screen):
            return
        screen.title = self._screen.title or screen.title
        self._install(screen, keep_history=history == 0)

    def _capture_screen(self, source: TerminalSource, history: int, columns: int, lines: int) -> ScrollbackScreen:
        if history <= 0:
            text = source.capture(history=0)
            return screen_from_capture(text, columns, lines, self.HISTORY_LINES, visible_only=True)
        # Two captures: the pane's visible rows say how tall the pane is, so the one with history
        # can be split into scrollback and screen (see ``seeded_screen``).
        visible = source.capture(history=0)
        return seeded_screen(visible, source.capture(history=history), columns, lines, self.HISTORY_LINES)

    def _same_screen(self, other: ScrollbackScreen) -> bool:
        mine = self._screen
        if (mine.columns, mine.lines) != (other.columns, other.lines):
            return False
        if (mine.cursor.x, mine.cursor.y) != (other.cursor.x, other.cursor.y):
            return False
        columns = range(mine.columns)
        for y in range(mine.lines):
            a, b = mine.buffer[y], other.buffer[y]
            if any(a[x] != b[x] for x in columns):
                return False
        return True

    def _show_error(self, exc: Exception) -> None:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._message = f"terminal unavailable: {text}"
        self.refresh()

    # -- applying output -------------------------------------------------------------

    def _feed_now(self, data: bytes, refresh: bool = True) -> None:
        try:
            self._stream.feed(data)
        except Exception:  # pyte chokes on some input: tmux has the truth
            log.debug("pyte failed on output", exc_info=True)
            self._suspect = True
        self._output_since_capture = True
        if refresh:
            self._apply_changes()

    def _install(self, screen: ScrollbackScreen, *, keep_history: bool) -> None:
        old = self._screen
        old_top, old_cursor_row = len(old.history), self._cursor_row
        if keep_history and old.history and old.columns == screen.columns:
            captured = list(screen.history)
            screen.history = old.history
            screen.history.extend(captured)
            screen.pushed = old.pushed + len(captured)
        else:
            self._history_strips.clear()
        self._screen = screen
        self._stream = pyte.ByteStream(screen)
        self._rows = [None] * screen.lines
        self._cursor_row = None
        self._update_title()
        scrolled = self._update_virtual_size(old_dropped=old.pushed - len(old.history))
        top = len(screen.history)
        if (scrolled or self._message_painted or top != old_top
                or (old.columns, old.lines) != (screen.columns, screen.lines)):
            self._message_painted = False
            self.refresh()
            return
        # Same place, same shape (a re-capture, e.g. every 25 ms during a flood): repaint only the
        # rows that changed. A full repaint of a 200x50 pane costs ~10 ms of the event loop.
        for y in range(screen.lines):
            if old.buffer[y] != screen.buffer[y]:
                self.refresh_line(top + y)
        if self.input_mode:
            self._cursor_row = top + screen.cursor.y
            for row in {old_cursor_row, self._cursor_row}:
                if row is not None:
                    self.refresh_line(row)

    def _apply_changes(self) -> None:
        screen = self._screen
        shift = min(screen.scrolled, screen.lines)
        screen.scrolled = 0
        if shift:
            del self._rows[:shift]
            self._rows.extend([None] * shift)
        for y in screen.dirty:
            if 0 <= y < len(self._rows):
                self._rows[y] = None
        if screen.history_reset:
            screen.history_reset = False
            self._history_strips.clear()
        dirty = set(screen.dirty)
        screen.dirty.clear()
        self._update_title()
        dropped_before = self._dropped
        scrolled = self._update_virtual_size(old_dropped=dropped_before) or bool(shift)
        if not self.is_mounted:
            return
        top = len(screen.history)
        if scrolled:
            self.refresh()
        else:
            for y in dirty:
                self.refresh_line(top + y)
        cursor_row = top + screen.cursor.y if self.input_mode else None
        if cursor_row != self._cursor_row:
            if self._cursor_row is not None:
                self.refresh_line(self._cursor_row)
            if cursor_row is not None:
                self.refresh_line(cursor_row)
            self._cursor_row = cursor_row

    _dropped = 0  # history lines dropped off the far end (deque maxlen), at the last update
    _message_painted = False  # a message (no session, an error) is on screen: the next install repaints all

    def _update_virtual_size(self, old_dropped: int) -> bool:
        """Grow the scrollable area; keep the view still while the user reads. True if it scrolled."""
        screen = self._screen
        height = len(screen.history) + screen.lines
        dropped = screen.pushed - len(screen.history)
        self._dropped = dropped
        self.virtual_size = Size(screen.columns, height)
        if not self.is_mounted:
            return False
        if self._follow:
            target = max(0, height - self.scrollable_content_region.height)
            if round(self.scroll_y) != target:
                self.set_scroll(None, target)
                return True
            return False
        lost = dropped - old_dropped
        if lost > 0:
            self.set_scroll(None, max(0, self.scroll_y - lost))
            return True
        return False

    def _update_title(self) -> None:
        title = self._screen.title or ""
        if title != self.pane_title:
            self.pane_title = title
            if self.is_attached:
                self.post_message(self.TitleChanged(self, title))

    # -- drawing -------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None  # theme or class changed: colours of the default cells too

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width or self.size.width
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
            self._rows = [None] * self._screen.lines
            self._history_strips.clear()
            self._strip_cache.clear()
            self._rendered.clear()
        row = round(self.scroll_y) + y
        self.stats["lines_painted"] += 1
        if self._message is not None:
            self._message_painted = True
            if y == 0:
                text = Text(self._message.translate(CONTROLS), style="dim", no_wrap=True, overflow="ellipsis")
                return Strip(text.render(self.app.console)).crop_extend(0, width, base).apply_style(base)
            return Strip.blank(width, base)
        strip = self._row_strip(row, base)
        done = self._rendered.get(row)
        if done is not None and done[0] is strip and done[1] == width:
            return done[2]
        final = strip.apply_offsets(0, row).crop_extend(0, width, base)
        self._rendered.set(row, (strip, width, final))
        return final

    def _row_strip(self, row: int, base: Style) -> Strip:
        screen = self._screen
        top = len(screen.history)
        selection = self.text_selection
        span = selection.get_span(row) if selection is not None else None
        cursor_x = screen.cursor.x if (self.input_mode and row == top + screen.cursor.y
                                       and not screen.cursor.hidden) else None
        if 0 <= row < top:
            segments = screen.history[row][1]
            if span is not None:
                selected = self.screen.get_visual_style("screen--selection").rich_style
                return Strip(Segment.apply_style(highlight(segments, span[0], span[1], selected), base))
            key = screen.pushed - top + row
            strip = self._history_strips.get(key)
            if strip is None:
                self.stats["rows_built"] += 1
                strip = Strip(Segment.apply_style(segments, base))
                self._history_strips.set(key, strip)
            return strip
        if span is not None or cursor_x is not None:
            return self._build_strip(self._line(row), base, span, cursor_x)
        y = row - top
        if not 0 <= y < screen.lines:
            return Strip.blank(screen.columns, base)
        strip = self._rows[y]
        if strip is None:
            strip = self._rows[y] = self._cached_strip(screen.buffer[y], base)
        return strip

    def _cache_rows(self) -> int:
        """How many rows' strips to keep: a few screens' worth (a tall pane keeps more)."""
        return 4 * max(self._screen.lines, 50)

    def _size_caches(self) -> None:
        rows = self._cache_rows()
        self._history_strips.grow(rows)
        self._strip_cache.maxsize = 2 * self._screen.lines
        self._rendered.grow(rows)

    def _cached_strip(self, line: Any, base: Style) -> Strip:
        """A row's strip, shared by rows of equal content (re-captures, repeated lines)."""
        key = tuple(line.items())
        strip = self._strip_cache.get(key)
        if strip is None:
            strip = self._build_strip(line, base)
            self._strip_cache.set(key, strip)
        return strip

    def _line(self, row: int) -> Any:
        """A screen row's cells (rows above the screen are scrollback: see ``_row_text``)."""
        screen = self._screen
        return screen.buffer[min(max(row - len(screen.history), 0), screen.lines - 1)]

    def _row_text(self, row: int) -> str:
        screen = self._screen
        top = len(screen.history)
        if row < 0 or row >= top + screen.lines:
            return ""
        if row < top:
            return screen.history[row][0]
        return line_text(self._line(row), screen.columns)

    def _build_strip(self, line: Any, base: Style, span: tuple[int, int] | None = None,
                     cursor_x: int | None = None) -> Strip:
        self.stats["rows_built"] += 1
        columns = self._screen.columns
        overlay = None
        if span is not None or cursor_x is not None:
            selected = self.screen.get_visual_style("screen--selection").rich_style
            cursor_style = Style(reverse=True)
            start, end = span if span is not None else (0, 0)
            cursor_index = None
            if cursor_x is not None:  # cells to character index
                cursor_index = sum(len(line[x].data) for x in range(min(cursor_x, columns)))

            def overlay(index: int) -> Style | None:
                style = None
                if span is not None and start <= index and (end == -1 or index < end):
                    style = selected
                if index == cursor_index:
                    style = cursor_style if style is None else style + cursor_style
                return style

        segments = line_segments(line, columns, overlay)
        return Strip(Segment.apply_style(segments, base))

    # -- selection and copy ----------------------------------------------------------

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        screen = self._screen
        text = "\n".join(self._row_text(row).rstrip() for row in range(len(screen.history) + screen.lines))
        return selection.extract(text), "\n"

    def selection_updated(self, selection: Selection | None) -> None:
        self.refresh()

    def action_copy_screen(self) -> None:
        """Copy what the pane shows (the screen, or the scrollback page being read)."""
        text = self.visible_text()
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text.splitlines())} lines of the terminal", timeout=3)

    # -- scrolling -------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        following = round(new_value) >= round(self.max_scroll_y)
        if following != self._follow:
            self._follow = following
            self._update_subtitle()

    # A terminal scrolls at once: an animated scroll would race the output that keeps coming.
    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def action_scroll_up(self) -> None:
        self.scroll_up(animate=False)

    def action_scroll_down(self) -> None:
        self.scroll_down(animate=False)

    def action_scroll_home(self) -> None:
        self.scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        self.action_follow()

    def action_follow(self) -> None:
        self._follow = True
        self.scroll_end(animate=False, immediate=True)
        self._update_subtitle()

    # -- size ----------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        if self._resize_timer is not None:
            self._resize_timer.stop()
        if not self._sized.is_set():
            self._apply_size()  # the first size: no reason to wait
        else:
            self._resize_timer = self.set_timer(self.RESIZE_DEBOUNCE, self._apply_size)

    def _apply_size(self) -> None:
        self._resize_timer = None
        region = self.scrollable_content_region
        columns, lines = region.width, region.height
        if columns < 10 or lines < 3:
            return
        first = not self._sized.is_set()
        self._sized.set()
        if (columns, lines) == self._term_size and not first:
            return
        self._term_size = (columns, lines)
        self._screen.resize(lines, columns)
        self._rows = [None] * lines
        self._history_strips.clear()
        self._strip_cache.clear()
        self._size_caches()
        self._update_virtual_size(self._dropped)
        self.refresh()
        source = self.source
        if source is None:
            return
        generation = self._generation

        async def resize_then_recapture() -> None:
            try:
                await asyncio.to_thread(source.resize, columns, lines)
            except Exception as exc:
                log.debug("resize of %s failed: %s", source, exc)
            if generation == self._generation:
                await asyncio.sleep(0.05)  # let the program redraw for its new size
                self._request_resync(history=0)

        self.run_worker(resize_then_recapture(), group="terminal-resize", exclusive=True)

    # -- input mode ------------------------------------------------------------------

    def watch_input_mode(self, value: bool) -> None:
        self.set_class(value, "-input")
        self._update_subtitle()
        if not self.is_mounted:
            return
        self._apply_changes()
        self.refresh()
        if value:
            self.focus()
        self.post_message(self.InputModeChanged(self, value))

    def _update_subtitle(self) -> None:
        if self.input_mode:
            target = getattr(self.source, "session_id", "") or ""
            self.border_subtitle = Text(f"INPUT {clean(target)} — {self.leave_key} to leave" if target
                                        else f"INPUT — {self.leave_key} to leave")
        elif not self._follow:
            self.border_subtitle = Text("SCROLLBACK — end to follow")
        else:
            self.border_subtitle = Text("")
        self.set_class(not self._follow, "-scrollback")

    def action_leave_input(self) -> None:
        self.input_mode = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave_input":
            return self.input_mode
        return True

    async def on_key(self, event: events.Key) -> None:
        if not self.input_mode:
            return
        event.stop()
        event.prevent_default()
        if event.key in self.SCROLL_KEYS:
            await self.run_action(self.SCROLL_KEYS[event.key])
            return
        if event.key in ("ctrl+c", "super+c") and self.text_selection is not None:
            self.screen.action_copy_text()
            return
        data = key_to_bytes(event.key, event.character)
        if data is None:
            return
        if not self._follow:
            self.action_follow()  # typing means watching the answer
        self.send(data)

    def on_paste(self, event: events.Paste) -> None:
        if not self.input_mode:
            return
        event.stop()
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if (2004 << 5) in self._screen.mode:  # the program asked for bracketed paste
            self.send(b"\x1b[200~" + text.encode() + b"\x1b[201~")
        else:
            self.send(text.encode())

    async def _drain_outbox(self, source: TerminalSource) -> None:
        try:
            while self._outbox:
                data = b"".join(self._outbox)
                self._outbox.clear()
                try:
                    await asyncio.to_thread(source.send_bytes, data)
                except Exception as exc:
                    self._outbox.clear()
                    self.notify(f"typing into the terminal failed: {str(exc)[:200]}", severity="error",
                                markup=False)
                    return
        finally:
            self._sending = False
