"""What the engine tells its notifiers shows in the TUI as a toast, as text."""

from __future__ import annotations

import threading

from tests.tui.helpers import screen_text, toasts_on_view, wait_until


async def test_engine_notification_from_another_thread_becomes_a_toast(make_app, fleet_engine):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        worker = threading.Thread(
            target=fleet_engine.notify,
            args=("app-1 needs you", "retries exhausted: [bold]CI still red[/bold] \x1b[31m"),
            kwargs={"session_id": "app-1", "urgency": "critical"},
        )
        worker.start()
        worker.join()
        await wait_until(pilot, lambda: "app-1 needs you" in screen_text(app), timeout=5, what=lambda: screen_text(app))
        text = screen_text(app)
        assert "[bold]CI still red[/bold]" in text  # shown literally, not as markup
        assert "\x1b" not in text
        toast = next(t for t in toasts_on_view(app) if "app-1 needs you" in str(t.render()))
        assert toast.has_class("-error")  # critical: the error toast's red border and title


async def test_a_clicked_toast_goes_and_one_runs_out_by_itself(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.notify("click me away", timeout=600)
        await wait_until(pilot, lambda: "click me away" in screen_text(app), timeout=5)
        await pilot.click(toasts_on_view(app)[0])
        await wait_until(pilot, lambda: "click me away" not in screen_text(app), timeout=5, what="the clicked toast gone")
        app.notify("gone in a moment", timeout=4)
        await wait_until(pilot, lambda: "gone in a moment" in screen_text(app), timeout=4)
        await wait_until(pilot, lambda: "gone in a moment" not in screen_text(app), timeout=10, what="the toast expired")
        assert not toasts_on_view(app) and not app.notices


async def test_notices_reuse_the_same_few_toasts(make_app):
    """A busy fleet says something every couple of seconds: no widget is mounted or removed per notice
    (Textual's rack mounted two and removed them, and its render caches kept them alive for a while)."""
    from ao_tui.tui.widgets.notices import NoticeToast

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for n in range(3):
            app.notify(f"first round {n}", timeout=60)
        await wait_until(pilot, lambda: len(toasts_on_view(app)) == 3, timeout=5)
        pool = list(app.screen.query(NoticeToast))
        for round_ in range(5):
            await pilot.press("ctrl+l")
            await wait_until(pilot, lambda: not toasts_on_view(app), timeout=5, what="cleared")
            for n in range(3):
                app.notify(f"round {round_} notice {n}", timeout=60)
            await wait_until(pilot, lambda: len(toasts_on_view(app)) == 3, timeout=5)
        assert list(app.screen.query(NoticeToast)) == pool
        assert "round 4 notice 2" in screen_text(app) and "round 3" not in screen_text(app)


async def test_a_notice_raised_over_a_dialog_stays_when_the_dialog_closes(make_app):
    from ao_tui.tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), timeout=5)
        app.notify("said while the help was open", timeout=60)
        await wait_until(pilot, lambda: "said while the help was open" in screen_text(app), timeout=5)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen), timeout=5)
        await wait_until(pilot, lambda: "said while the help was open" in screen_text(app), timeout=5,
                         what="the notice on the main screen")
        assert len(toasts_on_view(app)) == 1
