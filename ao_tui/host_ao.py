"""The engine's side of ao on a host: installing it there, starting it, and talking to it.

Installing: the engine builds its own wheel once (``pip wheel --no-deps``, cached under
``$AO_HOME/wheels``), sends it over the host's connection and installs it into a virtualenv under
the host's state dir, unpacked without pip (the host's ao, ``ao_tui.hostd``, needs only the standard
library and the wheel is pure Python: no package index and no pip are needed there). A host with another version is reinstalled, after
saying so; a mismatched version never runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ao_tui import __version__
from ao_tui.errors import AoError
from ao_tui.slots.host import Host

#: The build id written beside the host's venv when ao was installed there (with its version as fallback).
_BUILD_OF = ("import sys, pathlib; p = pathlib.Path(sys.argv[1]); from ao_tui import __version__; "
             "print(p.read_text().strip() if p.exists() else __version__)")
_EXPAND = "import os, sys; print(os.path.abspath(os.path.expanduser(sys.argv[1])))"
#: A pure-Python wheel installed without pip: unpacked into the venv's site-packages, the old one removed first.
_UNPACK = ("import shutil, sys, sysconfig, zipfile, pathlib; site = pathlib.Path(sysconfig.get_paths()['purelib']); "
           "[shutil.rmtree(p) for p in [*site.glob('ao_tui'), *site.glob('ao_tui_plugins'), *site.glob('ao_tui-*')]]; "
           "zipfile.ZipFile(sys.argv[1]).extractall(site)")
_WRITE = ("import os, sys; p = sys.argv[1]; os.makedirs(os.path.dirname(p), exist_ok=True); "
          "t = p + '.part'; open(t, 'wb').write(sys.stdin.buffer.read()); os.replace(t, p)")


def remote_state_dir(host: Host) -> str:
    """The host's state dir as an absolute path there (``~`` expanded by the host, not here)."""
    out = host.run(["python3", "-c", _EXPAND, str(host.options.state_dir)])
    if out.returncode != 0:
        raise AoError(f"host {host.host_name}: python3 did not run there: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode().strip()


def _source_tree() -> Path:
    source = Path(__file__).resolve().parent.parent
    if not (source / "pyproject.toml").exists():
        raise AoError(f"cannot build ao's wheel: no source tree at {source}")
    return source


def build_id() -> str:
    """This ao's version and a digest of its source: a host runs exactly this code, not merely the same
    version number (a checkout changed since the host's install is installed again)."""
    source = _source_tree()
    digest = hashlib.sha256((source / "pyproject.toml").read_bytes())
    for path in sorted([*(source / "ao_tui").rglob("*"), *(source / "plugins").rglob("*")]):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def build_wheel(ao_home: Path, build: str | None = None) -> Path:
    """This ao as a wheel, built once per build id from the source tree it runs from.

    Built from a copy of the tree: setuptools writes ``build/`` and ``*.egg-info`` where it builds,
    and two ao processes (or test workers) building in the user's checkout at once broke each other."""
    build = build or build_id()
    cache = ao_home / "wheels" / build.rpartition("+")[2]
    found = sorted(cache.glob(f"ao_tui-{__version__}-*.whl"))
    if found:
        return found[-1]
    source = _source_tree()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ao-wheel-") as scratch:
        tree = Path(scratch) / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
        for name in ("ao_tui", "plugins"):
            shutil.copytree(source / name, tree / name, ignore=ignore)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, tree / name)
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                              "-w", scratch, str(tree)], capture_output=True, text=True, timeout=300)
        built = sorted(Path(scratch).glob(f"ao_tui-{__version__}-*.whl"))
        if out.returncode != 0 or not built:
            raise AoError(f"building ao's wheel failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        final = cache / built[-1].name
        shutil.copy2(built[-1], final.with_suffix(".part"))
        os.replace(final.with_suffix(".part"), final)  # another process building the same id: same bytes
    return final


def installed_version(host: Host, state: str) -> str | None:
    """The build id of the ao installed on the host (see ``build_id``), or None."""
    out = host.run([f"{state}/venv/bin/python", "-c", _BUILD_OF, f"{state}/venv/ao-build"])
    return out.stdout.decode().strip() or None if out.returncode == 0 else None


def ensure_installed(host: Host, ao_home: Path, say: Callable[[str], None] = print) -> str:
    """The host's ao python, installing or replacing ao there when it is missing or another version."""
    state = remote_state_dir(host)
    have = installed_version(host, state)
    build = build_id()
    if have == build:
        return f"{state}/venv/bin/python"
    wheel = build_wheel(ao_home, build)
    what = "not installed" if have is None else f"{have} there, this is {build}"
    say(f"host {host.host_name}: ao {what}; installing ao {__version__} into {state}/venv")
    remote_wheel = f"{state}/wheels/{wheel.name}"
    steps: list[tuple[list[str], bytes | None]] = [
        (["python3", "-c", _WRITE, remote_wheel], wheel.read_bytes()),
        (["python3", "-m", "venv", "--without-pip", f"{state}/venv"], None),
        ([f"{state}/venv/bin/python", "-c", _UNPACK, remote_wheel], None),
        (["python3", "-c", _WRITE, f"{state}/venv/ao-build"], build.encode()),
    ]
    for argv, data in steps:
        out = host.run(argv, input=data, timeout=300)
        if out.returncode != 0:
            raise AoError(f"host {host.host_name}: installing ao failed ({argv[1]} {argv[2][:20]}):"
                          f" {(out.stderr.decode(errors='replace').strip().splitlines() or ['?'])[-1]}")
    have = installed_version(host, state)
    if have != build:
        raise AoError(f"host {host.host_name}: ao there says {have!r} after installing {build}")
    return f"{state}/venv/bin/python"


class HostAo:
    """A running ``ao_tui.hostd`` on one host: requests answered in order, events in ``events``."""

    def __init__(self, host: Host, python: str, state: str,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.host = host
        self.state = state
        self.process = host.start([python, "-m", "ao_tui.hostd", state])
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.on_event = on_event
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._next = 0
        threading.Thread(target=self._read, daemon=True, name=f"hostd-{host.host_name}").start()

    @classmethod
    def start(cls, host: Host, ao_home: Path, say: Callable[[str], None] = print,
              on_event: Callable[[dict[str, Any]], None] | None = None) -> HostAo:
        python = ensure_installed(host, ao_home, say)
        hostd = cls(host, python, remote_state_dir(host), on_event)
        hello = hostd.call("hello")
        if hello["version"] != __version__:
            hostd.close()
            raise AoError(f"host {host.host_name}: ao there is {hello['version']}, this is {__version__}")
        return hostd

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            message = json.loads(raw)
            if "event" not in message:
                self._answers.put(message)
            elif self.on_event is not None:
                try:
                    self.on_event(message)
                except Exception:  # noqa: BLE001 - a listener must never stop the reading
                    pass
            else:
                self.events.put(message)
        self._answers.put({"id": None, "ok": False, "error": "the host's ao ended (connection lost?)"})

    def call(self, op: str, timeout: float = 60, **args: Any) -> Any:
        with self._lock:
            self._next += 1
            assert self.process.stdin is not None
            try:
                self.process.stdin.write((json.dumps({"id": self._next, "op": op, **args}) + "\n").encode())
                self.process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise AoError(f"host {self.host.host_name}: not reachable ({exc})") from None
            try:
                answer = self._answers.get(timeout=timeout)
            except queue.Empty:
                raise AoError(f"host {self.host.host_name}: no answer to {op} within {timeout:.0f}s") from None
        if not answer["ok"]:
            raise AoError(f"host {self.host.host_name}: {op}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class HostLink:
    """The engine's lasting link to one host: ao there, restarted over a new connection when the old one
    is lost (backoff doubling to ``max_backoff``). While it is down, ``unreachable_since`` says since when
    (its sessions are "host unreachable", never exited: the agents keep working in the host's tmux);
    messages for the host wait in order and are typed once when it is back, after the sessions' state
    is read again from the host (``on_state``)."""

    def __init__(self, host: Host, ao_home: Path, *, say: Callable[[str], None] = print,
                 on_state: Callable[[dict[str, Any]], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 on_down: Callable[[float], None] | None = None,
                 first_backoff: float = 0.5, max_backoff: float = 30.0, connect_now: bool = True) -> None:
        """``connect_now``: raise if the host cannot be reached now; else start unreachable and keep trying.
        ``on_down(since)`` is called when the link is lost, ``on_state`` with the host's panes when it is
        (back) up, ``on_event`` with each event ao there sends (an agent's exit)."""
        self.host, self.ao_home, self.say, self.on_state = host, ao_home, say, on_state
        self.on_event, self.on_down = on_event, on_down
        self.first_backoff, self.max_backoff = first_backoff, max_backoff
        self.unreachable_since: float | None = None
        self.hostd: HostAo | None = None
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        try:
            self._connect()
        except (AoError, OSError, subprocess.SubprocessError) as exc:
            if connect_now:
                raise
            import time

            self.unreachable_since = time.time()
            self.say(f"host {host.host_name}: unreachable ({exc}); retrying")
            if self.on_down is not None:
                self.on_down(self.unreachable_since)
        threading.Thread(target=self._watch, daemon=True, name=f"hostlink-{host.host_name}").start()

    def _connect(self) -> None:
        hostd = HostAo.start(self.host, self.ao_home, self.say, self.on_event)
        state = hostd.call("list")
        with self._lock:
            self.hostd, self.unreachable_since = hostd, None
            pending, self._pending = self._pending, []
        if self.on_state is not None:
            self.on_state(state)
        for message in pending:  # typed once: each leaves the queue before it is typed
            hostd.call("send", **message)

    def _watch(self) -> None:
        import time

        while not self._stopped.is_set():
            hostd = self.hostd
            if hostd is not None:
                hostd.process.wait()
                if self._stopped.is_set():
                    return
                with self._lock:
                    self.hostd = None
                    self.unreachable_since = time.time()
                self.say(f"host {self.host.host_name}: unreachable; reconnecting")
                if self.on_down is not None:
                    self.on_down(self.unreachable_since)
            delay = self.first_backoff
            while not self._stopped.is_set():
                try:
                    self._connect()
                    self.say(f"host {self.host.host_name}: reachable again")
                    break
                except (AoError, OSError, subprocess.SubprocessError):
                    self._stopped.wait(delay)
                    delay = min(delay * 2, self.max_backoff)

    def call(self, op: str, **args: Any) -> Any:
        hostd = self.hostd
        if hostd is None:
            raise AoError(f"host {self.host.host_name} unreachable since {self.unreachable_since_clock()}")
        return hostd.call(op, **args)

    def send(self, handle: str, text: str, submit: bool = True) -> bool:
        """Type into a session on the host now, or queue it for when the host is back (False)."""
        with self._lock:
            hostd = self.hostd
            if hostd is None:
                self._pending.append({"handle": handle, "text": text, "submit": submit})
                return False
        hostd.call("send", handle=handle, text=text, submit=submit)
        return True

    @property
    def state_dir(self) -> str | None:
        """The host's state dir (absolute, as the host spells it) while connected."""
        hostd = self.hostd
        return hostd.state if hostd is not None else None

    def unreachable_since_clock(self) -> str:
        """When the host stopped answering, as the local time messages show (HH:MM:SS)."""
        import time

        return time.strftime("%H:%M:%S", time.localtime(self.unreachable_since or time.time()))

    def close(self) -> None:
        self._stopped.set()
        if self.hostd is not None:
            self.hostd.close()
