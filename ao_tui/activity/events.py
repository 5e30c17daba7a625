"""The per-session hook events file (written by ``ao_tui.activity.hook``), read incrementally.

Each line is ``{"ao_session", "at", "event", ...Claude Code's hook payload}``.
Only the latest events decide a state, so an existing file is read from its
last ``START_TAIL_BYTES``; after that every appended line is returned once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ao_tui.activity.tail import LineTail, TruncatedLine

START_TAIL_BYTES = 256 << 10
MAX_EVENT_LINE = 1 << 20

HookEvent = dict[str, Any]


class EventsReader:
    def __init__(self, path: Path, start_tail_bytes: int = START_TAIL_BYTES) -> None:
        self.path = Path(path)
        self.start_tail_bytes = start_tail_bytes
        self._tail = LineTail(self.path, max_line=MAX_EVENT_LINE)
        self._started = False
        self.bad_lines = 0
        #: Claude Code's transcript path, as the hooks report it.
        self.transcript_path: Path | None = None

    def poll(self) -> list[HookEvent]:
        """Events appended since the last poll, oldest first.

        After the file is truncated or replaced, the events in the new file
        are returned from its start.
        """
        if not self._started:
            if not self.path.exists():
                return []
            self._started = True
            self._tail.start_near_end(self.start_tail_bytes)
        events: list[HookEvent] = []
        for line in self._tail.read().lines:
            if isinstance(line, TruncatedLine):
                self.bad_lines += 1
                continue
            try:
                event = json.loads(line)
            except ValueError:
                self.bad_lines += 1
                continue
            if not isinstance(event, dict):
                self.bad_lines += 1
                continue
            if not event.get("event") and isinstance(event.get("hook_event_name"), str):
                event["event"] = event["hook_event_name"]
            tp = event.get("transcript_path")
            if isinstance(tp, str) and tp:
                self.transcript_path = Path(tp)
            events.append(event)
        return events
