"""A session waiting out its usage limit (issue 14): in Working, with a countdown in its row and detail."""

from __future__ import annotations

from datetime import timedelta

from ao_tui.attention import Zone
from ao_tui.models import Activity, ActivityState, SessionStatus
from ao_tui.tui.app import AoApp
from tests.tui.fleet import NOW
from tests.tui.helpers import screen_text, wait_until


def _limit(engine, sid: str, until) -> None:  # noqa: ANN001
    updated = engine.store.transition(sid, SessionStatus.WORKING, reason="limit", activity=Activity(
        state=ActivityState.RATE_LIMITED, source="transcript", since=NOW - timedelta(minutes=3), until=until,
        detail="You've hit your session limit · resets 1:02pm (UTC)"))
    engine.announce(updated)


async def test_limited_session_counts_down_in_its_row_and_detail(fleet_engine):
    now = [NOW]
    app = AoApp(fleet_engine, clock=lambda: now[0], start_engine=False, watch_store=False)
    async with app.run_test(size=(240, 40)) as pilot:
        await pilot.pause()
        _limit(fleet_engine, "app-5", NOW + timedelta(hours=1, minutes=2, seconds=30))
        await wait_until(pilot, lambda: "usage limit · continues in 1h 02m" in screen_text(app),
                         what=lambda: screen_text(app))
        row = next(r for r in app.session_list.rows if r.session is not None and r.session.id == "app-5")
        assert row.zone is Zone.WORKING, "waiting out a limit needs nobody"
        app.jump_to("app-5")
        await pilot.pause()
        assert screen_text(app).count("usage limit · continues in 1h 02m") == 2  # the row and the detail
        now[0] = NOW + timedelta(hours=1, minutes=1, seconds=50)  # the countdown moves by itself, every second
        await wait_until(pilot, lambda: "usage limit · continues in 40s" in screen_text(app),
                         what=lambda: screen_text(app))


async def test_unknown_reset_says_it_waits_the_default(fleet_engine):
    app = AoApp(fleet_engine, clock=lambda: NOW, start_engine=False, watch_store=False)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        _limit(fleet_engine, "app-5", None)
        app.jump_to("app-5")
        await wait_until(pilot, lambda: "reset time not given" in screen_text(app), what=lambda: screen_text(app))
