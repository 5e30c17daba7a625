"""``ao-tui`` itself, run inside tmux as a person would over SSH: keys in, screen read back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.models import SessionStatus
from ao_tui.store import open_store
from tests.support.waiting import wait_until
from tests.tui.fleet import demo_sessions, fill_store

pytestmark = pytest.mark.timeout(90)


class Terminal:
    """A person's terminal: a tmux session on its own socket."""

    def __init__(self, socket: str, name: str = "person") -> None:
        self.socket, self.name = socket, name

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def start(self, argv: list[str], env: dict[str, str], width: int, height: int) -> None:
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        # COLUMNS/LINES leak in from the test process and would pin the app's size.
        argv = ["env", "-u", "COLUMNS", "-u", "LINES", *argv]
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), *env_args, "--", *argv], check=True, timeout=10)
        self.tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        self.tmux("set-option", "-t", self.name, "window-size", "manual")
        self.tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def text(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def dead(self) -> bool:
        return self.tmux("display-message", "-p", "-t", self.name, "#{pane_dead}").strip() == "1"

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def person(tmux_socket: str):
    term = Terminal(f"{tmux_socket}-person")
    yield term
    term.kill()


def test_ao_tui_over_ssh(ao_home: Path, git_repo: Path, tmp_path: Path, person: Terminal) -> None:
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"projects:\n  app:\n    repo: {git_repo}\n    session_prefix: app\n"
                      f"  web:\n    repo: {git_repo}\n    session_prefix: web\n")
    store = open_store()
    fill_store(store, demo_sessions())
    store.close()
    env = {"AO_HOME": str(ao_home), "AO_TMUX_SOCKET": os.environ["AO_TMUX_SOCKET"], "TERM": "xterm-256color",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    person.start([sys.executable, "-m", "ao_tui.tui", "--config", str(config)], env, 160, 40)

    wait_until(lambda: "Ready to merge" in person.screen(), timeout=30, message=person.screen)
    screen = person.screen()
    assert "app-2" in screen and "#1121" in screen
    assert "[bold red]pwned[/]" in screen  # hostile title shown as text
    assert "\x1b" not in screen

    # Jump by PR number through the palette; the detail pane follows.
    person.keys("/")
    wait_until(lambda: "Search for" in person.screen(), timeout=10, message=person.screen)
    person.text("#1122")
    wait_until(lambda: "Migrate settings" in person.screen(), timeout=10, message=person.screen)
    person.keys("Enter")
    wait_until(lambda: "#1122 " in person.screen() and "Pull request" in person.screen()
               and "tests  3 failed" in person.screen(), timeout=10, message=person.screen)

    # Merge is refused for a red PR.
    person.keys("M")
    wait_until(lambda: "Refusing to merge: CI is failing" in person.screen(), timeout=10, message=person.screen)
    person.keys("n")
    wait_until(lambda: "Refusing to merge" not in person.screen(), timeout=10, message=person.screen)

    # The help screen lists bindings with their ids.
    person.keys("?")
    wait_until(lambda: "request_changes" in person.screen(), timeout=10, message=person.screen)
    person.keys("Escape")  # closes help
    wait_until(lambda: "request_changes" not in person.screen(), timeout=10, message=person.screen)

    # Narrow the terminal: the panes become tabs and the list still shows.
    person.tmux("resize-window", "-t", person.name, "-x", "80", "-y", "24")
    wait_until(lambda: "Sessions" in person.screen() and "Terminal" in person.screen()
               and "Needs you" in person.screen(), timeout=10, message=person.screen)

    person.keys("q")
    wait_until(person.dead, timeout=20, message=person.screen)


def test_two_logins_see_the_same_fleet(ao_home: Path, git_repo: Path, tmp_path: Path, tmux_socket: str) -> None:
    """Two ``ao-tui`` at once (two SSH logins): one runs the engine, both see every change."""
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"projects:\n  app:\n    repo: {git_repo}\n    session_prefix: app\n")
    store = open_store()
    fill_store(store, [s for s in demo_sessions() if s.project == "app"])
    env = {"AO_HOME": str(ao_home), "AO_TMUX_SOCKET": tmux_socket, "TERM": "xterm-256color",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    first, second = Terminal(f"{tmux_socket}-a", "first"), Terminal(f"{tmux_socket}-b", "second")
    try:
        first.start([sys.executable, "-m", "ao_tui.tui", "--config", str(config)], env, 140, 40)
        wait_until(lambda: "engine running" in first.screen(), timeout=30, message=first.screen)
        second.start([sys.executable, "-m", "ao_tui.tui", "--config", str(config)], env, 140, 40)
        wait_until(lambda: "engine following" in second.screen(), timeout=30, message=second.screen)
        # Another process (here: this test, as `ao` would) finishes a session: both screens move it.
        store.transition("app-4", SessionStatus.DONE, reason="closed by hand")
        for term in (first, second):
            wait_until(lambda: "In review 0" in term.screen(), timeout=15, message=term.screen)
        first.keys("q")
        wait_until(first.dead, timeout=20, message=first.screen)
        # The login left running takes the engine over: nothing goes unwatched.
        wait_until(lambda: "engine running" in second.screen(), timeout=20, message=second.screen)
    finally:
        store.close()
        first.kill()
        second.kill()
