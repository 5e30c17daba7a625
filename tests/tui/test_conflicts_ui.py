"""Predicted conflicts where the human looks: a mark on the rows, a "Conflicts" section in the detail.

Two real worktrees (app-1 from the fixed fleet, app-5 added here) add ``src/app.py`` with different
content, so merging them would conflict; the prediction runs with real git, as the engine loop does.
"""

from __future__ import annotations

from pathlib import Path

from ao_tui.conflicts import ConflictWatch, refresh_marks
from tests.tui.fleet import FleetTerminal, _git
from tests.tui.helpers import wait_until
from tests.tui.test_snapshots import settle


def _clashing_fleet(engine) -> None:  # noqa: ANN001
    app1 = engine.session("app-1")
    repo = engine.project_config("app").repo
    ws = Path(app1.workspace).parent / "app-5"
    _git(repo, "worktree", "add", "-q", "-b", "ao/app-5", str(ws), "main")
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("def main():\n    return 7\n")
    _git(ws, "add", "-A")
    _git(ws, "commit", "-q", "-m", "Start the app elsewhere")
    engine.store.update("app-5", workspace=str(ws))
    sessions = engine.sessions("app")
    ConflictWatch(engine.store).scan("app", repo, "main", sessions)
    refresh_marks(engine, "app", engine.sessions("app"), "main")


async def test_conflicting_rows_are_marked_and_the_detail_names_the_other_session_files_and_hunks(
    fleet_engine, make_app
) -> None:
    _clashing_fleet(fleet_engine)
    assert [c["with"] for c in fleet_engine.session("app-1").extra["conflicts"]] == ["app-5"]
    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        rows = {s.id: line for s, line in _row_texts(app)}
        assert "× Fix login redirect loop" in rows["app-1"]
        assert "× Speed up the search index" in rows["app-5"]
        assert "×" not in rows["app-2"] and "∩" not in rows["app-2"]
        app.jump_to("app-1")
        await settle(pilot)
        text = await wait_until(pilot, lambda: "Conflicts" in app.detail.text() and app.detail.text(), timeout=10,
                                what="the conflicts section")
        section = text[text.index("Conflicts"):text.index("Commits")]
        assert "app-5" in section and "would conflict" in section and "src/app.py" in section
        assert "return 42" in section and "return 7" in section


def _row_texts(app):  # noqa: ANN001, ANN202
    lst = app.session_list
    out = []
    for row in lst.rows:
        if row.session is not None:
            out.append((row.session, lst._row_text(row.session, 200, None).plain))
    return out


def test_snapshot_conflicts(fleet_engine, make_app, snap_compare) -> None:
    _clashing_fleet(fleet_engine)
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        pilot.app.jump_to("app-1")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(200, 50), run_before=run_before)


async def _mark(pilot, app, *ids: str) -> None:  # noqa: ANN001
    for sid in ids:
        app.jump_to(sid)
        await settle(pilot)
        app.session_list.focus()
        await pilot.pause()
        await pilot.press("space")
        await pilot.pause()


async def test_marked_ready_prs_go_on_the_merge_train_with_M(fleet_engine, make_app) -> None:  # noqa: N802
    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        await _mark(pilot, app, "app-2", "app-5")  # app-5 has no PR: not marked
        assert app.session_list.marked == {"app-2"}
        rows = dict((s.id, line) for s, line in _row_texts(app))
        assert rows["app-2"].startswith("+ ") and not rows["app-5"].startswith("+ ")
        await _mark(pilot, app, "app-3")  # CI red: marked, but the train refuses it
        await pilot.press("M")
        await settle(pilot)
        dialog = app.screen
        text = " ".join(str(w.render()) for w in dialog.query("Static"))
        assert "Merge 1 PR(s) by train?" in text and "1. app-2" in text and "not ready: app-3 (not approved, CI is failing)" in text
        await pilot.press("y")
        await wait_until(pilot, lambda: [r["session_id"] for r in fleet_engine.store.train()] == ["app-2"],
                         timeout=10, what="app-2 on the train")
        await wait_until(pilot, lambda: not app.session_list.marked, timeout=5, what="the marks cleared")
        app.jump_to("app-2")
        await settle(pilot)
        await wait_until(pilot, lambda: "train    1 of 1 · queued" in app.detail.text(), timeout=10,
                         what="its place on the train in the detail")


def test_snapshot_merge_train_dialog(fleet_engine, make_app, snap_compare) -> None:
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        await _mark(pilot, pilot.app, "app-2", "app-3")
        await pilot.press("M")
        await settle(pilot)

    assert snap_compare(app, terminal_size=(200, 50), run_before=run_before)


# -- a running merge train in the status bar ----------------------------------------------------


def _train(engine, **states: tuple[str, str]) -> None:  # noqa: ANN001
    """Set train rows' states (and what they wait for) as the engine's train does, from its own
    thread (its own store connection: the app hears of it as of any write by the engine)."""
    import threading

    def write() -> None:
        for sid, (state, reason) in states.items():
            engine.store.train_update(sid, state, {"reason": reason} if reason else {})

    writer = threading.Thread(target=write)
    writer.start()
    writer.join()


def _on_the_train(engine) -> None:  # noqa: ANN001
    """Four PRs on app's train: the first merged, the second's CI running on its rebased commit."""
    engine.store.train_add("app", ["app-7", "app-2", "app-4", "app-3"])
    _train(engine, **{"app-7": ("merged", ""), "app-2": ("ci", "waiting for CI")})


def _status(app) -> str:  # noqa: ANN001
    return app.query_one("#status").render().plain


async def test_the_status_bar_follows_a_running_merge_train(fleet_engine, make_app) -> None:
    from ao_tui.tui.app import StoreChanged

    _on_the_train(fleet_engine)
    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert "train 2/4 · app-2 waiting for CI" in _status(app)
        # app-2 merged; app-4 is next, its agent mid-turn: the train waits to rebase it.
        _train(fleet_engine, **{"app-2": ("merged", ""),
                                "app-4": ("waiting", "waiting to rebase: its agent is working")})
        app.post_message(StoreChanged())  # what the store watch posts on the engine's write
        await wait_until(pilot, lambda: "train 3/4 · app-4 waiting to rebase" in _status(app), timeout=10,
                         what=lambda: f"the train's next step in the status bar: {_status(app)!r}")
        # The rest merged or left: no train on the status bar any more.
        _train(fleet_engine, **{"app-4": ("merged", ""), "app-3": ("left", "CI failed after the rebase")})
        app.post_message(StoreChanged())
        await wait_until(pilot, lambda: "train" not in _status(app), timeout=10,
                         what=lambda: f"the train gone from the status bar: {_status(app)!r}")
        assert "engine" in _status(app)
        # At 80 columns it still says where the train is, and the engine and the clock stay.
        _train(fleet_engine, **{"app-4": ("ci", "waiting for CI")})
        await pilot.resize_terminal(80, 24)
        app.post_message(StoreChanged())
        await wait_until(pilot, lambda: "train 3/4 · app-4" in _status(app), timeout=10,
                         what=lambda: f"the train at 80 columns: {_status(app)!r}")
        line = _status(app)
        assert len(line) <= 80 and "engine off" in line and line.rstrip().endswith("12:00"), line


def test_snapshot_status_bar_merge_train(fleet_engine, make_app, snap_compare) -> None:
    _on_the_train(fleet_engine)
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
