"""The leader: the one process per state dir that runs the engine loop, and how the others reach it.

Leadership is an ``flock`` on ``$AO_HOME/engine.lock`` (the kernel drops it when its holder
dies, however it dies). Every ao process writes the store itself; after a committed write it
sends the leader a tiny datagram on ``$AO_HOME/engine.sock`` ("something changed"), and the
leader reads what changed from the store's event log at once. See docs/architecture.md.

The socket is made mode 0600 (only its owner can send) and the leader also reads each
datagram's sender credentials (``SO_PASSCRED``), ignoring any from another user.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ao_tui import paths

log = logging.getLogger("ao.leader")

LOCK_NAME = "engine.lock"
SOCKET_NAME = "engine.sock"
_MESSAGE = b"changed"
_UCRED = struct.Struct("3i")  # pid, uid, gid
#: A ``sun_path`` holds 108 bytes; longer paths are reached through the directory's fd.
_MAX_PATH = 100


def lock_path(home: Path | None = None) -> Path:
    return (home or paths.ao_home()) / LOCK_NAME


def socket_path(home: Path | None = None) -> Path:
    return (home or paths.ao_home()) / SOCKET_NAME


# -- the lock ---------------------------------------------------------------------


def try_lock(home: Path | None = None) -> int | None:
    """Take the leadership if no one holds it: the locked fd (holding it is leading), else None."""
    path = lock_path(paths.ensure_dir(home or paths.ao_home()))
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def leader_pid(home: Path | None = None) -> int | None:
    """The process leading now, or None when none does.

    Asks the lock itself (a shared lock is refused while the leader holds its exclusive one),
    so a pid left in the file by a leader that died is never taken for a running one.
    """
    path = lock_path(home)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1  # held, the pid not written yet
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def wait_for_leadership(stop: threading.Event, home: Path | None = None, *, retry: float = 1.0) -> int | None:
    """Block until this process leads (the locked fd) or ``stop`` is set (None).

    Sleeps on a pidfd of the current leader, so its end (``kill -9`` included) wakes this at
    once; without pidfds (or between leaders) it tries again every ``retry`` seconds.
    """
    while not stop.is_set():
        fd = try_lock(home)
        if fd is not None:
            return fd
        pid = leader_pid(home)
        pidfd = None
        if pid and pid > 0 and hasattr(os, "pidfd_open"):
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(pid)
        try:
            if pidfd is None:
                stop.wait(min(retry, 0.2) if pid == -1 else retry)
            else:
                select.select([pidfd], [], [], retry)
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return None


@contextlib.contextmanager
def holding(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (waiting for it; its folder made if missing), released even by ``kill -9``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


class FileLock:
    """An exclusive lock on ``path``, taken (waiting for it) when made, held until ``release`` (or
    the process's end, however it ends). ``release`` may be called early and again."""

    def __init__(self, path: Path) -> None:
        self._fd: int | None = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # drops the lock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def held(path: Path) -> bool:
    """Whether some live process holds ``path`` locked (``holding``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# -- "something changed" ------------------------------------------------------------


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """A ``sun_path`` for ``path``, through ``/proc/self/fd`` when the path is too long."""
    if len(os.fsencode(str(path))) <= _MAX_PATH:
        yield str(path)
        return
    dirfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{dirfd}/{path.name}"
    finally:
        os.close(dirfd)


def announce_change(home: Path | None = None) -> None:
    """Tell the leader (if any) that the store changed. Never blocks, never fails."""
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    except OSError:
        return
    try:
        with _address(socket_path(home)) as address:
            sock.sendto(_MESSAGE, address)
    except OSError as exc:  # no leader (ENOENT, ECONNREFUSED), or its queue is full: it has news already
        if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED, errno.EAGAIN, errno.ENOTDIR):
            log.debug("telling the leader failed: %s", exc)
    finally:
        sock.close()


class ChangeListener:
    """The leader's end: calls ``on_change`` (from its own thread) when another process wrote.

    Datagrams that arrive together are answered with one call.
    """

    def __init__(self, on_change: Callable[[], None], home: Path | None = None) -> None:
        self.on_change = on_change
        self.path = socket_path(home)
        self.refused = 0  # datagrams from another user
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the socket (the caller leads: a socket left by a dead leader is replaced)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with _address(self.path) as address:
            sock.bind(address)
        # (No umask dance: it is process-wide. Before this chmod the sender check below refuses others.)
        os.chmod(self.path, 0o600)
        sock.setblocking(False)
        self._sock = sock
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, name="ao-leader-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _run(self) -> None:
        assert self._sock is not None
        own_uid = os.getuid()
        ancillary = socket.CMSG_SPACE(_UCRED.size)
        while True:
            ready, _, _ = select.select([self._sock.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                return
            news = False
            while True:  # drain: a burst of writes is one look at the store
                try:
                    _, cmsgs, _, _ = self._sock.recvmsg(64, ancillary)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    log.warning("leader socket: %s", exc)
                    break
                uid = next((_UCRED.unpack(data[: _UCRED.size])[1] for level, kind, data in cmsgs
                            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), None)
                if uid != own_uid:
                    self.refused += 1
                    log.warning("ignored a change notice from uid %s", uid)
                    continue
                news = True
            if news:
                try:
                    self.on_change()
                except Exception:  # noqa: BLE001 - the listener must outlive a faulty callback
                    log.exception("handling a change notice failed")
