"""Runtime ``process``: the agent on a bare pseudo-terminal, no tmux.

Each handle has a detached supervisor (``ao_tui_plugins.pty_supervisor``)
that owns the pty, so sessions outlive ao and are found again on restart.
Its files live in ``<ao_home>/runtime/``: ``<handle>.sock`` (requests),
``<handle>.pid``, ``<handle>.log`` (raw output) and ``<handle>.exit``.
The environment (secrets included) goes to the supervisor as its process
environment, never into a file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ao_tui.config import write_atomic
from ao_tui.errors import AoError, NotFound
from ao_tui.slots.base import PluginOptions
from ao_tui.slots.runtime import PaneInfo, Runtime, RuntimeStatus
from ao_tui_plugins.pty_supervisor import socket_address
from ao_tui_plugins.runtime_tmux import launch_argv, validate_handle

#: tmux key names ao uses, as the bytes a terminal sends for them.
KEYS: dict[str, bytes] = {
    "Enter": b"\r", "Escape": b"\x1b", "Tab": b"\t", "BTab": b"\x1b[Z", "BSpace": b"\x7f", "Space": b" ",
    "Up": b"\x1b[A", "Down": b"\x1b[B", "Right": b"\x1b[C", "Left": b"\x1b[D", "Home": b"\x1b[H", "End": b"\x1b[F",
    "PageUp": b"\x1b[5~", "PPage": b"\x1b[5~", "PageDown": b"\x1b[6~", "NPage": b"\x1b[6~", "DC": b"\x1b[3~",
    "Delete": b"\x1b[3~",
}  # fmt: skip


def key_bytes(key: str) -> bytes:
    """Bytes for a tmux key name (``Enter``, ``C-c``, ``Up``, ``1``...)."""
    if key in KEYS:
        return KEYS[key]
    if len(key) == 3 and key[:2] in ("C-", "^") and key[2].isalpha():
        return bytes([ord(key[2].lower()) - 96])
    if len(key) == 1:
        return key.encode()
    raise AoError(f"unknown key name {key!r}")


class ProcessRuntime(Runtime):
    Options = PluginOptions  # no options

    #: Seconds the last ``send_text`` waited for the paste to land before Enter (for benchmarks).
    last_paste_wait: float = 0.0

    def _dir(self) -> Path:
        path = self.context.ao_home / "runtime"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _file(self, handle: str, suffix: str) -> Path:
        return self._dir() / f"{validate_handle(handle)}.{suffix}"

    def _request(self, handle: str, op: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """One request to the handle's supervisor; NotFound if none answers."""
        path = self._file(handle, "sock")
        if not path.exists():
            raise NotFound(f"no process session {handle!r}")
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(timeout)
        try:
            conn.connect(socket_address(path))
            conn.sendall(json.dumps(op).encode() + b"\n")
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError, FileNotFoundError):
            if not self._supervisor_alive(handle):
                self._forget(handle)
            raise NotFound(f"no process session {handle!r} (its supervisor is gone)") from None
        except TimeoutError:
            raise AoError(f"process session {handle} did not answer {op.get('op')} within {timeout:g}s") from None
        finally:
            conn.close()
        if not buf:
            if op.get("op") == "kill":
                return {"ok": True}
            raise NotFound(f"process session {handle!r} went away")
        reply = dict(json.loads(buf))
        if "error" in reply:
            raise AoError(f"process session {handle}: {reply['error']}")
        return reply

    def _supervisor_alive(self, handle: str) -> bool:
        try:
            os.kill(int(self._file(handle, "pid").read_text()), 0)
        except (OSError, ValueError):
            return False
        return True

    def _forget(self, handle: str) -> None:
        for suffix in ("sock", "pid", "exit"):
            self._file(handle, suffix).unlink(missing_ok=True)

    # -- lifecycle ------------------------------------------------------------

    def create(
        self,
        handle: str,
        cwd: Path,
        argv: Sequence[str],
        env: Mapping[str, str],
        size: tuple[int, int] = (200, 50),
    ) -> str:
        argv = launch_argv("process", handle, cwd, argv)
        if handle in self.list_handles():
            raise AoError(f"process session {handle!r} already exists")
        self._forget(handle)
        spec_path = self._file(handle, "spec.json")
        spec = {
            "handle": handle, "cwd": str(cwd), "argv": argv, "size": list(size),
            "socket": str(self._file(handle, "sock")), "pid_file": str(self._file(handle, "pid")),
            "status_file": str(self._file(handle, "exit")), "log": str(self._file(handle, "log")),
        }  # fmt: skip
        write_atomic(spec_path, json.dumps(spec))
        child_env = {**os.environ, **{str(k): str(v) for k, v in env.items()}}
        with self._file(handle, "supervisor.log").open("ab") as errors:
            starter = subprocess.Popen(
                [sys.executable, "-m", "ao_tui_plugins.pty_supervisor", "serve", str(spec_path)],
                env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                start_new_session=True, cwd=self._dir(),
            )  # fmt: skip
        starter.wait(timeout=10)  # it forks the supervisor and returns at once
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            with contextlib.suppress(NotFound):
                self._request(handle, {"op": "status"}, timeout=2.0)
                return handle
            time.sleep(0.02)
        tail = self._file(handle, "supervisor.log").read_text(errors="replace").strip().splitlines()[-1:]
        raise AoError(f"runtime process: supervisor for {handle} did not start{': ' + tail[0] if tail else ''}")

    def kill(self, handle: str) -> None:
        try:
            self._request(handle, {"op": "kill"}, timeout=5.0)
        except NotFound:
            pass
        except AoError:  # hung supervisor: stop it by its recorded pid
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(self._file(handle, "pid").read_text()), signal.SIGKILL)
        self._forget(handle)

    def status(self, handle: str) -> RuntimeStatus:
        try:
            reply = self._request(handle, {"op": "status"}, timeout=3.0)
        except NotFound:
            return RuntimeStatus(alive=False)
        return RuntimeStatus(alive=bool(reply["alive"]), exit_code=reply["exit_code"], pid=reply["pid"])

    def list_handles(self) -> list[str]:
        return [h for h in self._candidates() if self._answers(h)]

    def _candidates(self) -> list[str]:
        return sorted(p.name[: -len(".sock")] for p in self._dir().glob("*.sock"))

    def _answers(self, handle: str) -> bool:
        try:
            self._request(handle, {"op": "status"}, timeout=3.0)
        except NotFound:
            return False
        return True

    def panes(self) -> dict[str, PaneInfo]:
        result = {}
        for handle in self._candidates():
            try:
                r = self._request(handle, {"op": "status"}, timeout=3.0)
            except NotFound:
                continue
            result[handle] = PaneInfo(
                handle=handle, title=r["title"] or "", dead=not r["alive"], exit_code=r["exit_code"],
                pid=r["pid"], width=r["width"], height=r["height"],
            )  # fmt: skip
        return result

    def attach_argv(self, handle: str) -> list[str]:
        return [sys.executable, "-m", "ao_tui_plugins.pty_supervisor", "attach", str(self._file(handle, "sock"))]

    def resize(self, handle: str, width: int, height: int) -> None:
        if width > 0 and height > 0:
            self._request(handle, {"op": "resize", "width": width, "height": height})

    # -- input and output -----------------------------------------------------

    def send_text(self, handle: str, text: str, submit: bool = True) -> None:
        """Typed as a (bracketed) paste; the supervisor presses Enter once the program has read it."""
        timeout = 10.0 + len(text) / 20_000
        reply = self._request(handle, {"op": "paste", "text": text, "submit": submit}, timeout=timeout)
        self.last_paste_wait = float(reply.get("waited", 0.0))

    def send_keys(self, handle: str, *keys: str) -> None:
        data = b"".join(key_bytes(k) for k in keys)
        if data:
            self.send_bytes(handle, data)

    def send_bytes(self, handle: str, data: bytes) -> None:
        self._request(handle, {"op": "write", "data": base64.b64encode(data).decode()})

    def capture(self, handle: str, *, escapes: bool = False, history: int = 0) -> str:
        return str(self._request(handle, {"op": "capture", "escapes": escapes, "history": history})["text"])

    async def stream(self, handle: str) -> AsyncIterator[bytes]:
        """Raw output as the supervisor reads it; ends when the program exits."""
        path = self._file(handle, "sock")
        if not path.exists():
            raise NotFound(f"no process session {handle!r}")
        reader, writer = await asyncio.open_unix_connection(socket_address(path))
        try:
            writer.write(b'{"op": "stream"}\n')
            await writer.drain()
            await reader.readline()
            while chunk := await reader.read(65536):
                yield chunk
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
