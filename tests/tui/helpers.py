"""Reading back what the app shows, and waiting for it with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def screen_text(app: Any) -> str:
    """The characters on the app's screen right now, line by line."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def wait_until(pilot: Any, predicate: Callable[[], Any], timeout: float = 10.0,
                     what: str | Callable[[], str] = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {detail or predicate}")
        await pilot.pause(0.05)
        await asyncio.sleep(0)


def toasts_on_view(app: Any, screen: Any = None) -> list[Any]:
    """The notices' toasts showing on ``screen`` (the one on top by default), oldest first."""
    from ao_tui.tui.widgets.notices import NoticeToast

    return [t for t in (screen or app.screen).query(NoticeToast) if t.display and t.notice is not None]


def notifications(app: Any) -> list[str]:
    """What the toasts on view say (each notice's message, without its title), oldest first."""
    return [t.notice.message for t in toasts_on_view(app)]


async def workers_done(pilot: Any) -> None:
    """Every worker finished. A jump under load starts two detail loads (the jump's and the cursor's),
    and the second cancels the first, which ``wait_for_complete`` raises: wait again then."""
    from textual.worker import WorkerCancelled

    for _ in range(5):
        try:
            await pilot.app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            await pilot.pause(0.1)
    await pilot.app.workers.wait_for_complete()


async def steady_cursors(pilot: Any) -> None:
    """No blinking cursor in a snapshot (on a loaded machine the blink timer fires before the
    capture): switched off once focus has settled (the watcher decides visibility from focus, so it
    runs again after a pause)."""
    for _ in range(2):
        for widget in pilot.app.screen.query("TextArea, Input"):
            widget.cursor_blink = True
            widget.cursor_blink = False
        await pilot.pause(0.05)
    # Turning blink on for a moment wakes the paused blink timer: its tick can land after the
    # blink is off again (a loaded machine: palette-200x50 failed so, its input's cursor hidden).
    # With blink off the timer stays paused from then on, so showing the cursor once is final.
    for _ in range(10):
        hidden = [w for w in pilot.app.screen.query("TextArea, Input") if w.has_focus and not w._cursor_visible]
        if not hidden:
            return
        for widget in hidden:
            widget._cursor_visible = True  # what the blink watcher does when blink goes off
        await pilot.pause(0.05)
