"""The demo fleet's screens at 80x24 and 200x50: notices, the rows' age, doing and branch columns, the
diff, merge, send and new-session dialogs, help, the palette and the backlog picker."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from tests.tui.fleet import NOW, FleetTerminal, git_env
from tests.tui.helpers import notifications, screen_text, toasts_on_view, wait_until, workers_done


def _row(text: str, session_id: str) -> str:
    """The session list's row of ``session_id`` (hint, glyph, id...)."""
    import re

    row = re.compile(rf"[\d ] \S {re.escape(session_id)} ")
    return next(line for line in text.splitlines() if row.search(line))


def _notify_from_engine_thread(engine, title: str, body: str = "", urgency: str = "normal") -> None:  # noqa: ANN001
    worker = threading.Thread(target=engine.notify, args=(title, body), kwargs={"urgency": urgency})
    worker.start()
    worker.join()


# -- 1. notices at 80x24 ------------------------------------------------------------------


async def test_a_narrow_screen_shows_one_notice_at_a_time_and_ctrl_l_clears_it(make_app, fleet_engine) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        for n in range(4):
            _notify_from_engine_thread(fleet_engine, f"app-{n} looks stuck", "no progress for 25s")
            await pilot.pause(0.05)
        await wait_until(pilot, lambda: "app-3 looks stuck" in " ".join(notifications(app)), timeout=5)
        assert notifications(app) == ["app-3 looks stuck\nno progress for 25s"]  # the newest only
        await wait_until(pilot, lambda: len(toasts_on_view(app)) == 1, timeout=5, what="one toast on screen")
        await pilot.pause(0.2)
        toast, footer = toasts_on_view(app)[0].region, app.query_one("#footer").region
        # Above the key line, below the list's first rows (Needs you), and no lower with every notice.
        assert toast.bottom == footer.y and toast.height <= 3, (toast, footer)
        assert toast.y > app.session_list.region.y + 3
        await wait_until(pilot, lambda: "Clear" in app.query_one("#footer").shown_text(), timeout=5,
                         what="the footer names the key that clears it")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: not notifications(app), timeout=5, what="notices cleared")
        await pilot.pause(0.1)
        assert "app-3 looks stuck" not in screen_text(app)


async def test_at_phone_width_two_quick_notices_show_one_toast(make_app, fleet_engine) -> None:  # noqa: ANN001
    """Issue 15: two notices once seen stacked in a phone-sized browser (``ao-tui --serve``)."""
    app = make_app()
    async with app.run_test(size=(40, 30), notifications=True) as pilot:
        await pilot.pause()
        _notify_from_engine_thread(fleet_engine, "app-1 looks stuck", "no progress for 25s")
        _notify_from_engine_thread(fleet_engine, "app-2: ready to merge", "approved and green")
        await wait_until(pilot, lambda: "app-2: ready to merge" in screen_text(app), timeout=5)
        assert notifications(app) == ["app-2: ready to merge\napproved and green"]
        assert len(toasts_on_view(app)) == 1 and "app-1 looks stuck" not in screen_text(app)


async def test_notices_stacked_while_wide_leave_the_newest_when_the_screen_narrows(make_app) -> None:  # noqa: ANN001
    """A browser page starting wide then sized to a phone (or a window narrowed) kept its stacked toasts."""
    app = make_app()
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        await pilot.pause()
        app.notify("app-1 looks stuck")
        app.notify("app-2: ready to merge")
        await wait_until(pilot, lambda: len(toasts_on_view(app)) == 2, timeout=5, what="two toasts, wide")
        await pilot.resize_terminal(40, 30)
        await wait_until(pilot, lambda: len(toasts_on_view(app)) == 1, timeout=5, what="one toast, narrow")
        assert notifications(app) == ["app-2: ready to merge"]
        await wait_until(pilot, lambda: "app-1 looks stuck" not in screen_text(app), timeout=5)
        assert "app-2: ready to merge" in screen_text(app)


async def test_a_wide_screen_still_stacks_notices(make_app, fleet_engine) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        for n in range(3):
            _notify_from_engine_thread(fleet_engine, f"app-{n} looks stuck")
        await wait_until(pilot, lambda: len(notifications(app)) == 3, timeout=5)


async def test_a_notice_never_covers_the_merge_dialogs_buttons_at_80x24(make_app, fleet_engine) -> None:  # noqa: ANN001
    from textual.widgets import Button

    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        app.jump_to("app-3")  # CI red: the dialog refuses, with three buttons and a long verdict
        await pilot.pause()
        _notify_from_engine_thread(fleet_engine, "app-2: approved and green, ready to merge")
        await wait_until(pilot, lambda: toasts_on_view(app), timeout=5, what="a toast on the main screen")
        await pilot.press("M")
        await wait_until(pilot, lambda: "Refusing to merge" in screen_text(app), timeout=5)
        _notify_from_engine_thread(fleet_engine, "demo-6 looks stuck",
                                   "no progress for 25s\nretries exhausted\nescalated to you", urgency="critical")
        await wait_until(pilot, lambda: toasts_on_view(app), timeout=5, what="a toast on the dialog")
        await pilot.pause(0.2)
        # The main screen shows through the dialog: its older toast is gone, one toast is on screen.
        assert sum(len(toasts_on_view(app, screen)) for screen in app.screen_stack) == 1
        toast = toasts_on_view(app)[0].region
        for button in app.screen.query(Button):
            if button.display:
                assert not toast.overlaps(button.region), (toast, button.id, button.region)
        dialog = app.screen.query_one(".dialog").region
        assert not toast.overlaps(dialog), (toast, dialog)  # at the top: a dialog this short is not touched
        text = screen_text(app)
        assert "demo-6 looks stuck" in text
        assert "Merge anyway (f)" in text and "Cancel (n)" in text


async def test_engine_notices_say_paths_relative_to_the_workspace(make_app, fleet_engine) -> None:  # noqa: ANN001
    ws = fleet_engine.session("app-1").workspace
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        worker = threading.Thread(target=fleet_engine.notify, args=("app-1 needs your input",
                                                                   f"permission: Write {ws}/src/loglevel.py"),
                                  kwargs={"session_id": "app-1"})
        worker.start()
        worker.join()
        await wait_until(pilot, lambda: notifications(app), timeout=5)
        assert notifications(app) == ["app-1 needs your input\npermission: Write src/loglevel.py"]


# -- 2. a stuck row counts from the last output ----------------------------------------------


def test_stuck_counts_from_the_agents_last_activity_not_from_when_it_was_called_stuck() -> None:
    from ao_tui.models import Activity, ActivityState, SessionStatus
    from ao_tui.tui.widgets.session_list import activity_text
    from ao_tui.tui.wording import status_since
    from tests.tui.fleet import demo_sessions

    stuck = demo_sessions()[0].model_copy(update={
        "status": SessionStatus.STUCK, "status_since": NOW, "escalation": None,
        "activity": Activity(state=ActivityState.RUNNING_TOOL, source="hook", since=NOW - timedelta(seconds=25),
                             detail="Bash python -m integration_suite", tool="Bash"),
    })
    assert activity_text(stuck, NOW) == "no output for 25s"  # was "no output for 0s"
    assert status_since(stuck, NOW) == "no output for 25s"


async def test_a_stuck_rows_age_column_counts_from_the_last_output(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import Activity, ActivityState, SessionStatus

    fleet_engine.store.update("app-5", activity=Activity(state=ActivityState.RUNNING_TOOL, source="hook",
                                                           since=NOW - timedelta(seconds=25), tool="Bash",
                                                           detail="Bash sleep 600"))
    fleet_engine.store.transition("app-5", SessionStatus.STUCK, reason="no progress for 25s")
    fleet_engine.store.update("app-5", status_since=NOW)  # the engine noticed just now (the fixed clock's now)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        row = _row(screen_text(app), "app-5")
    assert "no output for 25s" in row and " 25s " in row, row


# -- 3. the status bar keeps its right side at 80 columns ------------------------------------------


@pytest.mark.parametrize("width", [80, 90, 100, 120, 200])
def test_the_status_bar_never_drops_project_engine_or_clock(width: int) -> None:
    from ao_tui.tui.widgets.status_bar import status_text
    from tests.tui.fleet import demo_sessions

    sessions = demo_sessions()  # five busy zones
    text = status_text(sessions, None, "running", NOW, width).plain
    assert len(text) <= width
    assert "engine running" in text and "all" in text and text.rstrip().endswith(
        NOW.astimezone().strftime("%H:%M")), text
    for word in ("you", "ready", "fail", "review", "work"):
        assert word in text, (word, text)  # at 80 columns the zones still say their names
    filtered = status_text(sessions, "web", "following", NOW, 80).plain
    assert "web" in filtered and "engine following" in filtered


@pytest.mark.parametrize("width", [80, 90, 100, 120, 200])
def test_a_running_merge_train_fits_the_status_bar_beside_project_engine_and_clock(width: int) -> None:
    from ao_tui.tui.widgets.status_bar import status_text
    from tests.tui.fleet import demo_sessions

    train = [{"project": "app", "position": 2, "of": 4, "session": "app-3", "doing": "waiting for CI"}]
    text = status_text(demo_sessions(), None, "running", NOW, width, trains=train).plain
    assert len(text) <= width and "engine running" in text and "all" in text, text
    assert "train 2/4 · app-3 " + ("in CI" if width == 80 else "waiting for CI") in text, text


# -- 4. a following app shows notices too ------------------------------------------------------


async def test_a_following_app_derives_notices_from_the_store_once_each(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import Activity, ActivityState, CheckState, ReviewState, SessionStatus
    from ao_tui.tui.app import EngineState

    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.post_message(EngineState("following"))  # another process (ao run, another ao-tui) runs the engine
        await pilot.pause()
        assert notifications(app) == []  # what was already so when it started is not news
        store = fleet_engine.store
        # Another process writes the store: app-5 asks permission, app-4's CI goes green and it is approved,
        # app-6 opens a PR whose CI fails.
        store.update("app-5", activity=Activity(state=ActivityState.WAITING_PERMISSION, source="hook", since=NOW,
                                                  detail="permission: Edit /nonexistent/app-5/src/index.py",
                                                  tool="Edit"))
        pr4 = store.get_session("app-4").pr.model_copy(update={"ci": CheckState.PASSED, "review": ReviewState.APPROVED})
        store.transition("app-4", SessionStatus.MERGEABLE, reason="test", pr=pr4)
        from ao_tui.models import Check, PullRequest

        store.transition("app-6", SessionStatus.CI_FAILED, reason="test",
                         pr=PullRequest(number=1130, ci=CheckState.FAILED,
                                        checks=[Check(name="check.py", state=CheckState.FAILED)]))
        app.reload_sessions()  # what the store watch does when another process wrote
        await wait_until(pilot, lambda: len(notifications(app)) >= 3, timeout=5,
                         what=lambda: str(notifications(app)))
        said = notifications(app)
        assert "app-5 needs you\npermission: Edit src/index.py" in said
        assert "app-4: approved and green, ready to merge\nDark mode for the dashboard" in said
        assert "app-6: CI failed\nfailing: check.py" in said
        # The same facts read again (another write elsewhere in the store) say nothing new.
        app.clear_notifications()
        store.update("app-2", last_message="hello")
        app.reload_sessions()
        await pilot.pause(0.3)
        assert notifications(app) == []


async def test_the_app_that_runs_the_engine_derives_no_notices(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import Activity, ActivityState
    from ao_tui.tui.app import EngineState

    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.post_message(EngineState("running"))  # its own engine says what happens (no duplicates)
        await pilot.pause()
        fleet_engine.store.update("app-5", activity=Activity(state=ActivityState.WAITING_INPUT, source="hook",
                                                               since=NOW, detail="Which database?"))
        app.reload_sessions()
        await wait_until(pilot, lambda: "Which database?" in screen_text(app), timeout=5)
        assert notifications(app) == []


# -- 5. the "doing" column ----------------------------------------------------------------------


def test_doing_names_the_tool_once_and_keeps_the_file_name() -> None:
    from ao_tui.models import Activity, ActivityState
    from ao_tui.tui.wording import what_agent_does
    from tests.tui.fleet import demo_sessions

    base = demo_sessions()[0].model_copy(update={"workspace": "/tmp/ao-demo-x1/ws/demo-1"})

    def doing(detail: str, tool: str | None) -> str:
        activity = Activity(state=ActivityState.WAITING_PERMISSION, source="hook", since=NOW, detail=detail,
                            tool=tool)
        return what_agent_does(base.model_copy(update={"activity": activity}))

    assert doing("permission: Edit /tmp/ao-demo-x1/ws/demo-1/app.py", "Edit") == "permission: Edit app.py"
    assert doing("permission: Write /tmp/ao-demo-x1/ws/demo-1/src/greet.py", "Write") == \
        "permission: Write src/greet.py"
    assert doing("Edit /tmp/ao-demo-x1/ws/demo-1/app.py", "Edit") == "Edit app.py"
    assert doing("Read /usr/lib/python3.11/site-packages/textual/app.py", "Read") == "Read …/textual/app.py"
    assert doing("src/index.py", "Edit") == "Edit src/index.py"
    assert doing("see https://example.com/a/b/c", None) == "see https://example.com/a/b/c"


async def test_the_doing_column_shows_the_file_at_80x24(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import Activity, ActivityState

    ws = fleet_engine.session("app-1").workspace
    fleet_engine.store.update("app-1", activity=Activity(
        state=ActivityState.WAITING_PERMISSION, source="hook", since=NOW - timedelta(minutes=3), tool="Edit",
        detail=f"permission: Edit {ws}/src/app.py"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "allow? Edit app.py" in _row(screen_text(app), "app-1")  # 20 cells: the file name stays whole
    async with make_app().run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        assert "permission: Edit src/app.py" in _row(screen_text(pilot.app), "app-1")


# -- 6. the branch -----------------------------------------------------------------------------


async def test_rows_show_the_branch_at_200x50(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        text = screen_text(app)
    for sid in ("app-1", "app-2", "web-1"):
        assert f"ao/{sid}" in _row(text, sid)


async def test_at_80x24_the_branch_follows_a_short_title_and_is_in_the_detail(make_app, fleet_engine) -> None:  # noqa: ANN001
    fleet_engine.store.update("app-5", task_title="Speed up")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Speed up  ao/app-5" in _row(screen_text(app), "app-5")
        app.jump_to("app-2")
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_until(pilot, lambda: "branch   ao/app-2" in screen_text(app), timeout=5,
                         what=lambda: screen_text(app))


# -- 7. d for a finished session -------------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **git_env()})
    return done.stdout.strip()


async def test_diff_of_a_retired_session_is_read_from_the_repository(make_app, fleet_engine) -> None:  # noqa: ANN001
    """The engine removed app-7's workspace after the merge; its commits are still in the repository."""
    from ao_tui.tui.screens.diff import DiffScreen

    repo = fleet_engine.config.projects["app"].repo
    scratch = repo.parent / "app-7-work"
    _git(repo, "worktree", "add", "-q", "-b", "ao/app-7", str(scratch), "main")
    (scratch / "exporter.py").write_text("# legacy exporter removed\n")
    _git(scratch, "add", "-A")
    _git(scratch, "commit", "-q", "-m", "Remove the legacy exporter")
    head = _git(scratch, "rev-parse", "HEAD")
    _git(repo, "worktree", "remove", "--force", str(scratch))
    _git(repo, "branch", "-D", "ao/app-7")  # even the branch is gone: the PR's head commit is enough
    pr = fleet_engine.session("app-7").pr.model_copy(update={"head_sha": head})
    fleet_engine.store.update("app-7", pr=pr)
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.jump_to("app-7")
        await pilot.pause()
        assert "d Diff" in app.query_one("#footer").shown_text()
        # Commits and changed files, read in the background ("loading…" meanwhile), not "no workspace".
        await wait_until(pilot, lambda: "exporter.py" in app.detail.text(), timeout=10,
                         what=lambda: app.detail.text())
        assert "Remove the legacy exporter" in app.detail.text()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), timeout=5,
                         what=lambda: str(notifications(app)))
        await wait_until(pilot, lambda: "+# legacy exporter removed" in screen_text(app), timeout=5,
                         what=lambda: screen_text(app))
        assert "the workspace is gone" in screen_text(app)
        assert not any("has no workspace" in n for n in notifications(app))


async def test_d_is_not_offered_where_nothing_can_be_shown(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.jump_to("app-7")  # merged, workspace gone, no commit recorded
        await pilot.pause(0.2)
        assert "Diff" not in app.query_one("#footer").shown_text()
        await pilot.press("d")
        await wait_until(pilot, lambda: notifications(app), timeout=5)
        assert "no workspace and no PR" in notifications(app)[-1]
        assert len(app.screen_stack) == 1


# -- 8. the merge dialog follows its session ------------------------------------------------------


async def test_the_merge_dialog_refreshes_and_insisting_holds_only_for_what_was_shown(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import CheckState, ReviewState
    from ao_tui.tui.app import SessionChanged
    from ao_tui.tui.screens.confirm import MergeScreen

    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.jump_to("app-4")  # CI running, review pending
        await pilot.pause()
        await pilot.press("M")
        await wait_until(pilot, lambda: isinstance(app.screen, MergeScreen), timeout=5)
        dialog = app.screen
        assert "CI has not finished" in screen_text(app)
        await pilot.press("f")  # insist past "CI has not finished, not approved"
        assert dialog.insisting

        def change(**fields) -> None:  # noqa: ANN003
            session = fleet_engine.session("app-4")
            session = fleet_engine.store.update("app-4", pr=session.pr.model_copy(update=fields))
            app.post_message(SessionChanged(session))

        change(ci=CheckState.FAILED)  # CI went red after the person insisted: that was not shown to them
        await wait_until(pilot, lambda: "CI is failing" in screen_text(app), timeout=5, what=lambda: screen_text(app))
        assert "CI ✗ failed" in screen_text(app)
        assert not dialog.insisting
        await pilot.press("y")
        assert app.screen is dialog  # refused: insist again, knowing
        change(ci=CheckState.PASSED, review=ReviewState.APPROVED)  # green and approved now: no insisting needed
        await wait_until(pilot, lambda: "Approved and green: ready to merge" in screen_text(app), timeout=5,
                         what=lambda: screen_text(app))
        assert "CI ✓ passed" in screen_text(app)
        assert not app.screen.query_one("#yes").disabled


# -- 9. the send dialog shows what the agent asked ----------------------------------------------


async def test_the_send_dialog_shows_what_the_agent_asks(make_app, fleet_engine) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.jump_to("app-1")  # asking permission for a Bash command
        await pilot.pause()
        await pilot.press("s")
        await wait_until(pilot, lambda: "Message to app-1" in screen_text(app), timeout=5)
        text = screen_text(app)
        assert "Asks permission: Bash: rm -rf build/ && npm run build" in text
        assert "May I rebuild?" in text
        assert "Send (ctrl+s)" in text  # the buttons still fit at 80x24


async def test_the_send_dialog_shows_the_question_once(make_app, fleet_engine) -> None:  # noqa: ANN001
    from ao_tui.models import Activity, ActivityState, SessionStatus

    fleet_engine.store.transition(
        "app-5", SessionStatus.NEEDS_INPUT, reason="test",
        activity=Activity(state=ActivityState.WAITING_INPUT, source="hook", since=NOW,
                          detail="Should the settings file be TOML or YAML?"),
        last_message="The project has no config file yet.\nShould the settings file be TOML or YAML?")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.jump_to("app-5")
        await pilot.pause()
        await pilot.press("s")
        await wait_until(pilot, lambda: "Message to app-5" in screen_text(app), timeout=5)
        text = screen_text(app)
        assert "The project has no config file yet." in text
        assert text.count("TOML or YAML?") == 1, text


# -- 10. help ------------------------------------------------------------------------------------


async def test_help_scrolls_as_far_as_a_burst_of_j_and_no_key_is_cut(make_app) -> None:  # noqa: ANN001
    from tests.tui.test_keys_footer_and_rows import send_burst

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: "Keys" in screen_text(app), timeout=5)
        scroll = app.screen.query_one("#help-scroll")
        await send_burst(app, ["j"] * 8)
        await wait_until(pilot, lambda: scroll.scroll_y >= 8, timeout=5,
                         what=lambda: f"scrolled {scroll.scroll_y} for 8 presses")
        await pilot.press("end")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "pgup shift+pgup" in text, text


# -- 11. palette: #3 lists PRs starting with 3 --------------------------------------------------


def test_a_pr_number_prefix_matches_exact_first() -> None:
    from ao_tui.tui.palette import match_session
    from tests.tui.fleet import demo_sessions

    sessions = {s.id: s for s in demo_sessions()}
    assert match_session("#112", sessions["app-2"]) is not None  # PR 1121
    assert match_session("#112", sessions["app-7"]) is None  # PR 1100
    exact = match_session("#1121", sessions["app-2"])
    prefix = match_session("#112", sessions["app-3"])
    assert exact and prefix and exact[0] > prefix[0]


async def test_palette_hash_prefix_lists_the_prs(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *"#112")
        from textual.command import CommandList

        def listed() -> str:
            options = app.screen.query(CommandList)
            return "\n".join(str(o.prompt) for o in options.first().options) if options else ""

        await wait_until(pilot, lambda: all(f"#{n}" in listed() for n in (1121, 1122, 1123)),
                         timeout=5, what=listed)
        assert "#1100" not in listed()


# -- 12. the backlog picker offers open tasks first ---------------------------------------------


async def test_the_backlog_picker_offers_open_tasks_first(make_app) -> None:  # noqa: ANN001
    from ao_tui.models import Task
    from ao_tui.tui.screens.forms import NewSessionScreen

    tasks = [Task(id=f"T-{n}", title=f"busy {n}", status="in_progress") for n in range(1, 7)] + [
        Task(id="T-7", title="after T-1", depends_on=["T-1"]),
        Task(id="T-8", title="ready now"),
        Task(id="T-9", title="finished", status="done"),
    ]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen), timeout=5)
        await workers_done(pilot)
        app.screen.set_tasks(tasks)
        await pilot.pause()
        assert [t.id for t in app.screen.tasks] == ["T-8", "T-7", "T-1", "T-2", "T-3", "T-4", "T-5", "T-6"]
        text = screen_text(app)
        assert "T-8  ready now" in text and "after T-1" in text


# -- 15. the snapshots' terminal is live --------------------------------------------------------


async def test_the_fake_terminal_source_draws_a_live_screen(make_app) -> None:  # noqa: ANN001
    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, lambda: "Welcome to Claude Code (web-1)" in screen_text(app), timeout=5,
                         what=lambda: screen_text(app))
        app.jump_to("app-2")
        await wait_until(pilot, lambda: "Welcome to Claude Code (app-2)" in screen_text(app), timeout=5)
        assert "terminal unavailable" not in screen_text(app)


async def test_the_new_session_dialogs_buttons_stay_in_view_at_80x24_with_a_long_backlog(make_app, fleet_engine) -> None:  # noqa: ANN001
    from textual.widgets import Button

    from ao_tui.models import Task
    from ao_tui.tui.screens.forms import NewSessionScreen

    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewSessionScreen), timeout=5)
        await workers_done(pilot)
        app.screen.set_tasks([Task(id=f"T-{n}", title=f"task {n}") for n in range(1, 15)])
        _notify_from_engine_thread(fleet_engine, "app-1 needs you", "permission: Bash ls")
        await wait_until(pilot, lambda: toasts_on_view(app), timeout=5, what="a toast over the dialog")
        await pilot.pause(0.3)
        screen_region = app.screen.region
        toast = toasts_on_view(app)[0].region
        for button in app.screen.query(Button):
            assert screen_region.contains_region(button.region), (button.id, button.region)
            assert not toast.overlaps(button.region)
        assert "Start with prompt (ctrl+s)" in screen_text(app)


async def test_a_deleted_sessions_work_is_not_kept_by_the_app(make_app, fleet_engine) -> None:  # noqa: ANN001
    """A long run stays flat (issue 16): each session the cursor rested on left its commits and
    files in the app; once the session is deleted (by another process) they go too."""
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        for sid in ("app-3", "app-5"):
            app.jump_to(sid)
            await wait_until(pilot, lambda sid=sid: sid in app._work, timeout=5, what=f"{sid}'s work read")
        fleet_engine.store.delete_session("app-3")
        app.reload_sessions()  # what the store watch does when another process wrote
        await wait_until(pilot, lambda: "app-3" not in app._work, timeout=5, what="app-3's work dropped")
        assert "app-5" in app._work and "app-3" not in screen_text(app)
