"""Pilot tests: what a person sees and does in the control room."""

from __future__ import annotations

from ao_tui.attention import Zone
from ao_tui.models import Activity, ActivityState, SessionStatus
from ao_tui.store import Store
from tests.tui.helpers import notifications, screen_text, wait_until


def zone_of_row(app, session_id: str) -> Zone | None:
    for row in app.session_list.rows:
        if row.session is not None and row.session.id == session_id:
            return row.zone
    return None


async def test_zones_in_urgency_order_with_counts(make_app):
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        headers = ["Needs you 2", "Ready to merge 1", "Failing 1", "In review 1", "Working 2", "Done 1"]
        positions = [text.index(h) for h in headers]
        assert positions == sorted(positions)
        # the row of the session waiting for permission says what it asks
        assert "Bash: rm -rf build/" in text
        assert "#1121 ✓✓" in text


async def test_session_moves_zone_live_and_cursor_follows(make_app, fleet_engine):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-5")
        await pilot.pause()
        assert zone_of_row(app, "app-5") is Zone.WORKING
        updated = fleet_engine.store.transition(
            "app-5", SessionStatus.NEEDS_INPUT, reason="asks",
            activity=Activity(state=ActivityState.WAITING_INPUT, detail="Which database should I use?"))
        fleet_engine.announce(updated)  # what the engine does after every change
        await wait_until(pilot, lambda: zone_of_row(app, "app-5") is Zone.NEEDS_YOU, what="app-5 in Needs you")
        assert app.session_list.cursor_id == "app-5"
        assert app.session_list.cursor_session.id == "app-5"
        assert "Which database should I use?" in screen_text(app)
        assert "Needs you 3" in screen_text(app)


async def test_write_by_another_process_shows_up(make_app, fleet_engine):
    app = make_app(watch_store=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        other = Store(fleet_engine.store.path)  # another connection, as `ao run` would have
        try:
            other.transition("app-3", SessionStatus.WORKING, reason="agent fixing CI")
        finally:
            other.close()
        await wait_until(pilot, lambda: zone_of_row(app, "app-3") is Zone.WORKING, what="app-3 moved to Working")
        assert "Failing 0" in screen_text(app)


async def test_palette_jumps_by_pr_number(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.session_list.cursor_id != "app-3"
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"#1122")
        await wait_until(pilot, lambda: "app-3" in screen_text(app), what="palette hit")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session_list.cursor_id == "app-3", what="cursor on app-3")


async def test_number_keys_pick_rows_on_screen(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        assert app.session_list.cursor_id == "app-2"  # row 3: first of Ready to merge


async def test_merge_refuses_red_pr_until_insisted(make_app, fleet_engine):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-3")
        await pilot.press("M")
        await pilot.pause()
        text = screen_text(app)
        assert "Refusing to merge: CI is failing, not approved" in text
        await pilot.press("y")  # refused: the dialog stays, nothing merged
        await pilot.pause()
        assert "Refusing to merge" in screen_text(app)
        assert fleet_engine.session("app-3").status is SessionStatus.CI_FAILED
        await pilot.press("f")
        await pilot.pause()
        assert "Insisting despite: CI is failing" in screen_text(app)
        await pilot.press("y")
        # The engine was asked to merge with force: the local SCM has no PR record for this
        # fixture branch, so the person sees the engine's one-line reason, not a refusal.
        await wait_until(pilot, lambda: any("no local PR" in n for n in notifications(app)), what="merge attempted")
        assert not any("refusing" in n for n in notifications(app))


async def test_merge_green_pr_asks_once(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-2")
        await pilot.press("M")
        await pilot.pause()
        assert "Approved and green: ready to merge." in screen_text(app)
        await pilot.press("n")
        await pilot.pause()
        assert "ready to merge." not in screen_text(app)


async def test_approve_refuses_red_ci(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-3")
        await pilot.press("A")
        await pilot.pause()
        assert "Refusing to approve: CI is failing" in screen_text(app)
        await pilot.press("escape")


async def test_hostile_text_is_shown_literally(make_app):
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "[bold red]pwned[/] ␛[3" in text
        assert "␛[5mblink␛[0m [red]not" in text
        app.jump_to("app-4")
        await wait_until(pilot, lambda: "[link=http://evil]click[/link] ␛[2J␛[H" in screen_text(app),
                         what="comment shown as text")
        assert "\x1b" not in screen_text(app)


async def test_help_lists_every_binding(make_app):
    from ao_tui.tui.bindings import APP_BINDINGS

    app = make_app()
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        text = screen_text(app)
        for binding in APP_BINDINGS:
            if not binding.id.startswith("row_"):
                assert binding.id in text
        # QA: the keys a user looked for and did not find (leave typing, row numbers, copy the screen).
        for shown in ("^]", "1…9", "Copy screen", "detach with C-b d"):
            assert shown in text


async def test_keys_remapped_from_config(make_app, fleet_engine):
    fleet_engine.config.tui.keys = {"merge": "ctrl+g"}
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-2")
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert "ready to merge." in screen_text(app)


async def test_theme_choice_persists(make_app, fleet_engine):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        chosen = app.theme
        assert chosen != "dark"
    assert fleet_engine.store.get_setting("tui.theme") == chosen
    again = make_app(theme=None)
    assert again.theme == chosen


async def test_narrow_terminal_shows_panes_as_tabs(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.narrow
        assert "Needs you 2" in screen_text(app)
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause()
        assert app.active_tab == "detail"
        assert "Pull request" in screen_text(app)
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert not app.narrow
        text = screen_text(app)
        assert "Needs you 2" in text and "Pull request" in text


async def test_engine_errors_become_notifications(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-2")
        await pilot.press("d")  # app-2 has no workspace
        await wait_until(pilot, lambda: any("no workspace" in n for n in notifications(app)), what="notification")


async def test_chat_pane_toggles(make_app, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("c")
        await wait_until(pilot, lambda: "Orchestrator" in screen_text(app), what="chat pane shown")
        assert app.chat_visible
        app.set_focus(app.session_list)
        await pilot.press("c")
        await pilot.pause()
        assert "Orchestrator" not in screen_text(app)


async def test_no_color_is_honoured(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        colours = set()
        for strip in app.screen._compositor.render_strips():
            for filt in app._filters:
                strip = strip.apply_filter(filt, app.styles.background)
            for segment in strip:
                for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                    if colour is not None and colour.triplet is not None:
                        colours.add(colour.triplet)
        assert colours and all(r == g == b for r, g, b in colours)  # only greys on screen


async def test_filter_by_project(make_app):
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert "web-1" in screen_text(app) and "app-2" in screen_text(app)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # All projects, app, web
        await pilot.pause()
        text = screen_text(app)
        assert "web-1" in text and "app-2" not in text
        assert "project: web" in text
        app.jump_to("app-2")  # a jump clears a filter that hides its session
        await pilot.pause()
        assert app.project_filter is None and app.session_list.cursor_id == "app-2"


async def test_mouse_click_selects_a_row(make_app):
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        rows = app.session_list.rows
        index = next(i for i, row in enumerate(rows) if row.session is not None and row.session.id == "app-4")
        await pilot.click("#sessions", offset=(10, index + 1))  # +1: the pane's top border
        await pilot.pause()
        assert app.session_list.cursor_id == "app-4"
