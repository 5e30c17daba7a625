"""A detached owner of one agent's pseudo-terminal, for the ``process`` runtime.

``python -m ao_tui_plugins.pty_supervisor serve SPEC`` daemonizes (so it
outlives ao), starts the spec's argv on a new pty, keeps a pyte screen and a
raw output log, records the exit status, and answers JSON-line requests on
a unix socket until told to ``kill``. ``... attach SOCKET`` is a tiny client
that puts a human's terminal on the session (Ctrl-] detaches).

Protocol: one JSON object a line each way. Ops: ``status``, ``capture``
(escapes, history), ``write`` (b64 data), ``paste`` (text, submit), ``resize``
(width, height), ``kill``, and ``stream`` (after its reply line the
connection carries raw output bytes until the program exits).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Any

HISTORY_LINES = 10_000
LOG_LIMIT = 8 << 20  # bytes of raw output log before it is rotated
BRACKETED_PASTE = 2004 << 5  # pyte stores private modes shifted by 5
_SGR_FG = {"black": 30, "red": 31, "green": 32, "brown": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37}


def tty_input_pending(tty: str) -> int | None:
    """Bytes typed into terminal ``tty`` (a pty slave path) that its program has not read yet.

    None when it cannot be told. Opening the slave does not disturb the program.
    """
    try:
        fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return None
    finally:
        os.close(fd)


def socket_address(path: Path) -> str:
    """A connectable name for ``path`` even past AF_UNIX's 107-byte limit (via /proc/self/fd)."""
    text = str(path)
    if len(text.encode()) < 100:
        return text
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    _KEEP_DIRS.append(fd)  # the descriptor must outlive connect(); a handful per process
    if len(_KEEP_DIRS) > 64:
        os.close(_KEEP_DIRS.pop(0))
    return f"/proc/self/fd/{fd}/{path.name}"


_KEEP_DIRS: list[int] = []


# -- rendering a pyte screen ------------------------------------------------------


def _color(value: str, base: int) -> list[str]:
    if value == "default":
        return []
    bright = value.startswith("bright")
    name = value[6:] if bright else value
    if name in _SGR_FG:
        return [str(_SGR_FG[name] + base + (60 if bright else 0))]
    if len(value) == 6:
        try:
            r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            return []
        return [f"{base + 38}", "2", str(r), str(g), str(b)]
    return []


def _sgr(char: Any) -> str:
    codes = ["0"]
    for flag, code in (("bold", "1"), ("italics", "3"), ("underscore", "4"), ("blink", "5"), ("reverse", "7"),
                       ("strikethrough", "9")):  # fmt: skip
        if getattr(char, flag, False):
            codes.append(code)
    codes += _color(char.fg, 0) + _color(char.bg, 10)
    return "\x1b[" + ";".join(codes) + "m"


def render_row(row: Any, columns: int, escapes: bool) -> str:
    """One screen row as text, with SGR sequences if ``escapes``; trailing blanks dropped."""
    chars = [row[x] for x in range(columns)]
    end = len(chars)
    while end and chars[end - 1].data in (" ", "") and (not escapes or _sgr(chars[end - 1]) == "\x1b[0m"):
        end -= 1
    if not escapes:
        return "".join(c.data for c in chars[:end])
    out, current = [], "\x1b[0m"
    for c in chars[:end]:
        style = _sgr(c)
        if style != current:
            out.append(style)
            current = style
        out.append(c.data)
    if current != "\x1b[0m":
        out.append("\x1b[0m")
    return "".join(out)


# -- the supervisor ------------------------------------------------------------------


class Supervisor:
    def __init__(self, spec: dict[str, Any], master: int, pid: int, tty: str, log_path: Path) -> None:
        import pyte

        self.spec, self.master, self.pid, self.tty = spec, master, pid, tty
        self.columns, self.lines = int(spec["size"][0]), int(spec["size"][1])
        supervisor = self

        class _Screen(pyte.HistoryScreen):  # answers the program's terminal queries (cursor position...)
            def write_process_input(self, data: str) -> None:
                supervisor.write(data.encode())

        self.screen = _Screen(self.columns, self.lines, history=HISTORY_LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.log_path = log_path
        self.log = log_path.open("ab", buffering=0)
        self.exit_code: int | None = None
        self.alive = True
        self.version = 0  # output chunks seen: a cheap "screen changed" signal
        self.out_buffer = bytearray()
        self.subscribers: list[asyncio.StreamWriter] = []
        self.done = asyncio.Event()

    # pty I/O
    def on_readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            asyncio.ensure_future(self.reap())
            return
        self.log.write(data)
        if self.log.tell() > LOG_LIMIT:  # keep the newest output, bounded: one rotated file
            self.log.close()
            os.replace(self.log_path, f"{self.log_path}.1")
            self.log = self.log_path.open("ab", buffering=0)
        self.stream.feed(data)
        self.version += 1
        for writer in list(self.subscribers):
            try:
                writer.write(data)
            except Exception:
                self.subscribers.remove(writer)

    async def reap(self) -> None:
        """The terminal closed: wait for the program's exit status and keep it."""
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_writer(self.master)
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            await asyncio.sleep(0.05)
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.alive = False
        Path(self.spec["status_file"]).write_text(json.dumps({"exit_code": self.exit_code}))
        for writer in self.subscribers:
            writer.close()
        self.subscribers.clear()

    def write(self, data: bytes) -> None:
        if not self.alive:
            return
        self.out_buffer += data
        self.flush()

    def flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.out_buffer:
                written = os.write(self.master, self.out_buffer[:65536])
                del self.out_buffer[:written]
        except BlockingIOError:
            loop.add_writer(self.master, self.flush)
            return
        except OSError:
            self.out_buffer.clear()
        with contextlib.suppress(Exception):
            loop.remove_writer(self.master)

    async def paste(self, text: str, submit: bool) -> float:
        """Type ``text`` (bracketed if the program enabled it) and Enter once it landed."""
        started = time.monotonic()
        while "\x1b[200~" in text or "\x1b[201~" in text:  # text must never end the paste and type keys
            text = text.replace("\x1b[200~", "").replace("\x1b[201~", "")
        if text:
            data = text.encode()
            if BRACKETED_PASTE in self.screen.mode:
                data = b"\x1b[200~" + data + b"\x1b[201~"
            self.write(data)
            deadline = started + 3.0 + len(text) / 20_000
            last_version, last_change, drained = self.version, time.monotonic(), 0
            while time.monotonic() < deadline and self.alive:
                await asyncio.sleep(0.02)
                now = time.monotonic()
                if self.version != last_version:
                    last_version, last_change = self.version, now
                pending = tty_input_pending(self.tty)
                drained = drained + 1 if not self.out_buffer and pending == 0 else 0
                if drained >= 2 and now - last_change >= 0.08:
                    break
        waited = time.monotonic() - started
        if submit:
            self.write(b"\r")
            # Written bytes reach the program's input queue a moment later (the kernel's flip
            # buffer): only two empty readings after a short pause mean the Enter was read.
            deadline, drained = time.monotonic() + 2.0, 0
            await asyncio.sleep(0.02)
            while time.monotonic() < deadline and self.alive and drained < 2:
                drained = drained + 1 if not self.out_buffer and tty_input_pending(self.tty) == 0 else 0
                await asyncio.sleep(0.01)
        return waited

    def capture(self, escapes: bool, history: int) -> str:
        rows = []
        if history > 0:
            top = list(self.screen.history.top)[-history:]
            rows += [render_row(row, self.columns, escapes) for row in top]
        rows += [render_row(self.screen.buffer[y], self.columns, escapes) for y in range(self.screen.lines)]
        return "\n".join(rows)

    def resize(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            return
        self.columns, self.lines = width, height
        self.screen.resize(height, width)
        with contextlib.suppress(OSError):
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def kill(self) -> None:
        if self.alive:
            for sig in (signal.SIGHUP, signal.SIGTERM):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, sig)
                for _ in range(50):
                    if not self.alive:
                        break
                    await asyncio.sleep(0.02)
            if self.alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
        self.done.set()

    # requests
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                reply = await self.answer(request, writer)
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
                if request.get("op") == "stream":
                    if self.alive:
                        self.subscribers.append(writer)
                    else:
                        writer.close()
                    return
        except (ConnectionError, ValueError, asyncio.CancelledError):
            pass
        if writer not in self.subscribers:
            writer.close()

    async def answer(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return {
                "alive": self.alive, "exit_code": self.exit_code, "pid": self.pid if self.alive else None,
                "title": self.screen.title, "width": self.columns, "height": self.lines,
            }  # fmt: skip
        if op == "capture":
            return {"text": self.capture(bool(request.get("escapes")), int(request.get("history") or 0))}
        if op == "write":
            self.write(base64.b64decode(request["data"]))
            return {"ok": True}
        if op == "paste":
            if not self.alive:
                return {"error": "the program has exited"}
            return {"ok": True, "waited": await self.paste(str(request["text"]), bool(request.get("submit")))}
        if op == "resize":
            self.resize(int(request["width"]), int(request["height"]))
            return {"ok": True}
        if op == "stream":
            return {"ok": True}
        if op == "kill":
            await self.kill()
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}


def _spawn_on_pty(spec: dict[str, Any]) -> tuple[int, int, str]:
    """Fork ``spec['argv']`` onto a new pty as its session leader: (pid, master fd, slave path)."""
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    width, height = (int(v) for v in spec["size"])
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            os.close(slave)
            os.close(master)
            os.chdir(spec["cwd"])
            env = dict(os.environ)
            env["TERM"] = "xterm-256color"
            os.execvpe(spec["argv"][0], spec["argv"], env)
        except OSError as exc:
            os.write(2, f"ao: cannot run {spec['argv'][0]}: {exc.strerror}\r\n".encode())
        os._exit(127)
    os.close(slave)
    os.set_blocking(master, False)
    return pid, master, tty


async def _serve(spec: dict[str, Any]) -> None:
    pid, master, tty = _spawn_on_pty(spec)
    sock_path = Path(spec["socket"])
    sup = Supervisor(spec, master, pid, tty, Path(spec["log"]))
    loop = asyncio.get_running_loop()
    loop.add_reader(master, sup.on_readable)
    # Bind relative to the runtime directory: AF_UNIX paths are limited to 107 bytes.
    os.chdir(sock_path.parent)
    Path(spec["pid_file"]).write_text(str(os.getpid()))
    # Listen under a temporary name, then rename: a client never finds a socket not yet listening.
    temporary = f".{sock_path.name}.{os.getpid()}"
    server = await asyncio.start_unix_server(sup.handle, path=temporary, limit=2**26)
    os.replace(temporary, sock_path.name)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(sup.kill()))
    await sup.done.wait()
    server.close()
    for name in (spec["socket"], spec["pid_file"], spec["status_file"]):
        Path(name).unlink(missing_ok=True)
    sup.log.close()


def serve(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    spec_path.unlink(missing_ok=True)  # it may hold a long prompt; the environment is never in it
    if os.fork() > 0:  # the caller reaps this parent at once; the supervisor is orphaned to init
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    asyncio.run(_serve(spec))
    return 0


def attach(sock_path: Path) -> int:
    """Put this terminal on the session until Ctrl-] (raw mode, screen redrawn first)."""
    import selectors
    import tty as tty_mod

    def request(conn: socket.socket, op: dict[str, Any]) -> dict[str, Any]:
        conn.sendall(json.dumps(op).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("session ended")
            buf += chunk
        return dict(json.loads(buf))

    control = socket.socket(socket.AF_UNIX)
    control.connect(socket_address(sock_path))
    size = os.get_terminal_size()
    if size.columns > 0 and size.lines > 0:
        request(control, {"op": "resize", "width": size.columns, "height": size.lines})
    screen = request(control, {"op": "capture", "escapes": True})["text"]
    output = socket.socket(socket.AF_UNIX)
    output.connect(socket_address(sock_path))
    output.sendall(b'{"op": "stream"}\n')
    reply = b""
    while not reply.endswith(b"\n"):
        reply += output.recv(1)
    saved = termios.tcgetattr(0)
    tty_mod.setraw(0)
    try:
        os.write(1, b"\x1b[H\x1b[2J" + screen.replace("\n", "\r\n").encode())
        sel = selectors.DefaultSelector()
        sel.register(0, selectors.EVENT_READ)
        sel.register(output, selectors.EVENT_READ)
        while True:
            for key, _ in sel.select():
                if key.fileobj is output:
                    data = output.recv(65536)
                    if not data:
                        return 0
                    os.write(1, data)
                else:
                    data = os.read(0, 4096)
                    if b"\x1d" in data or not data:  # Ctrl-]
                        return 0
                    request(control, {"op": "write", "data": base64.b64encode(data).decode()})
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.write(1, b"\r\n")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "serve":
        return serve(Path(args[1]))
    if len(args) == 2 and args[0] == "attach":
        return attach(Path(args[1]))
    sys.stderr.write("usage: python -m ao_tui_plugins.pty_supervisor serve SPEC | attach SOCKET\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
