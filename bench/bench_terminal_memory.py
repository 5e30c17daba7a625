"""What the terminal pane keeps while it shows session after session (issue 16's soak, the UI's share).

A headless app with one ``TerminalView`` (160x48, as in the soak's ao-tui) is shown ``--sessions``
sources in turn, as the cursor landing on the next session does; each prints ``--lines`` distinct
coloured lines, drawn as they come. After each session it prints the Python memory held (traced by
tracemalloc), the strips and pyte cells alive and the view's cache sizes, so a cache that grows with
every session seen shows as a rising line and a bounded one levels off.

Run: ``python bench/bench_terminal_memory.py [--sessions 30] [--lines 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402

from ao_tui.tui.terminal_view import TerminalView  # noqa: E402


class Source:
    """A session's terminal: what was printed, as a capture and as a stream."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.pushed: list[bytes] = []
        self.size = (160, 48)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    def capture(self, history: int = 0) -> str:
        lines = b"".join(self.pushed).decode().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines[-(self.size[1] + history):])

    async def stream(self):  # noqa: ANN201
        while True:
            yield await self._queue.get()

    def push(self, data: bytes) -> None:
        self.pushed.append(data)
        self._queue.put_nowait(data)

    def send_bytes(self, data: bytes) -> None:
        pass

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)


class TermApp(App):
    def compose(self) -> ComposeResult:
        yield TerminalView(id="term")


def alive(kind: str) -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == kind)


async def run(sessions: int, lines: int) -> None:
    app = TermApp()
    async with app.run_test(size=(162, 50)) as pilot:
        view = app.query_one(TerminalView)
        tracemalloc.start()
        for n in range(sessions):
            source = Source(f"s-{n}")
            view.show(source)  # type: ignore[arg-type]
            await pilot.pause(0.05)
            for i in range(lines):
                colour = 31 + (i + n) % 7
                source.push(f"\x1b[{colour}msession {n} line {i} ".encode() + b"x" * (40 + i % 100) + b"\x1b[0m\r\n")
                if i % 10 == 9:
                    await pilot.pause(0.01)
            await pilot.pause(0.4)
            gc.collect()
            print(json.dumps({
                "sessions_shown": n + 1, "traced_mb": round(tracemalloc.get_traced_memory()[0] / 2**20, 2),
                "strips": alive("Strip"), "cells": alive("Char"),
                "history_strips": len(view._history_strips), "content_strips": len(view._strip_cache),
                "rendered": len(view._rendered),
            }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--lines", type=int, default=200)
    args = parser.parse_args()
    started = time.monotonic()
    asyncio.run(run(args.sessions, args.lines))
    print(json.dumps({"seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()
