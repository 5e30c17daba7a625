"""Polling with a deadline: tests wait for what a user would see, never sleep blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition never held before the deadline (an assertion failure in pytest)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | Callable[[], str] = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that value.

    Raises WaitTimeout after ``timeout`` seconds; ``message`` (a string, or a
    callable evaluated then, e.g. to show the current screen) explains what
    was awaited. Exceptions from ``predicate`` propagate.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = message() if callable(message) else message
            name = getattr(predicate, "__name__", "condition")
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {name}" + (f": {detail}" if detail else ""))
        time.sleep(interval)


def wait_on(cond: threading.Condition, predicate: Callable[[], T], timeout: float, failure: Callable[[], str]) -> T:
    """Like ``wait_until`` for state guarded by ``cond``: ``predicate`` runs under it, woken by its notify.

    Raises AssertionError with ``failure()`` (evaluated then) after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    with cond:
        while True:
            found = predicate()
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(failure())
            cond.wait(min(remaining, 0.1))
