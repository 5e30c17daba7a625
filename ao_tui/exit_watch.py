"""Knowing at once that an agent's process ended, without asking tmux every few seconds.

Each watched process gets a pidfd (Linux 5.3+), which becomes readable when
the process ends; one thread waits on all of them with ``select`` and calls
back with the key it was given. An idle fleet costs no wakeups and no tmux
calls; an exit is seen within milliseconds. The engine watches each agent's
process and the tmux server's (its end takes every pane with it), and asks
the runtime for the details (exit status) only once something ended.

Where pidfds are unavailable, ``ProcessExitWatch.supported()`` is False and
the engine falls back to listing the runtime's panes periodically.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
from collections.abc import Callable

log = logging.getLogger("ao.exit_watch")


class ProcessExitWatch:
    def __init__(self, on_exit: Callable[[str], None]) -> None:
        self._on_exit = on_exit
        self._selector = selectors.DefaultSelector()
        self._by_key: dict[str, tuple[int, int]] = {}  # key -> (pid, pidfd)
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="ao-exit-watch", daemon=True)
        self._thread.start()

    @staticmethod
    def supported() -> bool:
        if not hasattr(os, "pidfd_open"):
            return False
        try:
            os.close(os.pidfd_open(os.getpid()))
        except OSError:
            return False
        return True

    def watch(self, key: str, pid: int) -> bool:
        """Call back with ``key`` when ``pid`` ends. False if it has already gone (or cannot be watched)."""
        with self._lock:
            current = self._by_key.get(key)
            if current is not None and current[0] == pid:
                return True
            self._forget_locked(key)
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                return False
            self._by_key[key] = (pid, fd)
            self._selector.register(fd, selectors.EVENT_READ, key)
        self._poke()
        return True

    def watching(self, key: str) -> bool:
        with self._lock:
            return key in self._by_key

    def forget(self, key: str) -> None:
        with self._lock:
            self._forget_locked(key)
        self._poke()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for key in list(self._by_key):
                self._forget_locked(key)
        self._poke()
        self._thread.join(timeout=5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _forget_locked(self, key: str) -> None:
        entry = self._by_key.pop(key, None)
        if entry is not None:
            self._selector.unregister(entry[1])
            os.close(entry[1])

    def _poke(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # already awake

    def _run(self) -> None:
        while True:
            ended: list[str] = []
            for selected, _ in self._selector.select():
                if selected.data is None:  # the wake pipe: the set of fds changed
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                ended.append(selected.data)
            with self._lock:
                if self._closed:
                    return
                ended = [key for key in ended if key in self._by_key]
                for key in ended:
                    self._forget_locked(key)
            for key in ended:
                try:
                    self._on_exit(key)
                except Exception:
                    log.exception("exit callback for %s", key)
