"""What the engine tells its notifiers shows in the TUI as a toast, as text."""

from __future__ import annotations

import threading


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
        await pilot.pause(0.2)
        toasts = list(app._notifications)
        assert any("app-1 needs you" in n.message for n in toasts)
        toast = next(n for n in toasts if "app-1 needs you" in n.message)
        assert toast.severity == "error"
        assert "[bold]CI still red[/bold]" in toast.message  # shown literally, not as markup
        assert "\x1b" not in toast.message
