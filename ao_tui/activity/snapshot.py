"""An agent's activity read once, now, from its own files: for when no engine is running.

``ao ls``, a following ``ao-tui`` and the orchestrator's summary show what the engine stored;
with no engine to keep that current it may be minutes old. ``read_activity`` asks the same
detector the engine's monitor feeds (``ActivityDetector``) once: the tail of the hook events
file, the tail of the transcript, and the screen only where those leave a doubt (the same
rule as the monitor's). Where nothing tells, the answer is ``unknown`` with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ao_tui.activity.detector import BUSY, ActivityDetector
from ao_tui.activity.events import EventsReader
from ao_tui.activity.session_file import parser_for
from ao_tui.activity.tail import LineTail
from ao_tui.activity.transcript import TranscriptParser
from ao_tui.models import Activity, ActivityState
from ao_tui.slots.agent import ScreenGuess

#: Enough of each file's end for the current turn (the newest signals decide); the hooks
#: usually decide alone, and then the transcript is not read at all (see ``_transcript_matters``).
EVENTS_TAIL_BYTES = 64 << 10
TRANSCRIPT_TAIL_BYTES = 256 << 10

ScreenSource = Callable[[], "tuple[str, str] | None"]  # (visible screen, pane title), None if no pane
ScreenParser = Callable[[str, str], "ScreenGuess | None"]


def _transcript_matters(detector: ActivityDetector, path: Path) -> bool:
    """Whether the transcript could change the detector's verdict (its rule 2): not when a hook
    newer than the file's last write has decided, unless that hook says busy so soon after that
    it may be a late one (then the transcript, having ended the turn, would win)."""
    hook = detector.hook
    if hook is None:
        return True
    try:
        written = path.stat().st_mtime
    except OSError:
        return False
    if hook.at < written:
        return True
    return hook.state in BUSY and hook.at - written < detector.hook_lag


def _transcript_tail(path: Path) -> TranscriptParser | None:
    parser = parser_for(path)
    tail = LineTail(path)
    if tail.start_near_end(TRANSCRIPT_TAIL_BYTES) == 0 and not path.exists():
        return None
    for line in tail.read().lines:
        parser.feed_line(line)
    return parser if parser.state.records else None


def read_activity(
    events_file: Path | None,
    transcript_path: Path | Callable[[], Path | None] | None,
    screen: ScreenSource | None = None,
    read_screen: ScreenParser | None = None,
    *,
    clock: Callable[[], float] = time.time,
    screen_polled: bool = False,
) -> Activity:
    """What the agent is doing now, from its files (and its screen where they leave a doubt).

    ``transcript_path`` may be a callable, asked only when the hooks have not named the
    transcript (finding it may mean a directory search). ``screen_polled``: the agent's files
    never say when a turn ends (Aider): its screen is read as well, the newer signal decides.
    """
    detector = ActivityDetector(clock=clock)
    if events_file is not None and events_file.exists():
        reader = EventsReader(events_file, EVENTS_TAIL_BYTES)
        for event in reader.poll():
            detector.on_hook(event)
        transcript_path = reader.transcript_path or transcript_path  # where the agent really writes
    if callable(transcript_path):
        transcript_path = transcript_path()
    if transcript_path is not None and _transcript_matters(detector, Path(transcript_path)):
        parser = _transcript_tail(Path(transcript_path))
        if parser is not None:
            detector.on_transcript(parser.state)
    detector.screen_only = (events_file is None and transcript_path is None) or screen_polled
    due = detector.screen_due()
    screen_read: bool | None = None  # None: not looked at; False: no screen to read
    if due is not None and due <= clock() and screen is not None and read_screen is not None:
        got = screen()
        screen_read = got is not None
        detector.on_screen(read_screen(*got) if got is not None else None)
    ev = detector.raw()
    now = clock()
    if ev is None:
        if detector.screen_only or screen_read is not None:
            reason = "its screen shows nothing known" if screen_read else "its screen could not be read"
        elif detector.hooks_seen or detector.has_transcript:
            reason = "its hooks and transcript do not say"
        else:
            reason = "no hook event or transcript yet"
        return Activity(state=ActivityState.UNKNOWN, source="files", since=_dt(now), detail=reason)
    if ev.tentative and now - ev.at < detector.start_hold:
        # The agent has just started: its task prompt usually follows at once (as the engine waits).
        return Activity(state=ActivityState.WORKING, source=ev.source, since=_dt(ev.at), detail="starting")
    detail = ev.detail
    if ev.state is ActivityState.WORKING and not detail:
        detail = detector.task  # the prompt being worked on, as the monitor shows it
    return Activity(state=ev.state, source=ev.source, since=_dt(min(ev.at, now)), detail=detail, tool=ev.tool)


def _dt(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
