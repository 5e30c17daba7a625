"""A human attaching to an agent sees its window at their terminal's size (real tmux, private socket).

ao-tui pins each agent's window to its terminal pane (``resize``: tmux's
``window-size manual``). QA attached with ``ao attach`` and saw the pane at
ao-tui's size, cropped or ringed with dots. The attach command now hands the
size to the attaching client and puts ao's size back when the human leaves.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_tui.slots.base import PluginContext
from ao_tui_plugins.runtime_tmux import TmuxRuntime
from ao_tui_plugins.terminal_tmux import TmuxTerminal, tmux_socket_path
from tests.support.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def runtime(ao_home: Path, tmux_socket: str) -> TmuxRuntime:
    return TmuxRuntime(PluginContext(ao_home=ao_home, tmux_socket=tmux_socket))


def start_agent(runtime: TmuxRuntime, tmp_path: Path, handle: str) -> None:
    runtime.create(handle, tmp_path, [sys.executable, "-c", "import time; print('agent ready'); time.sleep(120)"], {})
    wait_until(lambda: "agent ready" in runtime.capture(handle), message=lambda: runtime.capture(handle))


def window_size(socket: str, handle: str) -> tuple[int, int]:
    done = subprocess.run(["tmux", "-L", socket, "display-message", "-p", "-t", f"={handle}:",
                           "#{window_width} #{window_height}"], capture_output=True, text=True, check=True)
    width, height = done.stdout.split()
    return int(width), int(height)


class Terminal:
    """A real terminal of a known size (a pty) running ``argv``, read so it never blocks."""

    def __init__(self, argv: list[str], columns: int, lines: int, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its terminal gets the size before tmux starts
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
            os.execvpe(argv[0], argv, env)
        self.seen = bytearray()

    def pump(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.seen += chunk

    def exited(self) -> bool:
        self.pump()
        done, _ = os.waitpid(self.pid, os.WNOHANG)
        return done != 0

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@contextlib.contextmanager
def terminal(argv: list[str], columns: int, lines: int, **env: str) -> Iterator[Terminal]:
    base = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    term = Terminal(argv, columns, lines, {**base, "TERM": "xterm-256color", **env})
    try:
        yield term
    finally:
        term.close()


def test_attached_terminal_gets_the_window_at_its_size_and_ao_size_comes_back(runtime, tmux_socket, tmp_path):
    start_agent(runtime, tmp_path, "dm-1")
    runtime.resize("dm-1", 80, 20)  # ao-tui's terminal pane
    assert window_size(tmux_socket, "dm-1") == (80, 20)
    argv = TmuxTerminal(runtime.context).attach_argv(runtime.attach_argv("dm-1"), inside_tmux=False)
    with terminal(argv, 100, 30) as human:
        # The whole terminal but tmux's status line: no dots, nothing cropped.
        wait_until(lambda: human.pump() or window_size(tmux_socket, "dm-1") == (100, 29),
                   message=lambda: f"window {window_size(tmux_socket, 'dm-1')}, screen {bytes(human.seen[-300:])!r}")
        assert runtime.human_clients("dm-1")
        # ao-tui's pane changes size meanwhile: the human's window does not shrink under them...
        runtime.resize("dm-1", 90, 25)
        human.pump()
        assert window_size(tmux_socket, "dm-1") == (100, 29)
        subprocess.run(["tmux", "-L", tmux_socket, "detach-client", "-s", "=dm-1"], check=True, timeout=10)
        wait_until(human.exited, timeout=10, message="the attach command did not end on detach")
    # ...and once they detach, the window is back at the size ao-tui asked for last.
    wait_until(lambda: window_size(tmux_socket, "dm-1") == (90, 25), timeout=10,
               message=lambda: str(window_size(tmux_socket, "dm-1")))
    assert runtime.status("dm-1").alive
    assert runtime.human_clients("dm-1") == []


def test_attach_nested_in_another_tmux_follows_that_pane(runtime, tmux_socket, tmp_path):
    """``ao attach`` from the user's own tmux: ao's server runs nested in a 100x30 outer pane."""
    start_agent(runtime, tmp_path, "dm-1")
    runtime.resize("dm-1", 60, 15)
    outer = f"{tmux_socket}-outer"
    argv = TmuxTerminal(runtime.context).attach_argv(runtime.attach_argv("dm-1"), inside_tmux=True)
    assert argv[:5] == ["env", "-u", "TMUX", "-u", "TMUX_PANE"]
    # tmux's own command line splits at a lone ";": escape it for the outer server.
    escaped = ["\\;" if arg == ";" else arg for arg in argv]
    try:
        subprocess.run(["tmux", "-L", outer, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30",
                        "--", *escaped], check=True, timeout=10, stdin=subprocess.DEVNULL)
        wait_until(lambda: window_size(tmux_socket, "dm-1") == (100, 29), timeout=10,
                   message=lambda: str(window_size(tmux_socket, "dm-1")))
        # the outer terminal goes away (its window closed): ao's size is restored
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True, timeout=10)
        wait_until(lambda: window_size(tmux_socket, "dm-1") == (60, 15), timeout=10,
                   message=lambda: str(window_size(tmux_socket, "dm-1")))
    finally:
        subprocess.run(["tmux", "-L", outer, "kill-server"], capture_output=True, timeout=10)
        tmux_socket_path(outer).unlink(missing_ok=True)


def test_switching_a_client_of_aos_own_server_resizes_the_window_to_it(runtime, tmux_socket, tmp_path, monkeypatch):
    """Inside a terminal already attached to ao's server, attach is a switch-client: same sizing."""
    start_agent(runtime, tmp_path, "dm-1")
    start_agent(runtime, tmp_path, "dm-2")
    runtime.resize("dm-1", 70, 18)
    with terminal(["tmux", "-L", tmux_socket, "attach-session", "-t", "=dm-2"], 100, 30) as human:
        wait_until(lambda: human.pump() or runtime.human_clients("dm-2"), timeout=10)
        client = runtime.human_clients("dm-2")[0]
        pane = subprocess.run(["tmux", "-L", tmux_socket, "display-message", "-p", "-t", "=dm-2:", "#{pane_id}"],
                              capture_output=True, text=True, check=True).stdout.strip()
        monkeypatch.delenv("TMUX_TMPDIR", raising=False)
        monkeypatch.setenv("TMUX", f"{tmux_socket_path(tmux_socket)},1,0")
        argv = TmuxTerminal(runtime.context).attach_argv(runtime.attach_argv("dm-1"), inside_tmux=True)
        assert "switch-client" in argv and "attach-session" not in argv
        subprocess.run(argv, check=True, timeout=10, capture_output=True,
                       env={**os.environ, "TMUX_PANE": pane})
        wait_until(lambda: human.pump() or runtime.human_clients("dm-1") == [client], timeout=10)
        wait_until(lambda: window_size(tmux_socket, "dm-1") == (100, 29), timeout=10,
                   message=lambda: str(window_size(tmux_socket, "dm-1")))


def test_the_private_server_exits_after_ao_kills_its_last_session(runtime, tmux_socket, tmp_path):
    start_agent(runtime, tmp_path, "dm-1")
    start_agent(runtime, tmp_path, "dm-2")
    server_pid = int(subprocess.run(["tmux", "-L", tmux_socket, "display-message", "-p", "#{pid}"],
                                    capture_output=True, text=True, check=True).stdout)
    runtime.kill("dm-1")
    assert Path(f"/proc/{server_pid}").exists()  # one session left: the server stays
    runtime.kill("dm-2")

    def server_gone() -> bool:
        try:
            stat = Path(f"/proc/{server_pid}/stat").read_text()
        except OSError:
            return True
        return stat.rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped by its parent

    wait_until(server_gone, timeout=10, message=f"tmux server {server_pid} still running")
    alive = subprocess.run(["tmux", "-L", tmux_socket, "list-sessions"], capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
    assert alive.returncode != 0
    # and the next session starts a fresh server
    start_agent(runtime, tmp_path, "dm-3")
    assert runtime.list_handles() == ["dm-3"]
