"""Keys, the footer and the session rows as a new user meets them: tab bursts, clicks, number keys,
the cursor row, status words, the footer's keys and attaching."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.tui.helpers import screen_text, wait_until, workers_done


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


#: What an internal name looks like: ``review_pending``, ``needs_input``, ``new_session``.
SNAKE_CASE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _internal_names(text: str) -> list[str]:
    return SNAKE_CASE.findall(text)


async def test_no_internal_status_name_on_any_screen_of_the_fleet(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import ActivityState, CheckState, ReviewState, SessionStatus

    raw = {v.value for enum in (SessionStatus, ActivityState, CheckState, ReviewState) for v in enum if "_" in v.value}
    assert {"review_pending", "needs_input", "pr_open", "changes_requested", "ci_failed"} <= raw
    app = make_app()
    seen: dict[str, str] = {}
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        for session in fleet_engine.sessions():
            app.jump_to(session.id)
            await wait_until(pilot, lambda s=session: app.detail.session_id == s.id and "Commits" in app.detail.text()
                             and "loading" not in app.detail.text(), timeout=10, what=f"detail of {session.id}")
            await workers_done(pilot)
            await pilot.pause(0.2)
            seen[f"main/{session.id}"] = screen_text(app)
            seen[f"detail/{session.id}"] = app.detail.text()
        assert "web-1  Needs you  no output for 55m" in seen["detail/web-1"]
        assert "no running terminal (no output for 55m); r restores it" in seen["main/web-1"]
        assert "waiting for review for 40m" in seen["detail/app-4"]
        for keys, focus, title in ((("r",), "web-1", "Restore web-1?"), (("x",), "app-5", "Kill app-5?"),
                                   (("M",), "app-3", "Merge app-3"), (("A",), "app-4", "Approve app-4?")):
            app.jump_to(focus)
            await pilot.press(*keys)
            await wait_until(pilot, lambda t=title: t in screen_text(app), timeout=5, what=title)
            seen[title] = screen_text(app)
            await pilot.press("escape")
            await wait_until(pilot, lambda: len(app.screen_stack) == 1, timeout=5, what="dialog closed")
        assert "Now: no output for 55m." in seen["Restore web-1?"]
        for query in ("", "app", "review"):
            await pilot.press("slash", *query)
            await pilot.pause(0.4)
            seen[f"palette/{query}"] = screen_text(app)
            await pilot.press("escape")
            await pilot.pause()
        assert any("app-4" in line and "In review · waiting for review" in line
                   for line in seen["palette/review"].splitlines()), seen["palette/review"]
    async with make_app().run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        seen["narrow"] = screen_text(pilot.app)
    found = {name: _internal_names(text) for name, text in seen.items() if _internal_names(text)}
    assert not found, found


def _row(text: str, session_id: str) -> str:
    return next(line for line in text.splitlines() if f" {session_id} " in line)


async def test_activity_column_says_what_matters_in_each_zone(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import SessionStatus

    fleet_engine.store.transition("app-5", SessionStatus.KILLED, reason="test")
    fleet_engine.store.transition("app-6", SessionStatus.EXITED, reason="test", exit_code=3)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    assert "#1121 ✓✓ CI green · approved" in _row(text, "app-2")  # Ready to merge
    assert "CI failed: tests (3 failed)" in _row(text, "app-3")  # Failing, with the failing check
    assert "waiting for review · CI run" in _row(text, "app-4")  # In review (cut by the column)
    assert "merged 5h ago" in _row(text, "app-7")  # Done
    assert "killed" in _row(text, "app-5")
    assert "exited (code 3)" in _row(text, "app-6")
    for sid in ("app-2", "app-3", "app-4", "app-5", "app-7"):
        assert "working" not in _row(text, sid), _row(text, sid)


def test_what_matters_for_agents_at_rest_and_reviews() -> None:
    from ao_tui.models import Activity, ActivityState, PullRequest, ReviewComment, ReviewState, SessionStatus
    from ao_tui.tui.wording import what_matters
    from tests.tui.fleet import NOW, demo_sessions

    working = next(s for s in demo_sessions() if s.id == "app-5")
    idle = working.model_copy(update={"status": SessionStatus.IDLE,
                                      "activity": Activity(state=ActivityState.IDLE, since=NOW)})
    assert what_matters(idle, NOW) == "at its prompt"
    assert what_matters(working, NOW) == "Edit src/index.py"  # working rows keep the tool and file
    changes = working.model_copy(update={"status": SessionStatus.CHANGES_REQUESTED, "pr": PullRequest(
        number=7, review=ReviewState.CHANGES_REQUESTED,
        comments=[ReviewComment(id="1", body="a"), ReviewComment(id="2", body="b")])})
    assert what_matters(changes, NOW) == "changes requested · 2 comments"
    exited = working.model_copy(update={"status": SessionStatus.EXITED, "exit_code": None})
    assert what_matters(exited, NOW) == "agent exited"


def _footer(app) -> str:  # noqa: ANN001
    return screen_text(app).splitlines()[-1]


def _footer_labels() -> set[str]:
    """Every label a footer item may carry: the bindings' descriptions (and the footer's shorter words)."""
    from ao_tui.tui.bindings import APP_BINDINGS, LIST_BINDINGS
    from ao_tui.tui.chat_pane import ChatPane
    from ao_tui.tui.terminal_view import TerminalView
    from ao_tui.tui.widgets.key_footer import LABELS

    bindings = [*APP_BINDINGS, *LIST_BINDINGS, *TerminalView.BINDINGS, *ChatPane.BINDINGS]
    return {b.description for b in bindings} | set(LABELS.values())  # type: ignore[union-attr]


def _assert_whole_keys(line: str, width: int, labels: set[str]) -> list[str]:
    """The footer's items; each one is a key and a whole label, and the line fits."""
    assert len(line) <= width
    items = [item for item in line.strip().split("  ") if item]
    notes = {"? Help from the list"} | {f"every other key goes to {sid}" for sid in ("app-1", "app-2", "app-5")}
    for item in items:
        if item in notes:
            continue
        key, _, label = item.partition(" ")
        assert key and label in labels, f"cut or unknown item {item!r} in {line!r}"
    return items


@pytest.mark.parametrize("width", [80, 100, 120, 200])
async def test_footer_never_cuts_a_key_and_always_offers_help(make_app, width) -> None:  # noqa: ANN001
    labels = _footer_labels()
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        seen: dict[str, list[str]] = {}
        for sid in ("web-1", "app-2", "app-4", "app-7"):
            app.jump_to(sid)
            await pilot.pause()
            seen[f"list/{sid}"] = _assert_whole_keys(_footer(app), width, labels)
        app.jump_to("app-2")
        await pilot.press("right_square_bracket")  # the terminal pane
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "terminal-view", timeout=5,
                         what="terminal focused")
        await pilot.pause()
        seen["terminal"] = _assert_whole_keys(_footer(app), width, labels)
        app.detail.focus()
        await pilot.pause()
        seen["detail"] = _assert_whole_keys(_footer(app), width, labels)
        await pilot.press("escape")
        await pilot.press("i")
        await wait_until(pilot, lambda: app.terminal.input_mode, timeout=5, what="typing")
        await pilot.pause()
        seen["typing"] = _assert_whole_keys(_footer(app), width, labels)
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: not app.terminal.input_mode, timeout=5, what="not typing")
    for where, items in seen.items():
        if where == "typing":
            assert items == ["^] Stop typing", "every other key goes to app-2"]
        else:
            assert "? Help" in items, (where, items)
    assert seen["list/app-2"][:4] == ["⏎ Open", "? Help", "M Merge", "A Approve"]  # what Ready to merge asks
    assert "M Merge" not in seen["list/web-1"]  # no PR
    assert "r Restore" in seen["list/web-1"] or width < 90
    if width >= 200:
        assert "q Quit" in seen["list/web-1"]


async def test_footer_shows_remapped_keys(make_app, fleet_engine) -> None:  # noqa: ANN001
    fleet_engine.config.tui.keys = {"merge": "ctrl+g"}
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.jump_to("app-2")
        await pilot.pause()
        assert "^g Merge" in _footer(app)
        assert "M Merge" not in _footer(app)


async def test_clicking_a_footer_key_presses_it(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        x = _footer(app).index("? Help")
        await pilot.click("#footer", offset=(x + 2, 0))
        await wait_until(pilot, lambda: "Keys" in screen_text(app), timeout=5, what="help screen")


async def test_attach_says_how_to_come_back_before_taking_the_terminal(make_app, tmux_socket) -> None:  # noqa: ANN001
    import subprocess

    from tests.tui.helpers import notifications

    # A real tmux session named as app-5's handle on ao's private socket: the engine's attach command is real.
    subprocess.run(["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "app-5", "-x", "80", "-y", "24"],
                   check=True, timeout=10)
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        app.jump_to("app-5")
        await pilot.press("a")
        line = "Attaching to app-5 — detach with C-b d (ctrl+b then d)"
        await wait_until(pilot, lambda: line in notifications(app), timeout=5, what=lambda: str(notifications(app)))
        await pilot.pause(0.2)
        assert "Attaching to app-5" in screen_text(app) and "C-b d" in screen_text(app)  # the toast, on screen
        assert not any("cannot suspend" in n for n in notifications(app))  # ... before attaching is tried
        # Headless, there is no terminal to hand over: the attach itself is tried after the toast.
        await wait_until(pilot, lambda: any("cannot suspend to attach" in n for n in notifications(app)),
                         timeout=5, what="the attach attempt")


def test_detach_hint_for_each_way_of_attaching() -> None:
    from ao_tui.tui.attach import detach_hint

    inside = ["tmux", "-L", "ao", "set-option", "-w", "x", ";", "switch-client", "-t", "=app-5"]
    assert detach_hint("app-5", inside) == ("Switching to app-5 — come back with C-b L "
                                            "(ctrl+b then L, tmux's last session)")
    outside = ["env", "-u", "TMUX", "/usr/bin/tmux", "-L", "ao", "attach-session", "-t", "=app-5"]
    assert detach_hint("app-5", outside) == "Attaching to app-5 — detach with C-b d (ctrl+b then d)"
    pty = ["/usr/bin/python3", "-m", "ao_tui_plugins.pty_supervisor", "attach", "/x/app-5.sock"]
    assert detach_hint("app-5", pty) == "Attaching to app-5 — detach with ctrl+]"
