"""Pilot tests against real tmux sessions on the fixture's private socket."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ao_tui.attention import Zone
from ao_tui.models import SessionStatus
from ao_tui.registry import load
from tests.tui.helpers import notifications, screen_text, wait_until


def _plugin(slot: str, name: str) -> bool:
    try:
        load(slot, name)
    except Exception:
        return False
    return True


needs_tmux_runtime = pytest.mark.skipif(not _plugin("runtime", "tmux"), reason="runtime.tmux plugin not installed")


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10)


def zone_of_row(app, session_id: str) -> Zone | None:
    for row in app.session_list.rows:
        if row.session is not None and row.session.id == session_id:
            return row.zone
    return None


@needs_tmux_runtime
async def test_kill_with_confirmation_stops_the_tmux_session(make_app, fleet_engine, tmux_socket):
    tmux(tmux_socket, "new-session", "-d", "-s", "app-5", "--", "sleep", "600")
    assert tmux(tmux_socket, "has-session", "-t", "app-5").returncode == 0
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-5")
        await pilot.press("x")
        await pilot.pause()
        assert "Kill app-5?" in screen_text(app)
        await pilot.press("n")  # cancelled: nothing happens
        await pilot.pause()
        assert tmux(tmux_socket, "has-session", "-t", "app-5").returncode == 0
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await wait_until(pilot, lambda: zone_of_row(app, "app-5") is Zone.DONE, what="app-5 in Done")
        assert tmux(tmux_socket, "has-session", "-t", "app-5").returncode != 0
        assert fleet_engine.session("app-5").status is SessionStatus.KILLED
        assert app.session_list.cursor_id == "app-5"


@needs_tmux_runtime
@pytest.mark.skipif(not _plugin("workspace", "worktree"), reason="workspace.worktree plugin not installed")
async def test_restore_brings_a_killed_session_back(make_app, fleet_engine, tmux_socket):
    stand_in = [sys.executable, "-c", "import time; print('stand-in agent up', flush=True); time.sleep(600)"]
    fleet_engine.config.projects["app"].agent.command = stand_in
    fleet_engine.store.transition("app-1", SessionStatus.KILLED, reason="test")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-1")
        await pilot.press("r")
        await pilot.pause()
        assert "Restore app-1?" in screen_text(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: zone_of_row(app, "app-1") is Zone.WORKING, timeout=20,
                         what=lambda: f"app-1 working; notes: {notifications(app)} status={fleet_engine.session('app-1').status} zone={zone_of_row(app, 'app-1')}")
        assert tmux(tmux_socket, "has-session", "-t", "app-1").returncode == 0


@needs_tmux_runtime
async def test_typing_into_the_terminal_reaches_the_tmux_pane(make_app, tmux_socket):
    tmux(tmux_socket, "new-session", "-d", "-s", "app-1", "-x", "80", "-y", "20", "--", "cat")
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        app.jump_to("app-1")
        await pilot.pause(0.3)
        await pilot.press("i")
        await pilot.pause()
        assert app.terminal.input_mode
        await pilot.press(*"hello [b]ao[/b]", "enter")

        def pane() -> str:
            return tmux(tmux_socket, "capture-pane", "-p", "-t", "app-1").stdout

        await wait_until(pilot, lambda: "hello [b]ao[/b]" in pane(), what=lambda: f"typed text in tmux: {pane()!r}")
        # q while typing goes to the agent, not to the app
        await pilot.press("q")
        await wait_until(pilot, lambda: pane().rstrip().splitlines()[-1:] == ["q"],
                         what=lambda: f"q reached the pane: {pane()!r} running={app.is_running} input={app.terminal.input_mode} focus={app.focused}")
        assert app.is_running
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert not app.terminal.input_mode
        assert app.focused is app.session_list
        await wait_until(pilot, lambda: "hello [b]ao[/b]" in screen_text(app), what="terminal pane shows the echo")


@needs_tmux_runtime
@pytest.mark.skipif(not _plugin("workspace", "worktree"), reason="workspace.worktree plugin not installed")
async def test_new_session_from_the_backlog(make_app, fleet_engine, tmux_socket):
    repo = fleet_engine.config.projects["app"].repo
    (repo / "backlog.yaml").write_text("- id: T-9\n  title: Write the changelog\n  body: Add CHANGELOG.md.\n")
    stand_in = [sys.executable, "-c", "import time; print('stand-in agent up', flush=True); time.sleep(600)"]
    fleet_engine.config.projects["app"].agent.command = stand_in
    app = make_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await wait_until(pilot, lambda: "Write the changelog" in screen_text(app), what="backlog task listed")
        await pilot.press("enter")  # the highlighted task
        await wait_until(pilot, lambda: any(s.task_id == "T-9" for s in app.all_sessions), timeout=30,
                         what=lambda: f"session for T-9; notes: {notifications(app)}")
        spawned = next(s for s in app.all_sessions if s.task_id == "T-9")
        await wait_until(pilot, lambda: app.session_list.cursor_id == spawned.id, what="cursor on the new session")
        assert tmux(tmux_socket, "has-session", "-t", spawned.runtime_handle).returncode == 0
        assert "Write the changelog" in screen_text(app)
