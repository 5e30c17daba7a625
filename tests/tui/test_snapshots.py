"""Snapshots of every screen and modal at 80x24 and 200x50 in each shipped theme.

Deterministic: fixed clock, fixed git dates, fixed event times, no cursor blink, and a
fake terminal source (``FleetTerminal``) so the terminal pane shows a live screen.
Update with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at
the report before committing.
"""

from __future__ import annotations

import pytest

from tests.tui.fleet import FleetTerminal, add_history
from tests.tui.helpers import screen_text, steady_cursors, wait_until, workers_done

SIZES = {"80x24": (80, 24), "200x50": (200, 50)}
THEMES = ("dark", "light", "high-contrast")

#: screen name -> (keys to press, session to focus first)
SCREENS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "main": ((), None),
    "help": (("question_mark",), None),
    "kill": (("x",), "app-5"),
    "restore": (("r",), "web-1"),
    "merge_refused": (("M",), "app-3"),
    "merge_insisting": (("M", "f"), "app-3"),
    "approve": (("A",), "app-2"),
    "request_changes": (("R",), "app-4"),
    "send_message": (("s",), "app-1"),
    "new_session": (("n",), None),
    "project_filter": (("p",), None),
    "theme_picker": (("t",), None),
    "diff": (("d",), "app-1"),
    "palette": (("slash", *"#1121"), None),
    "chat": (("c",), None),
    "stats": (("dollar_sign",), None),
}


@pytest.fixture(autouse=True)
def _fixed_socket_name(ao_home, monkeypatch: pytest.MonkeyPatch) -> None:
    """The terminal pane names the (absent) tmux socket: keep that name the same on every run."""
    monkeypatch.setenv("AO_TMUX_SOCKET", "ao-snapshots-no-server")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # the chat pane shows its setup line


def terminal_settled(app) -> bool:  # noqa: ANN001
    """The live terminal shows its session's (fake) screen at the pane's own size."""
    view = app.terminal.view
    if not hasattr(view, "screen_text") or app.terminal.session_id is None:
        return True
    if "Welcome to Claude Code" not in view.screen_text():
        return False
    region = view.scrollable_content_region
    if view.display and region.width >= 10 and region.height >= 3:
        model = view.screen_model
        return (model.columns, model.lines) == (region.width, region.height) and view._resize_timer is None
    return True


async def settle(pilot) -> None:  # noqa: ANN001
    app = pilot.app
    await pilot.pause(0.1)
    await workers_done(pilot)
    await pilot.pause()
    await wait_until(pilot, lambda: terminal_settled(app), timeout=10, what="the terminal pane")
    await pilot.pause(0.1)
    await workers_done(pilot)
    await pilot.pause()
    await steady_cursors(pilot)


def cases() -> list[tuple[str, str, str]]:
    """Every screen and modal, at both sizes, in every shipped theme."""
    return [(screen, size, theme) for screen in SCREENS for size in SIZES for theme in THEMES]


@pytest.mark.parametrize(("screen", "size", "theme"), cases())
def test_snapshot(screen: str, size: str, theme: str, make_app, snap_compare) -> None:
    keys, focus = SCREENS[screen]
    app = make_app(theme=theme, terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        if focus:
            pilot.app.jump_to(focus)
            await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        if screen == "palette":  # its search ended (on a loaded machine the busy bar shows meanwhile)
            await wait_until(pilot, lambda: not getattr(pilot.app.screen, "_show_busy", False)
                             and "jump to session" in screen_text(pilot.app), timeout=10, what="the palette's hits")
            await pilot.pause(0.3)
            await steady_cursors(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("tab", ["terminal", "detail"])
def test_snapshot_narrow_tabs(tab: str, make_app, snap_compare) -> None:
    """At 80x24 the panes are tabs; ] moves to the next one."""
    app = make_app(terminal_source=FleetTerminal)
    presses = ["right_square_bracket"] * (1 if tab == "terminal" else 2)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        await pilot.press(*presses)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize(("size", "dialog"), [("200x50", False), ("80x24", False), ("80x24", True)])
def test_snapshot_notices(size: str, dialog: bool, make_app, snap_compare) -> None:
    """The notices' toasts (tui/widgets/notices.py) in the corner, one per severity; at 80x24 the newest
    only, above the key line, or at the top over a dialog (never over its buttons)."""
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        if dialog:
            pilot.app.jump_to("app-3")
            await settle(pilot)
            await pilot.press("M")
            await wait_until(pilot, lambda: "Refusing to merge" in screen_text(pilot.app), timeout=10)
            await settle(pilot)
        pilot.app.notify("Started app-9", timeout=600)
        pilot.app.notify("going on past 1 budget for today", severity="warning", timeout=600)
        pilot.app.notify("app-1 needs you\npermission: Write src/loglevel.py", title="needs you", severity="error",
                         timeout=600)
        await wait_until(pilot, lambda: "src/loglevel.py" in screen_text(pilot.app), timeout=10, what="the toasts")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", list(SIZES))
def test_snapshot_history(size: str, make_app, fleet_engine, snap_compare) -> None:
    """A month of finished sessions: Done shows the last day's, then one dim line counting the 1,980
    older ones and how to see them (the list scrolled to its end)."""
    add_history(fleet_engine.store)
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        await pilot.press("G")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
