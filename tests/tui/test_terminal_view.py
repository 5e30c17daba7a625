"""The live terminal pane: drawing, scrollback, selection, typing; fake and real tmux sources."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
import time
from pathlib import Path

import pytest
from rich.color import Color
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.selection import Selection

from ao_tui.tui.terminal_keys import key_to_bytes
from ao_tui.tui.terminal_screen import screen_from_capture
from ao_tui.tui.terminal_style import highlight, line_text, sgr_lines
from ao_tui.tui.terminal_view import TerminalView

pytestmark = pytest.mark.timeout(60)


class FakeSource:
    """A terminal whose output the test pushes; a capture returns everything pushed so far.

    Tests push lines ending in ``\\r\\n`` so that a capture (split on ``\\n``)
    rebuilds the same screen as the stream did.
    """

    def __init__(self, initial: str = "", session_id: str = "fake-1") -> None:
        self.session_id = session_id
        self.pushed: list[bytes] = [initial.encode()] if initial else []
        self.sent: list[bytes] = []
        self.resized: list[tuple[int, int]] = []
        self.captures: list[int] = []
        self._queue: asyncio.Queue[bytes | None] | None = None

    def capture(self, history: int = 0) -> str:
        """Like ``capture-pane -e -S -history``: the last screenful plus ``history`` lines."""
        self.captures.append(history)
        lines = b"".join(self.pushed).decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the newline ending the last row
        height = self.resized[-1][1] if self.resized else 24
        return "\n".join(lines[-(height + history):])

    async def stream(self):  # noqa: ANN201
        self._queue = asyncio.Queue()
        while True:
            chunk = await self._queue.get()
            if chunk is None:
                return
            yield chunk

    def push(self, data: str | bytes) -> None:
        data = data.encode() if isinstance(data, str) else data
        self.pushed.append(data)
        if self._queue is not None:
            self._queue.put_nowait(data)

    def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    def send_keys(self, *keys: str) -> None:
        self.sent.append(" ".join(keys).encode())

    def resize(self, width: int, height: int) -> None:
        self.resized.append((width, height))


class TermApp(App):
    """An app hosting only the widget."""

    CSS = "Screen { background: #101010; }"

    def __init__(self, source: object | None = None) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield TerminalView(id="term")

    def on_mount(self) -> None:
        view = self.query_one(TerminalView)
        view.show(self.source)  # type: ignore[arg-type]
        view.focus()


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = ""):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.03)


def strip_with(view: TerminalView, text: str):  # noqa: ANN201
    """The rendered line of the pane that shows ``text``."""
    for y in range(view.scrollable_content_region.height):
        strip = view.render_line(y)
        if text in strip.text:
            return strip
    raise AssertionError(f"{text!r} is not on the pane")


def visible(app: App) -> str:
    """The characters on the app's screen right now."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


CLAUDE_SCREEN = (
    "\x1b[38;5;174m╭───────────────────────────────────────╮\x1b[0m\r\n"
    "\x1b[38;5;174m│\x1b[0m \x1b[38;5;174m✻\x1b[0m Welcome to \x1b[1mClaude Code\x1b[0m!             \x1b[38;5;174m│\x1b[0m\r\n"
    "\x1b[38;5;174m╰───────────────────────────────────────╯\x1b[0m\r\n"
    "\r\n"
    "\x1b[38;2;255;255;255m>\x1b[0m Add a greeting to hello.txt\r\n"
    "\r\n"
    "\x1b[38;5;114m⏺\x1b[0m \x1b[1mWrite\x1b[0m(hello.txt)\r\n"
    "  ⎿  Wrote 1 lines to \x1b[1mhello.txt\x1b[0m\r\n"
    "\r\n"
    "\x1b[31mred\x1b[0m \x1b[32mgreen\x1b[0m \x1b[33myellow\x1b[0m \x1b[34mblue\x1b[0m \x1b[1;4mbold-underline\x1b[0m "
    "\x1b[3mitalic\x1b[0m \x1b[7mreverse\x1b[0m \x1b[9mstrike\x1b[0m \x1b[41;97m white on red \x1b[0m\r\n"
    "宽字符 and [bold]not markup[/]\r\n"
    "\r\n"
    "\x1b[38;5;174m✶\x1b[0m \x1b[38;5;174mThinking…\x1b[0m \x1b[2m(3s · ↓ 15 tokens · esc to interrupt)\x1b[0m\r\n"
    "\x1b[2m────────────────────────────────────────\x1b[0m\r\n"
    "❯ \r\n"
    "\x1b[2m────────────────────────────────────────\x1b[0m\r\n"
    "  \x1b[2m? for shortcuts\x1b[0m\r\n"
)


# -- pure functions -----------------------------------------------------------------


def test_key_translation_matches_a_terminal() -> None:
    assert key_to_bytes("a", "a") == b"a"
    assert key_to_bytes("A", "A") == b"A"
    assert key_to_bytes("enter") == b"\r"
    assert key_to_bytes("backspace") == b"\x7f"
    assert key_to_bytes("escape") == b"\x1b"
    assert key_to_bytes("tab") == b"\t"
    assert key_to_bytes("up") == b"\x1b[A"
    assert key_to_bytes("left") == b"\x1b[D"
    assert key_to_bytes("ctrl+c") == b"\x03"
    assert key_to_bytes("ctrl+d") == b"\x04"
    assert key_to_bytes("shift+up") == b"\x1b[1;2A"
    assert key_to_bytes("ctrl+right") == b"\x1b[1;5C"
    assert key_to_bytes("alt+b") == b"\x1bb"
    assert key_to_bytes("space", " ") == b" "
    assert key_to_bytes("delete") == b"\x1b[3~"
    assert key_to_bytes("é", "é") == "é".encode()
    assert key_to_bytes("f24") is None


def test_capture_seeds_screen_history_and_cursor() -> None:
    text = "\n".join(f"line {n}" for n in range(30)) + "\n"
    screen = screen_from_capture(text, 40, 10)
    assert len(screen.history) == 20
    assert "".join(c.data for c in screen.buffer[9].values()).strip() == "line 29"
    assert (screen.cursor.y, screen.cursor.x) == (9, 7)  # end of the last non-blank line


def test_scrollback_rows_decoded_from_a_capture() -> None:
    rows = sgr_lines(["\x1b[1;31mred\x1b[0m plain \x1b[38;5;208morange \x1b[48;2;1;2;3mtrue",
                      "carried\x1b[m \x1b]0;title\x07\x1b[2Kgone\x07bell"])
    (text, segments), (text2, segments2) = rows
    assert text == "red plain orange true"
    styles = {seg.text.strip(): seg.style for seg in segments}
    assert styles["red"].bold and styles["red"].color == Color.parse("red")
    assert styles["orange"].color.triplet.hex == "#ff8700"
    assert styles["true"].bgcolor.triplet.hex == "#010203"
    assert segments2[0].text == "carried" and segments2[0].style.bgcolor.triplet.hex == "#010203"  # as tmux prints
    assert text2 == "carried gone\ufffdbell"  # OSC and erase dropped, BEL shown harmlessly
    marked = highlight(segments, 4, 9, Style(reverse=True))
    assert "".join(seg.text for seg in marked) == text
    assert [seg.text for seg in marked if seg.style and seg.style.reverse] == ["plain"]


# -- drawing --------------------------------------------------------------------------


async def test_colours_and_attributes_become_styles() -> None:
    source = FakeSource(CLAUDE_SCREEN)
    app = TermApp(source)
    async with app.run_test(size=(100, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "? for shortcuts" in view.screen_text(), what="the seeded screen")
        strip = strip_with(view, "bold-underline")
        styles = {seg.text.strip(): seg.style for seg in strip if seg.text.strip()}
        assert styles["red"].color == Color.parse("red")
        assert styles["green"].color == Color.parse("green")
        assert styles["yellow"].color == Color.parse("yellow")
        assert styles["bold-underline"].bold and styles["bold-underline"].underline
        assert styles["italic"].italic
        assert styles["reverse"].reverse
        assert styles["strike"].strike
        assert styles["white on red"].bgcolor == Color.parse("red")
        assert styles["white on red"].color == Color.parse("bright_white")
        box = next(seg for seg in strip_with(view, "╭") if "╭" in seg.text)
        assert box.style.color.triplet.hex == "#d78787"  # 256-colour 174
        prompt = strip_with(view, "Add a greeting")
        assert next(seg for seg in prompt if seg.text == ">").style.color.triplet.hex == "#ffffff"
        screen = visible(app)
        assert "[bold]not markup[/]" in screen  # text, never markup
        assert "宽字符" in screen


async def test_hostile_output_is_interpreted_not_leaked() -> None:
    source = FakeSource()
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause(0.1)
        source.push("\x1b]0;⠂ evil title\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b[H\x1b[31m[red]x[/red]\x1b[0m\r\n"
                    "\x9b31mC1\x1b]8;;http://x\x07link\x1b]8;;\x07\r\n")
        await wait_for(pilot, lambda: "link" in view.screen_text(), what="the hostile line")
        assert view.pane_title == "⠂ evil title"
        for y in range(3):
            for segment in view.render_line(y):
                assert "\x1b" not in segment.text and "\x07" not in segment.text and "\x9b" not in segment.text
        assert "[red]x[/red]" in visible(app)
        assert "evil title" not in visible(app)


async def test_the_pane_keeps_the_rows_of_the_session_on_view_only() -> None:
    """A long-running ao-tui shows session after session: the strips kept for equal rows are the
    session on view's, two screens at most (they held every session's rows, ~28 KB a wide row)."""
    source = FakeSource(session_id="s-0")
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        for n in range(1, 4):
            source = FakeSource(session_id=f"s-{n}")
            view.show(source)  # type: ignore[arg-type]
            await pilot.pause(0.05)
            source.push("".join(f"session {n} row {i}\r\n" for i in range(60)))
            await wait_for(pilot, lambda n=n: f"session {n} row 59" in visible(app), what=f"session {n}'s rows")
            cache = view._strip_cache
            kept = [cache.get(key).text for key in list(cache.keys())]
            assert 0 < len(kept) <= 2 * view.screen_model.lines
            assert not any(f"session {n - 1} " in text for text in kept), kept


async def test_only_dirty_lines_are_rebuilt() -> None:
    source = FakeSource("".join(f"row {n}\r\n" for n in range(10)))
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "row 9" in view.screen_text())
        await pilot.pause(0.1)
        built = view.stats["rows_built"]
        source.push("\x1b[3;1Hchanged\x1b[K")  # rewrite row 3 only
        await wait_for(pilot, lambda: "changed" in visible(app), what="the rewritten row")
        assert view.stats["rows_built"] - built <= 2  # that row (and the cursor's, if drawn)
        built = view.stats["rows_built"]
        source.push("\x1b[22;1H" + "".join(f"more {n}\r\n" for n in range(5)))  # scroll the screen 5 times
        await wait_for(pilot, lambda: "more 4" in visible(app), what="scrolled output")
        assert view.stats["rows_built"] - built <= 8  # the new rows, not the whole screen


async def test_scrollback_stays_put_while_output_continues() -> None:
    source = FakeSource()
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause(0.1)
        source.push("".join(f"early {n}\r\n" for n in range(100)))
        await wait_for(pilot, lambda: "early 99" in visible(app), what="the first output")
        assert view.following
        await pilot.press("shift+pageup")
        await pilot.press("shift+pageup")
        await wait_for(pilot, lambda: not view.following, what="reading the scrollback")
        reading = view.visible_text()
        assert "early 99" not in reading
        source.push("".join(f"later {n}\r\n" for n in range(50)))
        await wait_for(pilot, lambda: any("later 49" in line for line in view.screen_lines()), what="later output")
        await pilot.pause(0.1)
        assert view.visible_text() == reading  # did not jump to the bottom
        assert "SCROLLBACK" in visible(app)
        await pilot.press("end")
        await wait_for(pilot, lambda: "later 49" in visible(app), what="back at the bottom")
        assert view.following
        await pilot.press("up")  # the mouse wheel and keys both scroll back
        await wait_for(pilot, lambda: not view.following, what="scrolled back by a line")


async def test_flood_skips_frames_and_resynchronises() -> None:
    source = FakeSource()
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await pilot.pause(0.1)
        started = time.monotonic()
        for n in range(40):
            source.push("".join(f"flood {n} {m} " + "y" * 40 + "\r\n" for m in range(2000)))
        source.push("THE END\r\n")
        await wait_for(pilot, lambda: "THE END" in view.screen_text(), timeout=20, what="the last line")
        elapsed = time.monotonic() - started
        assert view.stats["dropped"] > 0 and view.stats["resyncs"] >= 2
        assert elapsed < 10  # 4 MB would take pyte over 5 s to parse in full


# -- selection, copy and typing -----------------------------------------------------


async def test_select_and_copy() -> None:
    source = FakeSource("first line here\r\nsecond line\r\n")
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "second line" in view.screen_text())
        await pilot.mouse_down(view, offset=(1 + 6, 1))
        await pilot.hover(view, offset=(1 + 5, 2))
        await pilot.mouse_up(view, offset=(1 + 5, 2))
        await pilot.pause(0.05)
        assert app.screen.get_selected_text() == "line here\nsecond"
        app.screen.selections = {view: Selection(Offset(0, 1), Offset(6, 1))}
        await pilot.press("ctrl+c")
        assert app.clipboard == "second"
        await pilot.press("y")  # the whole visible screen
        assert app.clipboard == "first line here\nsecond line"


async def test_input_mode_sends_bytes_and_ctrl_bracket_leaves() -> None:
    source = FakeSource("$ \r\n")
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "$" in view.screen_text())
        await pilot.press("h", "q")  # not typing yet: nothing is sent
        assert source.sent == []
        view.input_mode = True
        await pilot.pause()
        assert "INPUT fake-1 — ctrl+] to leave" in visible(app)
        await pilot.press("h", "i", "enter", "backspace", "up", "ctrl+c", "escape", "tab", "q", "Q")
        await wait_for(pilot, lambda: b"".join(source.sent) == b"hi\r\x7f\x1b[A\x03\x1b\tqQ",
                       what=lambda: f"bytes sent: {source.sent!r}")
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert not view.input_mode
        await pilot.press("x")
        await pilot.pause(0.05)
        assert b"".join(source.sent) == b"hi\r\x7f\x1b[A\x03\x1b\tqQ"
        assert "INPUT" not in visible(app)


async def test_follows_the_widget_size() -> None:
    source = FakeSource("hello\r\n")
    app = TermApp(source)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: source.resized, what="a resize")
        region = view.scrollable_content_region
        assert source.resized[-1] == (region.width, region.height)
        await pilot.resize_terminal(70, 20)
        await wait_for(pilot, lambda: source.resized[-1] == (view.scrollable_content_region.width,
                                                             view.scrollable_content_region.height),
                       what="the new size")
        assert view.screen_model.columns == view.scrollable_content_region.width


async def test_switching_sessions_and_no_session() -> None:
    first, second = FakeSource("I am one\r\n", "one"), FakeSource("I am two\r\n", "two")
    app = TermApp(first)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "I am one" in visible(app))
        view.show(second)
        await wait_for(pilot, lambda: "I am two" in visible(app))
        assert "I am one" not in visible(app)
        first.push("late output from one\r\n")  # the old stream no longer draws
        await pilot.pause(0.1)
        assert "late output" not in visible(app)
        view.show(None)
        await pilot.pause()
        assert "No session selected." in visible(app)


# -- snapshots ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (200, 50)], ids=["80x24", "200x50"])
def test_snapshot(size: tuple[int, int], snap_compare) -> None:  # noqa: ANN001
    app = TermApp(FakeSource(CLAUDE_SCREEN))

    async def run_before(pilot) -> None:  # noqa: ANN001
        view = pilot.app.query_one(TerminalView)
        await wait_for(pilot, lambda: "? for shortcuts" in view.screen_text())
        await wait_for(pilot, lambda: view.source.resized)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- real tmux --------------------------------------------------------------------------

ECHO_TO_FILE = (
    "import sys, tty\n"
    "tty.setraw(0)\n"
    "out = open(sys.argv[1], 'ab', buffering=0)\n"
    "sys.stdout.write('\\x1b[32mREADY\\x1b[0m type here\\r\\n'); sys.stdout.flush()\n"
    "while True:\n"
    "    b = sys.stdin.buffer.raw.read(1)\n"
    "    if not b: break\n"
    "    out.write(b)\n"
    "    sys.stdout.write('got %r\\r\\n' % b); sys.stdout.flush()\n"
)


def _runtime_available() -> str | None:
    if importlib.util.find_spec("ao_tui_plugins.runtime_tmux") is None:
        return "runtime.tmux (plugins/ao_tui_plugins/runtime_tmux.py) has not landed yet"
    return None


@pytest.fixture
def tmux_engine(ao_home: Path, git_repo: Path):  # noqa: ANN201
    """An Engine with a real config whose tmux runtime runs a session we create directly."""
    reason = _runtime_available()
    if reason:
        pytest.skip(reason)
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import Session

    (git_repo / "ao.config.yaml").write_text("projects:\n  demo:\n    repo: .\n    session_prefix: tv\n")
    engine = Engine(load_config(str(git_repo / "ao.config.yaml")))

    def start(argv: list[str]) -> str:
        session = Session(id="tv-1", project="demo", branch="ao/tv-1", workspace=str(git_repo),
                          runtime="tmux", runtime_handle="tv-1", agent="claude-code", prompt="x")
        engine.store.insert_session(session)
        engine.runtime(session).create("tv-1", git_repo, argv, {}, size=(100, 30))
        return "tv-1"

    engine.start_program = start  # type: ignore[attr-defined]
    yield engine
    engine.store.close()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
async def test_real_tmux_output_shows_and_typing_reaches_the_pane(tmux_engine, tmp_path: Path) -> None:
    from ao_tui.tui.terminal_source import EngineTerminalSource

    typed = tmp_path / "typed.bin"
    session_id = tmux_engine.start_program([sys.executable, "-c", ECHO_TO_FILE, str(typed)])
    app = TermApp(EngineTerminalSource(tmux_engine, session_id))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "READY type here" in visible(app), what=lambda: visible(app))
        assert next(s for s in strip_with(view, "READY") if "READY" in s.text).style.color == Color.parse("green")
        view.input_mode = True
        await pilot.press("h", "i", "enter", "ctrl+c")
        await wait_for(pilot, lambda: typed.exists() and typed.read_bytes() == b"hi\r\x03",
                       what=lambda: repr(typed.read_bytes() if typed.exists() else None))
        await wait_for(pilot, lambda: "got '\\x03'" in visible(app) or "got b'\\x03'" in visible(app),
                       what=lambda: visible(app))


async def test_theme_change_recolours_default_cells() -> None:
    class ThemedApp(TermApp):
        CSS = ""

    source = FakeSource("plain text\r\n")
    app = ThemedApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "plain text" in view.screen_text())
        before = strip_with(view, "plain text")
        app.theme = "textual-light"
        await pilot.pause(0.1)
        after = strip_with(view, "plain text")
        assert next(iter(before)).style.bgcolor != next(iter(after)).style.bgcolor


class LateSource(FakeSource):
    """A session whose terminal is not up yet (spawning) until the test says it is.

    The test, not a clock, decides when the terminal comes up, so a slow start of
    the app cannot skip the "unavailable" phase the test looks for.
    """

    def __init__(self, initial: str) -> None:
        super().__init__(initial)
        self.up = False

    def capture(self, history: int = 0) -> str:
        if not self.up:
            raise RuntimeError("session late-1 has no terminal (status spawning)")
        return super().capture(history)

    async def stream(self):  # noqa: ANN201
        if not self.up:
            raise RuntimeError("no tmux session yet")
        async for chunk in super().stream():
            yield chunk


async def test_a_terminal_that_comes_up_later_is_shown_and_followed() -> None:
    source = LateSource("ready now\r\n")
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "terminal unavailable" in visible(app), what="the error while spawning")
        source.up = True
        await wait_for(pilot, lambda: "ready now" in visible(app), what="the terminal once it is up")
        await wait_for(pilot, lambda: source.resized, what="the pane sized to the view")
        source.push("and live\r\n")
        await wait_for(pilot, lambda: "and live" in visible(app), what="streamed output")
        assert "terminal unavailable" not in visible(app)


async def test_scrollback_keeps_colours_and_copies_across_history_and_screen() -> None:
    lines = "".join(f"\x1b[31mred {n}\x1b[0m plain {n}\r\n" for n in range(60))
    source = FakeSource(lines)
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: len(view.history_lines()) >= 30, what="the scrollback seeded from tmux")
        assert view.history_lines()[0].startswith("red 0 plain 0")
        await pilot.press("home")
        await wait_for(pilot, lambda: "red 0 plain 0" in visible(app), what="the top of the scrollback")
        red = next(seg for seg in strip_with(view, "red 0 plain 0") if seg.text.startswith("red"))
        assert red.style.color == Color.parse("red")
        top = len(view.screen_model.history)
        app.screen.selections = {view: Selection(Offset(6, 1), Offset(5, top + 1))}
        copied = app.screen.get_selected_text()
        assert copied.startswith("plain 1\nred 2 plain 2")
        assert copied.splitlines()[-1] == view._row_text(top + 1)[:5]


async def test_continuous_output_is_checked_against_tmux() -> None:
    """A spinner that never pauses, drawn relative to a cursor the capture could not tell: corrected."""

    class Drifting(FakeSource):
        def capture(self, history: int = 0) -> str:
            self.captures.append(history)
            return "the real screen\n✶ Working… (3s)\n"

    source = Drifting()
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "the real screen" in visible(app))
        captures = len(source.captures)
        source.push("\x1b[10;1Hgarbage drawn at the wrong place")
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and ("garbage" in visible(app) or len(source.captures) == captures):
            source.push("\x1b[2;1H✶ Working… (3s)")  # the spinner, redrawn all the time: never quiet
            await pilot.pause(0.05)
        assert view.stats["bytes"] > 0 and len(source.captures) > captures
        assert "garbage" not in visible(app) and "the real screen" in visible(app)


async def test_a_recapture_repaints_the_rows_that_changed_and_only_those() -> None:
    """Flood mode re-captures every 25 ms; each one repaints only changed rows, yet the screen is right."""
    source = FakeSource("".join(f"row {n}\r\n" for n in range(5)))
    app = TermApp(source)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "row 4" in visible(app), what="first screen")
        # Then the scrollback seed (a capture with history) repaints everything once: let it land.
        await wait_for(pilot, lambda: any(source.captures), what="the scrollback seed")
        await pilot.pause(0.3)
        columns, lines = view.screen_model.columns, view.screen_model.lines
        painted = view.stats["lines_painted"]
        text = "\n".join(["row 0", "row 1", "ROW TWO CHANGED", "row 3", "row 4"])
        view._install(screen_from_capture(text, columns, lines), keep_history=True)
        await wait_for(pilot, lambda: "ROW TWO CHANGED" in visible(app), what="the changed row")
        shown = visible(app)
        assert all(f"row {n}" in shown for n in (0, 1, 3, 4)) and "row 2" not in shown
        assert view.stats["lines_painted"] - painted <= 2, "the whole pane was painted again"

        view._show_error(RuntimeError("tmux went away"))
        await wait_for(pilot, lambda: "tmux went away" in visible(app), what="the error")
        view._message = None
        view._install(screen_from_capture(text, columns, lines), keep_history=True)  # same rows as before
        await wait_for(pilot, lambda: "tmux went away" not in visible(app) and "row 0" in visible(app),
                       what="the screen back in place of the error")


class TallPane(FakeSource):
    """A pane taller than the view that does not follow its size (a human attached at 200x50, another ao-tui
    of another size, a resize that has not landed): its content at the top, blank rows below, an idle agent."""

    HEIGHT = 45

    def capture(self, history: int = 0) -> str:
        self.captures.append(history)
        older = [f"old line {n}" for n in range(30)][-history:] if history else []
        screen = ["\x1b[1m✻ Claude Code\x1b[0m", "", "> fix the bug", "", "⏺ Done: the bug is fixed.", "", "❯ "]
        screen += [""] * (self.HEIGHT - len(screen))
        return "\n".join(older + screen) + "\n"


async def test_a_pane_taller_than_the_view_is_never_shown_blank() -> None:
    """QA: after a palette jump the pane stayed blank for seconds while tmux had content.

    The first capture (visible rows only) drops the pane's blank bottom rows; the scrollback seed
    that follows (a capture with history) took the pane's *last* rows as the screen, so a pane taller
    than the view showed its blank bottom until the agent printed again.
    """
    other, tall = FakeSource("another session\r\n", "other"), TallPane(session_id="tall")
    app = TermApp(other)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TerminalView)
        await wait_for(pilot, lambda: "another session" in visible(app))
        view.show(tall)  # a switch: the live path (resize, capture, then follow and seed the scrollback)
        await wait_for(pilot, lambda: any(tall.captures), what="the scrollback seed")
        for _ in range(10):
            await pilot.pause(0.1)
            assert "Done: the bug is fixed." in visible(app), visible(app)
        assert view.history_lines()[-1] == "old line 29"  # the scrollback is the pane's, not its blank rows
        await pilot.press("home")
        await wait_for(pilot, lambda: "old line 0" in visible(app), what="the top of the scrollback")


def test_the_scrollback_seed_of_a_taller_pane_shows_its_content_not_its_blank_bottom() -> None:
    pane = TallPane(session_id="tall")
    screen = TerminalView()._capture_screen(pane, 1000, 78, 20)
    rows = [line_text(screen.buffer[y], screen.columns).rstrip() for y in range(screen.lines)]
    assert rows[:5] == ["✻ Claude Code", "", "> fix the bug", "", "⏺ Done: the bug is fixed."], rows
    assert [text for text, _ in screen.history] == [f"old line {n}" for n in range(30)]
    assert pane.captures == [0, 1000]  # the visible rows first: they say how tall the pane is
