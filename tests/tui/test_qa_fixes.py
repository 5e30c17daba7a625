"""Regressions QA found using the control room as a new user."""

from __future__ import annotations

import asyncio

import pytest

from tests.tui.helpers import screen_text, wait_until


async def _still_responds(pilot, app) -> None:  # noqa: ANN001
    await pilot.press("question_mark")
    await wait_until(pilot, lambda: "Keys" in screen_text(app), timeout=5, what="help screen")
    await pilot.press("escape")
    await wait_until(pilot, lambda: "Keys" not in screen_text(app), timeout=5, what="help closed")


async def send_burst(app, keys, gap: float = 0.0) -> None:  # noqa: ANN001
    """Keys as a fast typist (or a paste) delivers them: queued before the first is handled."""
    from textual import events

    for key in keys:
        char = {"right_square_bracket": "]", "slash": "/", "question_mark": "?", "escape": "\x1b"}.get(key, key)
        app.post_message(events.Key(key, char if len(char) == 1 else None))
        if gap:
            await asyncio.sleep(gap)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("burst", "gap"), [
    (("right_square_bracket", "right_square_bracket", "escape", "j"), 0.0),
    (("right_square_bracket", "right_square_bracket", "escape", "slash", "escape"), 0.0),
    (("escape", "1", "r", "escape"), 0.4),
])
async def test_tab_bursts_at_80x24_do_not_freeze(make_app, burst, gap) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await send_burst(app, burst, gap)
        await asyncio.wait_for(_still_responds(pilot, app), 15)
        assert app.active_tab in ("list", "terminal", "detail")
        await pilot.press("q")


async def test_clicking_a_tab_still_switches_pane(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.click("#tab-detail")
        await wait_until(pilot, lambda: app.active_tab == "detail", timeout=5, what="detail tab")
        # The detail pane fills in once the session's PR is read: wait for it, as a user would.
        await wait_until(pilot, lambda: "Pull request" in screen_text(app), timeout=10, what=lambda: screen_text(app))
        await pilot.click("#tab-list")
        await wait_until(pilot, lambda: app.active_tab == "list", timeout=5, what="list tab")


async def test_number_keys_only_move_the_cursor_and_typing_names_its_session(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("3")
        assert app.session_list.cursor_id == "app-2"
        assert len(app.screen_stack) == 1 and not app.terminal.input_mode  # nothing acted on app-2
        app.jump_to("app-5")
        await pilot.pause()
        await pilot.press("i")
        await wait_until(pilot, lambda: "INPUT app-5 — ctrl+] to leave" in screen_text(app), timeout=5,
                         what=lambda: screen_text(app))
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: not app.terminal.input_mode, timeout=5, what="left input mode")
        assert "INPUT" not in screen_text(app)


async def test_approve_dialog_does_not_contradict_the_pr_line(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import CheckState, ReviewState

    session = fleet_engine.session("app-4")
    pr = session.pr.model_copy(update={"ci": CheckState.PASSED, "review": ReviewState.PENDING})
    fleet_engine.store.update("app-4", pr=pr)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-4")
        await pilot.press("A")
        await wait_until(pilot, lambda: "Approve app-4?" in screen_text(app), timeout=5, what="approve dialog")
        text = screen_text(app)
        assert "review ? pending" in text
        assert "CI green: ready for your approval." in text
        assert "Approved and green" not in text
        await pilot.press("escape")
        app.jump_to("app-2")  # already approved
        await pilot.press("A")
        await wait_until(pilot, lambda: "Approve app-2?" in screen_text(app), timeout=5, what="approve dialog")
        assert "Already approved and CI green" in screen_text(app)
        await pilot.press("escape")
        app.jump_to("app-3")  # red CI: a blocker, named
        await pilot.press("A")
        await wait_until(pilot, lambda: "Refusing to approve: CI is failing" in screen_text(app), timeout=5,
                         what="blocker")


def _cell_backgrounds(app, y: int) -> list[str | None]:  # noqa: ANN001
    """The background colour of every cell of screen line ``y``."""
    from rich.cells import cell_len

    out: list[str | None] = []
    for seg in app.screen._compositor.render_strips()[y]:
        bg = seg.style.bgcolor.triplet.hex if seg.style and seg.style.bgcolor and seg.style.bgcolor.triplet else None
        out += [bg] * cell_len(seg.text)
    return out


@pytest.mark.parametrize("theme", ["dark", "light", "high-contrast"])
@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_cursor_row_is_highlighted_across_the_whole_row(make_app, theme, size) -> None:  # noqa: ANN001
    app = make_app(theme)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.jump_to("app-3")  # a row with every column filled: glyph, id, title, PR, activity, age, usage
        await pilot.pause()
        region = app.session_list.scrollable_content_region
        cursor_y = region.y + app.session_list._cursor_row - int(app.session_list.scroll_offset.y)
        assert "app-3" in screen_text(app).splitlines()[cursor_y]
        row = _cell_backgrounds(app, cursor_y)[region.x:region.right]
        other = _cell_backgrounds(app, cursor_y + 2)[region.x:region.right]  # app-4, not the cursor
        assert len(set(row)) == 1, f"cursor row backgrounds: {row}"
        assert row[0] != other[0]
