"""Runtime ``tmux``: one tmux session per agent on ao's own server (``tmux -L <socket>``).

Plain ``tmux`` argument lists rather than libtmux: every call here is one
short command whose output we parse ourselves, and a subprocess per call is
both faster than libtmux's object refreshes and easier to reason about. No
shell is ever involved; text reaches the pane through a paste buffer fed on
stdin, never through a command line.

Targets are always written ``=<handle>:`` so tmux matches the session name
exactly (a bare ``dm-1`` would also match ``dm-10`` by prefix).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from ao_tui.config import write_atomic
from ao_tui.errors import AoError, InvalidName, NotFound
from ao_tui.names import tmux_word
from ao_tui.slots.base import PluginOptions
from ao_tui.slots.runtime import PaneInfo, Runtime, RuntimeStatus

log = logging.getLogger(__name__)

_HANDLE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
#: tmux sends a command as one imsg of at most 16 kB; stay well below it.
COMMAND_BYTES = 12_000
HISTORY_LIMIT = 50_000
#: Times ``create`` starts ao's server again when it found one exiting.
SERVER_START_ATTEMPTS = 5
#: tmux's words when the server went away under a command (or, with -N, was not there).
_SERVER_GONE = ("server exited unexpectedly", "lost server", "no server running", "error connecting to")
_PANE_FORMAT = "\t".join(
    [
        "#{session_name}",
        "#{window_active}#{pane_active}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{pane_dead_signal}",
        "#{pane_pid}",
        "#{pid}",  # the server's
        "#{pane_width}",
        "#{pane_height}",
        "#{pane_tty}",
        "#{pane_title}",  # last: it is free text
    ]
)


def validate_handle(handle: str) -> str:
    """tmux forbids '.' and ':' in session names; ao allows a safe subset."""
    if not isinstance(handle, str) or not _HANDLE.match(handle):
        raise InvalidName(f"invalid runtime handle {handle!r}: use letters, digits, '-' and '_'")
    return handle


def launch_argv(runtime: str, handle: str, cwd: Path, argv: Sequence[str]) -> list[str]:
    """What every runtime checks before it starts an agent: a valid handle, a command, an existing working
    directory; the command as a list of strings."""
    validate_handle(handle)
    args = [str(a) for a in argv]
    if not args:
        raise AoError(f"runtime {runtime}: empty command")
    if not Path(cwd).is_dir():
        raise AoError(f"runtime {runtime}: working directory {cwd} does not exist")
    return args


def strip_paste_markers(text: str) -> str:
    """Remove bracketed-paste start/end markers: text must never end the paste and type keys."""
    while "\x1b[200~" in text or "\x1b[201~" in text:
        text = text.replace("\x1b[200~", "").replace("\x1b[201~", "")
    return text


def decode_control_output(data: bytes) -> bytes:
    r"""Undo control mode's escaping of ``%output`` data (``\ooo`` octal for bytes < 32 and ``\``)."""
    if b"\\" not in data:
        return data
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte == 0x5C and i + 4 <= n and data[i + 1 : i + 4].isdigit():
            out.append(int(data[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(byte)
            i += 1
    return bytes(out)


class _Pane:
    """What ``list-panes`` says about a session's active pane."""

    __slots__ = ("info", "tty")

    def __init__(self, info: PaneInfo, tty: str) -> None:
        self.info, self.tty = info, tty


class TmuxRuntime(Runtime):
    Options = PluginOptions  # no options

    #: Seconds the last ``send_text`` waited for the paste to land before Enter (for benchmarks).
    last_paste_wait: float = 0.0

    @property
    def socket(self) -> str:
        return self.context.tmux_socket

    # -- plumbing -------------------------------------------------------------

    def _tmux(
        self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 15.0,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            done = subprocess.run(
                ["tmux", "-L", self.socket, *args], input=input, capture_output=True, timeout=timeout,
                stdin=None if input is not None else subprocess.DEVNULL, env=env,
            )
        except FileNotFoundError:
            raise AoError("tmux is not installed (runtime tmux needs it on PATH)") from None
        except subprocess.TimeoutExpired:
            raise AoError(f"tmux {_command_name(args)} did not answer within {timeout:g}s") from None
        if check and done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().splitlines()
            raise AoError(f"tmux {_command_name(args)} failed: {err[-1] if err else f'exit {done.returncode}'}")
        return done

    @staticmethod
    def _target(handle: str) -> str:
        return f"={validate_handle(handle)}:"

    def _runtime_dir(self) -> Path:
        path = self.context.ao_home / "runtime"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _require(self, handle: str) -> _Pane:
        pane = self._panes().get(validate_handle(handle))
        if pane is None:
            raise NotFound(f"no tmux session {handle!r} on socket {self.socket}")
        return pane

    def _panes(self) -> dict[str, _Pane]:
        done = self._tmux("list-panes", "-a", "-F", _PANE_FORMAT, check=False)
        if done.returncode != 0:  # no server: nothing is running
            return {}
        result: dict[str, _Pane] = {}
        for line in done.stdout.decode(errors="replace").splitlines():
            parts = line.split("\t", 10)
            if len(parts) != 11:
                continue
            name, active, dead, status, signal, pid, server_pid, width, height, tty, title = parts
            self._server_pid = int(server_pid) if server_pid.isdigit() else None
            if signal.isdigit() and not status:
                status = f"-{signal}"
            if name in result and active != "11":
                continue  # one pane a session: keep the active one if there are more
            is_dead = dead == "1"
            info = PaneInfo(
                handle=name,
                title=title,
                dead=is_dead,
                exit_code=int(status) if is_dead and status.lstrip("-").isdigit() else None,
                pid=int(pid) if pid.isdigit() and not is_dead else None,
                width=int(width or 0),
                height=int(height or 0),
            )
            result[name] = _Pane(info, tty)
        return result

    # -- lifecycle ------------------------------------------------------------

    def create(
        self,
        handle: str,
        cwd: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        size: tuple[int, int] = (200, 50),
    ) -> str:
        argv = launch_argv("tmux", handle, cwd, argv)
        if handle in self._panes():
            raise AoError(f"tmux session {handle!r} already exists on socket {self.socket}")
        for key, value in env.items():
            if not key or "=" in key or "\0" in key or "\0" in str(value) or key != key.strip() or " " in key:
                raise AoError(f"runtime tmux: invalid environment variable name {key!r}")
        # The values travel in the tmux client's own environment, never on its command line (which
        # any user can read in `ps`): tmux copies the variables `update-environment` names from the
        # client into the new session. Only the names go into the command.
        client_env = {**os.environ, **{key: str(value) for key, value in env.items()}}
        width, height = size
        head = [
            "set-option", "-g", "history-limit", str(HISTORY_LIMIT), ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            # No "Pane is dead" line: tmux scrolls the last screen away to print it, and that
            # screen (an error, the last answer) is what `ao peek` must show. ao reports the status.
            "set-option", "-g", "remain-on-exit-format", "", ";",
            "set-option", "-g", "focus-events", "on", ";",  # else Claude Code prints a hint about it
            "new-session", "-d", "-s", handle, "-x", str(width), "-y", str(height), "-c", str(cwd), "--",
        ]  # fmt: skip
        fixed = sum(len(a.encode()) + 1 for a in head)
        if fixed > COMMAND_BYTES:
            raise AoError(f"runtime tmux: the command for {handle} is too large for tmux ({fixed} bytes)")
        # One word would go through `sh -c`; a long list would not fit in tmux's message.
        if len(argv) == 1 or fixed + sum(len(a.encode()) + 1 for a in argv) > COMMAND_BYTES:
            spec = self._runtime_dir() / f"{handle}.launch.json"
            write_atomic(spec, json.dumps({"argv": argv}))
            argv = [sys.executable, "-m", "ao_tui_plugins.launch", str(spec)]
        # The server keeps the argv of the client that started it as its process title for its whole
        # life (visible in `ps`): start it with a command that carries no environment values, then
        # create the session with -N, which never starts a server. A server may be exiting as we
        # reach it (one started by another client that found no session, or by `kill` leaving none):
        # then the command fails with the server gone, and the whole start is tried again.
        for attempt in range(SERVER_START_ATTEMPTS):
            try:
                started = self._tmux("start-server", ";", "set-option", "-g", "exit-empty", "off", ";",
                                     "show-options", "-gv", "update-environment")
                known = set(started.stdout.decode(errors="replace").split())
                names = [w for key in env if key not in known
                         for w in ("set-option", "-ga", "update-environment", tmux_word(key), ";")]
                # One invocation: the options hold before the process can exit, whatever the server state.
                self._tmux("-N", *names, *head, *map(tmux_word, argv), env=client_env)
                return handle
            except AoError as exc:
                if not _server_gone(exc) or attempt == SERVER_START_ATTEMPTS - 1:
                    raise
                log.debug("tmux server on %s went away while creating %s; starting it again", self.socket, handle)
                time.sleep(0.02 * (attempt + 1))
        raise AssertionError("unreachable")

    def kill(self, handle: str) -> None:
        """Kill the session; once none is left, let ao's server exit (it does not linger idle).

        The server is started with ``exit-empty off`` (see ``create``); turning it back on when the
        server has no session makes tmux exit it. A create racing with this either made its session
        first (the server stays: it is not empty) or finds the server gone and starts it again.
        """
        self._tmux("kill-session", "-t", self._target(handle), check=False)
        (self.context.ao_home / "runtime" / f"{handle}.launch.json").unlink(missing_ok=True)
        if not self.list_handles():
            self._tmux("-N", "set-option", "-g", "exit-empty", "on", check=False)

    def status(self, handle: str) -> RuntimeStatus:
        """Alive or not, with the exit status (a signal death is ``-signal``, as in Python)."""
        pane = self._panes().get(validate_handle(handle))
        # tmux marks a pane dead when its terminal closes and learns the status on SIGCHLD, which
        # tmux 3.3a sometimes misses (the child stays a zombie until another child exits). Any job
        # exiting makes the server reap every child: run one (a constant command, no user text).
        deadline = time.monotonic() + 1.0
        while pane is not None and pane.info.dead and pane.info.exit_code is None and time.monotonic() < deadline:
            self._tmux("run-shell", "true", check=False)
            pane = self._panes().get(handle)
            if pane is not None and pane.info.exit_code is None:
                time.sleep(0.02)
        if pane is None:
            return RuntimeStatus(alive=False)
        return RuntimeStatus(alive=not pane.info.dead, exit_code=pane.info.exit_code, pid=pane.info.pid)

    def list_handles(self) -> list[str]:
        done = self._tmux("list-sessions", "-F", "#{session_name}", check=False)
        if done.returncode != 0:
            return []
        return done.stdout.decode(errors="replace").split()

    def panes(self) -> dict[str, PaneInfo]:
        return {name: pane.info for name, pane in self._panes().items()}

    def server_pid(self) -> int | None:
        """ao's tmux server, as of the last listing (one is made if there was none)."""
        if getattr(self, "_server_pid", None) is None:
            self._panes()
        return getattr(self, "_server_pid", None)

    def attach_argv(self, handle: str) -> list[str]:
        """``tmux attach-session`` to the agent's session, its window following the human's client.

        ``resize`` pins the window to ao-tui's pane (tmux's ``window-size manual``), which an
        attached terminal of another size would show cropped or surrounded by dots. So the same
        tmux invocation first hands the size to the latest client (see ``follow_client_commands``).
        """
        return ["tmux", "-L", self.socket, *self.follow_client_commands(handle),
                "attach-session", "-t", f"={validate_handle(handle)}"]

    def follow_client_commands(self, handle: str) -> list[str]:
        """tmux commands (each ended by ``;``) that run just before a human's client attaches.

        The window takes the size of the latest client (``window-size latest``; ao's own
        streaming clients attach with ``ignore-size`` and never count). A one-shot
        ``client-detached`` hook puts back the size ao had pinned once a terminal client (named
        by its tty, ``/dev/...``; control clients are ``client-<pid>``) detaches. Only fixed
        words and validated handles go into the hook: tmux parses it again when it runs.
        """
        target = self._target(handle)
        commands = ["set-option", "-w", "-t", target, "window-size", "latest", ";"]
        size = self._tmux("display-message", "-p", "-t", target, "#{window_width} #{window_height}", check=False)
        width, _, height = size.stdout.decode(errors="replace").strip().partition(" ")
        if size.returncode == 0 and width.isdigit() and height.isdigit():
            commands += ["set-hook", "-t", target, "client-detached", _restore_hook(target, int(width), int(height)), ";"]
        return commands

    def resize(self, handle: str, width: int, height: int) -> None:
        """Pin the window to ``width`` x ``height`` (ao-tui's terminal pane), unless a human is attached.

        While a human's terminal is attached the window keeps following it; the size asked for
        here is what its detach hook restores.
        """
        if width <= 0 or height <= 0:
            return
        target = self._target(handle)
        if self.human_clients(handle):
            self._tmux("set-hook", "-t", target, "client-detached", _restore_hook(target, width, height), check=False)
            return
        self._tmux("resize-window", "-t", target, "-x", str(width), "-y", str(height), check=False)

    def human_clients(self, handle: str) -> list[str]:
        """Names (ttys) of the terminal clients attached to ``handle``: not ao's control-mode streams."""
        done = self._tmux("list-clients", "-t", self._target(handle), "-F", "#{client_control_mode} #{client_name}",
                          check=False)
        if done.returncode != 0:
            return []
        found = []
        for line in done.stdout.decode(errors="replace").splitlines():
            control, _, name = line.partition(" ")
            if control == "0" and name:
                found.append(name)
        return found

    # -- input ----------------------------------------------------------------

    def send_text(self, handle: str, text: str, submit: bool = True) -> None:
        """Paste ``text`` (bracketed if the program asked for it), wait until it landed, then Enter.

        "Landed" means: the program has read every byte from its terminal
        (the pty's input queue is empty) and its screen has stopped changing
        for a moment. Enter sent any earlier can be swallowed as part of the
        paste, leaving a prompt typed but unsent.
        """
        pane = self._require(handle)
        if pane.info.dead:
            raise AoError(f"tmux session {handle} has exited; nothing can be typed into it")
        target = self._target(handle)
        started = time.monotonic()
        text = strip_paste_markers(text)
        if text:
            before = self._screen(target)
            buffer = f"ao-{handle}-{secrets.token_hex(4)}"
            # -p: bracketed paste when the program enabled it; -r: newlines stay newlines.
            self._tmux(
                "load-buffer", "-b", buffer, "-", ";", "paste-buffer", "-p", "-r", "-d", "-b", buffer, "-t", target,
                input=text.encode("utf-8"),
            )
            self._wait_landed(target, pane.tty, before, deadline=started + 3.0 + len(text) / 20_000)
        self.last_paste_wait = time.monotonic() - started
        if submit:
            self._tmux("send-keys", "-t", target, "Enter")
            _wait_drained(pane.tty, time.monotonic() + 2.0)

    def _screen(self, target: str) -> bytes:
        return self._tmux("capture-pane", "-p", "-e", "-t", target, check=False).stdout

    def _wait_landed(self, target: str, tty: str, before: bytes, deadline: float, settle: float = 0.08) -> None:
        from ao_tui_plugins.pty_supervisor import tty_input_pending  # asyncio with it: off `ao ls`'s path

        last, last_change, drained_twice = before, time.monotonic(), 0
        changed = False
        while time.monotonic() < deadline:
            pending = tty_input_pending(tty)
            screen = self._screen(target)
            now = time.monotonic()
            if screen != last:
                last, last_change, changed = screen, now, True
            if pending is None:  # cannot see the queue: rely on the screen alone
                drained_twice = 2 if changed else 0
            else:
                drained_twice = drained_twice + 1 if pending == 0 else 0
            if drained_twice >= 2 and now - last_change >= settle:
                return
            time.sleep(0.02)
        log.warning("paste into %s did not settle before the deadline; pressing Enter anyway", target)

    def send_keys(self, handle: str, *keys: str) -> None:
        if keys:
            self._require(handle)
            self._tmux("send-keys", "-t", self._target(handle), "--", *map(tmux_word, keys))

    def send_bytes(self, handle: str, data: bytes) -> None:
        target = self._target(handle)
        for start in range(0, len(data), 2000):  # hex words: 3 bytes of command a byte
            chunk = data[start : start + 2000]
            self._tmux("send-keys", "-t", target, "-H", *(f"{b:02x}" for b in chunk))

    # -- output ---------------------------------------------------------------

    def capture(self, handle: str, *, escapes: bool = False, history: int = 0) -> str:
        args = ["capture-pane", "-p", "-t", self._target(handle)]
        if escapes:
            args.append("-e")
        if history > 0:
            args += ["-S", f"-{int(history)}"]
        done = self._tmux(*args, check=False)
        if done.returncode != 0:
            raise NotFound(f"no tmux session {handle!r} on socket {self.socket}")
        text = done.stdout.decode("utf-8", errors="replace")
        return text[:-1] if text.endswith("\n") else text

    async def stream(self, handle: str) -> AsyncIterator[bytes]:
        """Output bytes as tmux reads them from the pane, through a control-mode client.

        The client attaches read-only and with ``ignore-size``, so watching
        never resizes the agent's window or types into it. The stream ends
        when the session goes away.
        """
        import asyncio  # here: listing and reading panes (`ao ls`) need no event loop

        # Asynchronously: a viewer opening streams must not hold its event loop for a tmux round trip.
        probe = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, "display-message", "-p", "-t", self._target(handle), "#{pane_id}",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        pane_id = (await probe.communicate())[0].strip()
        if probe.returncode != 0 or not pane_id:
            raise NotFound(f"no tmux session {handle!r} on socket {self.socket}")
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, "-N", "-C", "attach-session", "-f", "ignore-size,read-only", "-t", f"={handle}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stdin is not None
        prefix = b"%output " + pane_id + b" "
        pending = b""
        try:
            while True:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                out = bytearray()
                for line in lines:
                    line = line.rstrip(b"\r")
                    if line.startswith(prefix):
                        out += decode_control_output(line[len(prefix) :])
                    elif line.startswith(b"%exit"):
                        if out:
                            yield bytes(out)
                        return
                if out:
                    yield bytes(out)
        finally:
            if proc.returncode is None:
                try:
                    proc.stdin.close()
                    proc.terminate()
                except ProcessLookupError:
                    pass
                try:
                    await asyncio.wait_for(proc.wait(), 2.0)
                except (TimeoutError, ProcessLookupError):
                    proc.kill()


def _restore_hook(target: str, width: int, height: int) -> str:
    """A ``client-detached`` hook: when a terminal client leaves, pin ``width`` x ``height`` again, once."""
    restore = f"resize-window -t {target} -x {int(width)} -y {int(height)} ; set-hook -u -t {target} client-detached"
    return f"if-shell -F '#{{m:/dev/*,#{{hook_client}}}}' '{restore}'"


def _command_name(args: Sequence[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "")


def _server_gone(exc: AoError) -> bool:
    return any(words in str(exc) for words in _SERVER_GONE)


def _wait_drained(tty: str, deadline: float) -> None:
    """Wait until the program has read what was typed (best effort, bounded).

    tmux writes to the pty after the command returns, and the kernel moves the
    bytes to the input queue a moment later: only two empty readings after a
    short pause count.
    """
    from ao_tui_plugins.pty_supervisor import tty_input_pending

    time.sleep(0.02)
    drained = 0
    while time.monotonic() < deadline and drained < 2:
        drained = drained + 1 if tty_input_pending(tty) in (0, None) else 0
        time.sleep(0.01)

