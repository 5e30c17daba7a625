"""A long-used store: the control room reads the live fleet and the recently finished sessions, counts
the older ones on a line at the end of Done, and still finds any of them by id or PR number."""

from __future__ import annotations

import pytest

from ao_tui.attention import Zone
from ao_tui.models import SessionStatus
from ao_tui.store import Store
from tests.tui.fleet import HISTORY_OLDER as OLDER
from tests.tui.fleet import HISTORY_RECENT as RECENT
from tests.tui.fleet import add_history
from tests.tui.helpers import screen_text, wait_until


@pytest.fixture
def history_app(make_app, fleet_engine):
    add_history(fleet_engine.store)
    return make_app


def done_rows(app) -> list[str]:  # noqa: ANN001
    return [r.session.id for r in app.session_list.rows if r.zone is Zone.DONE and r.session is not None]


async def test_the_older_finished_sessions_are_counted_not_read(history_app, fleet_engine):
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert len(app.all_sessions) == 8 + RECENT  # the demo fleet and the recent ones: none of the older read
        assert done_rows(app) == ["hist-5000", "hist-5001", "app-7", "hist-5002"]  # the most recent first
        assert app.older == OLDER
        await pilot.press("G")  # the list's end: the last session, and the line after it
        await wait_until(pilot, lambda: "… 1,980 older finished · / finds one · ao ls --all" in screen_text(app),
                         what=lambda: f"the older sessions' line in\n{screen_text(app)}")
        assert app.session_list.cursor_id == "hist-5002"  # the line is no stop for the cursor
        await pilot.press("down")
        assert app.session_list.cursor_id == "hist-5002"
        assert app.session_list.jump_key == "/"
        # Another project shown: its own finished sessions only (it has none).
        app.project_filter = "web"
        app._sessions_changed()
        assert app.older == 0 and not any(r.older for r in app.session_list.rows)


async def test_a_session_finished_long_ago_is_found_by_pr_and_by_id(history_app):
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"#6010")  # hist-6010: done 9 days ago, PR #6010
        await wait_until(pilot, lambda: "hist-6010" in screen_text(app), what="the palette's hit")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session_list.cursor_id == "hist-6010", what="cursor on hist-6010")
        assert "hist-6010" in done_rows(app) and app.older == OLDER - 1
        await wait_until(pilot, lambda: "Finished task 6010" in screen_text(app), what="its detail")

        await pilot.press("slash")
        await pilot.pause()
        await pilot.press(*"hist-6011")  # killed, no PR: by its id
        await wait_until(pilot, lambda: "hist-6011" in screen_text(app), what="the palette's hit")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session_list.cursor_id == "hist-6011", what="cursor on hist-6011")
        app.reload_sessions()  # a store change: the sessions jumped to stay in the list
        assert {"hist-6010", "hist-6011"} <= set(done_rows(app)) and app.older == OLDER - 2
        assert app.session_list.cursor_id == "hist-6011"


async def test_a_session_finishing_while_the_app_runs_moves_to_done(history_app, fleet_engine):
    app = history_app(watch_store=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        other = Store(fleet_engine.store.path)  # another process's connection, as `ao kill` would have
        try:
            other.transition("app-5", SessionStatus.KILLED, reason="killed by the user")
        finally:
            other.close()
        await wait_until(pilot, lambda: "app-5" in done_rows(app), timeout=15, what="app-5 in Done")
        assert done_rows(app)[0] == "app-5"  # the most recent first
        assert app.older == OLDER


async def test_the_older_line_names_the_palette_key_the_user_chose(history_app, fleet_engine):
    fleet_engine.config.tui.keys = {"palette": "ctrl+k"}
    app = history_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("G")
        await wait_until(pilot, lambda: "… 1,980 older finished · ^k finds one by id or #PR · ao ls --all lists them"
                         in screen_text(app), what=lambda: f"the older sessions' line in\n{screen_text(app)}")
