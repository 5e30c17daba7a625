"""ActivityMonitor: one file watcher for every session's hook events and transcripts.

Two threads, both asleep while nothing happens:

- the *watch* thread runs one ``watchfiles.watch`` over the directories that
  hold the tracked files (non-recursive, so a big ``~/.claude/projects`` costs
  nothing). A directory that does not exist yet is replaced by its nearest
  existing parent until it appears. On a change it tails the changed files,
  feeds the session's detector and reports.
- the *timer* thread loads files for newly tracked sessions (a 200 MB
  transcript takes a moment) and runs what has a deadline: a debounced state
  change that must be published after its settle time, and a screen read for a
  session whose signals are ambiguous. Nothing else ever reads a screen, so a
  fleet of idle sessions makes no tmux calls at all.

Callbacks run on these threads: keep them short and never wait on another
thread that may call into the monitor.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ao_tui.activity.detector import ActivityDetector
from ao_tui.activity.events import EventsReader
from ao_tui.activity.session_file import reader_for
from ao_tui.activity.transcript import TranscriptReader, TranscriptState
from ao_tui.models import Activity, ActivityState
from ao_tui.slots.agent import ScreenGuess
from ao_tui.usage_limits import screen_limit

log = logging.getLogger(__name__)

#: Called with (ao session id, its activity, a copy of its transcript state or None while
#: no transcript has been read: an empty state would read as zero usage).
UpdateCallback = Callable[[str, Activity, "TranscriptState | None"], None]
#: Returns (visible screen text, pane title) for an ao session id, or None if it has no pane.
ScreenReader = Callable[[str], "tuple[str, str] | None"]
#: The agent plugin's ``read_screen(screen, title)``.
ScreenParser = Callable[[str, str], "ScreenGuess | None"]

#: watchfiles timing, in ms: measured in bench/bench_activity.py (docs/benchmarks.md).
WATCH_STEP_MS = 4
WATCH_DEBOUNCE_MS = 20


@dataclass
class _Tracked:
    id: str
    events_file: Path | None
    transcript_path: Path | None
    transcript_dir: Path | None
    read_screen: ScreenParser | None
    detector: ActivityDetector
    tracked_at: float
    lock: threading.RLock = field(default_factory=threading.RLock)
    events: EventsReader | None = None
    transcript: TranscriptReader | None = None
    reported_revision: int = -1
    last_report: float = float("-inf")
    report_due: float | None = None  # a coalesced transcript-only update waits until then
    loaded: bool = False

    def wanted_dirs(self) -> set[Path]:
        dirs: set[Path] = set()
        if self.events_file is not None:
            dirs.add(self.events_file.parent)
        if self.transcript_path is not None:
            dirs.add(self.transcript_path.parent)
            dirs.add(self.transcript_path.with_suffix("") / "subagents")
        elif self.transcript_dir is not None:
            dirs.add(self.transcript_dir)
        return dirs


def _absolute(path: Path | str | None) -> Path | None:
    """Absolute, not resolved: watchfiles names changed files under the path as given."""
    return Path(os.path.abspath(path)) if path else None


def _at(event: dict[str, Any]) -> float:
    at = event.get("at")
    return float(at) if isinstance(at, (int, float)) else 0.0


def _existing(path: Path) -> Path:
    while not path.is_dir() and path.parent != path:
        path = path.parent
    return path


class ActivityMonitor:
    """Tracks sessions' activity from their files; reports changes through ``on_update``.

    A change of activity is reported at once; a transcript change that leaves
    the activity as it is (usage, last words) at most once per
    ``transcript_interval`` seconds per session, the latest state last.
    """

    def __init__(
        self,
        on_update: UpdateCallback,
        screen_reader: ScreenReader | None = None,
        *,
        clock: Callable[[], float] = time.time,
        settle: float = 0.15,
        quiet_after: float = 15.0,
        transcript_interval: float = 0.5,
        step_ms: int = WATCH_STEP_MS,
        debounce_ms: int = WATCH_DEBOUNCE_MS,
    ) -> None:
        self.on_update = on_update
        self.screen_reader = screen_reader
        self.clock = clock
        self.settle = settle
        self.quiet_after = quiet_after
        self.transcript_interval = transcript_interval
        self.step_ms = step_ms
        self.debounce_ms = debounce_ms
        self._sessions: dict[str, _Tracked] = {}
        self._lock = threading.RLock()
        self._restart = threading.Event()  # the watch set changed: rebuild the watcher
        self._stopping = False
        self._timer_cv = threading.Condition()
        self._timer_wake = False
        self._to_load: list[str] = []
        self._threads: list[threading.Thread] = []
        self._targets: frozenset[Path] = frozenset()
        #: After a watcher restart, files are read once more when it surely runs (see _watch_loop).
        self._catch_up_at: float | None = None
        self._timer_next: float | None = None  # when the timer thread plans to wake (monitor clock)
        #: Counters for benchmarks and tests.
        self.screen_reads = 0
        self.watch_restarts = 0

    # -- public API ------------------------------------------------------------

    def track(
        self,
        session_id: str,
        events_file: Path | None,
        transcript_path: Path | None = None,
        transcript_dir: Path | None = None,
        agent_read_screen: ScreenParser | None = None,
        *,
        watch_dialogs: bool = False,
        screen_polled: bool = False,
    ) -> None:
        """Follow a session's files. Existing content is read in the background.

        ``transcript_path`` is the agent's transcript if known up front (Claude
        Code with ``--session-id``); else it is learnt from the hooks'
        ``transcript_path``, or taken as the first ``*.jsonl`` written in
        ``transcript_dir`` after tracking starts. With neither hooks nor a
        transcript, the screen is read every couple of seconds (the only case
        where it is read without an ambiguity), and so it is with ``screen_polled``
        (files that never say when a turn ends: Aider's).
        """
        detector = ActivityDetector(clock=self.clock, settle=self.settle, quiet_after=self.quiet_after)
        detector.screen_only = (events_file is None and transcript_path is None and transcript_dir is None
                                or screen_polled)
        detector.watch_dialogs = watch_dialogs  # the agent's files do not say when a prompt is answered
        t = _Tracked(
            id=session_id,
            events_file=_absolute(events_file),
            transcript_path=_absolute(transcript_path),
            transcript_dir=_absolute(transcript_dir),
            read_screen=agent_read_screen,
            detector=detector,
            tracked_at=self.clock(),
        )
        if t.events_file is not None:
            t.events = EventsReader(t.events_file)
        if t.transcript_path is not None:
            t.transcript = reader_for(t.transcript_path)
        with self._lock:
            self._sessions[session_id] = t
        self._restart.set()
        with self._timer_cv:
            self._to_load.append(session_id)
            self._timer_wake = True
            self._timer_cv.notify()

    def untrack(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
        self._restart.set()

    def tracked(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def snapshot(self, session_id: str) -> tuple[Activity, TranscriptState | None] | None:
        """The current activity and transcript state (None before one is read); None if untracked."""
        t = self._get(session_id)
        if t is None:
            return None
        with t.lock:
            return t.detector.activity, self._transcript_copy(t)

    @staticmethod
    def _transcript_copy(t: _Tracked) -> TranscriptState | None:
        if t.transcript is None or t.transcript.state.records == 0:
            return None
        return t.transcript.state.copy()

    def runtime_exited(self, session_id: str, detail: str = "process exited") -> None:
        """The runtime saw the agent process end: final until a newer signal."""
        self._signal(session_id, lambda d: d.on_exit(detail))

    def runtime_alive(self, session_id: str) -> None:
        """The agent runs again (restored): forget a reported exit."""
        self._signal(session_id, lambda d: d.on_alive())

    def refresh(self, session_id: str | None = None) -> None:
        """Re-read files now (normally never needed: the watcher does it)."""
        ids = [session_id] if session_id else self.tracked()
        for sid in ids:
            t = self._get(sid)
            if t is not None:
                self._process(t)

    def start(self) -> None:
        if self._threads:
            return
        self._stopping = False
        for name, target in (("ao-activity-watch", self._watch_loop), ("ao-activity-timer", self._timer_loop)):
            th = threading.Thread(target=target, name=name, daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping = True
        self._restart.set()
        with self._timer_cv:
            self._timer_wake = True
            self._timer_cv.notify()
        for th in self._threads:
            th.join(timeout)
        self._threads.clear()

    def __enter__(self) -> ActivityMonitor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------

    def _get(self, session_id: str) -> _Tracked | None:
        with self._lock:
            return self._sessions.get(session_id)

    def _signal(self, session_id: str, change: Callable[[ActivityDetector], None]) -> None:
        t = self._get(session_id)
        if t is None:
            return
        with t.lock:
            change(t.detector)
            self._report(t)
        self._wake_timer_for(t)

    def _wake_timer(self) -> None:
        with self._timer_cv:
            self._timer_wake = True
            self._timer_cv.notify()

    def _compute_targets(self) -> tuple[frozenset[Path], frozenset[str], dict[str, list[_Tracked]]]:
        """What to watch: existing directories; the paths whose change means "recompute this"
        (wanted directories and their missing parents: created or removed); and, for each
        file or directory path a change can name, the sessions it concerns."""
        with self._lock:
            sessions = list(self._sessions.values())
        targets: set[Path] = set()
        awaited: set[str] = set()
        owners: dict[str, list[_Tracked]] = {}
        for t in sessions:
            for d in t.wanted_dirs():
                e = _existing(d)
                targets.add(e)
                awaited.add(str(d))
                p = d
                while p != e:
                    awaited.add(str(p))
                    p = p.parent
            keys = [t.events_file, t.transcript_path]
            if t.transcript_path is not None:
                keys.append(t.transcript_path.with_suffix("") / "subagents")  # its files: see _on_changes
            elif t.transcript_dir is not None:
                keys.append(t.transcript_dir)
            for key in keys:
                if key is not None:
                    owners.setdefault(str(key), []).append(t)
        return frozenset(targets), frozenset(awaited), owners

    def _watch_loop(self) -> None:
        import watchfiles

        while not self._stopping:
            self._restart.clear()
            targets, awaited, owners = self._compute_targets()
            self._targets = targets
            self.watch_restarts += 1
            self._catch_up()
            # What is written between this catch-up and the new watch taking effect would wait for
            # the next change: the timer thread reads everything once more a moment later.
            self._catch_up_at = time.monotonic() + 0.05
            self._wake_timer()
            if not targets:
                self._restart.wait()
                continue
            try:
                for changes in watchfiles.watch(
                    *targets,
                    watch_filter=None,
                    debounce=self.debounce_ms,
                    step=self.step_ms,
                    stop_event=self._restart,
                    recursive=False,
                    raise_interrupt=False,
                    ignore_permission_denied=True,
                ):
                    paths = {path for _, path in changes}
                    self._on_changes(paths, owners)
                    if not awaited.isdisjoint(paths):
                        break  # a directory we wait for (or watch) appeared or went: rebuild
            except FileNotFoundError:  # a watched directory vanished under us
                time.sleep(0.05)
            except Exception:  # noqa: BLE001 - keep watching whatever happens
                log.exception("activity watcher failed; restarting it")
                time.sleep(0.2)

    def _catch_up(self) -> None:
        """After (re)starting the watcher: read anything written while it was down."""
        with self._lock:
            sessions = [t for t in self._sessions.values() if t.loaded]
        for t in sessions:
            self._process(t)

    def _on_changes(self, paths: Iterable[str], owners: dict[str, list[_Tracked]]) -> None:
        touched: dict[str, _Tracked] = {}
        for path in paths:
            found = owners.get(path) or owners.get(os.path.dirname(path)) or ()
            for t in found:
                touched[t.id] = t
        for t in touched.values():
            if t.loaded:
                self._process(t)

    def _adopt_transcript(self, t: _Tracked) -> bool:
        """Find (or follow a move of) the session's transcript. True if it changed now.

        The hooks' ``transcript_path`` wins over what the session was tracked
        with: it is where Claude Code really writes (a resumed conversation
        may continue in another file).
        """
        path: Path | None = None
        hooked = t.events.transcript_path if t.events is not None else None
        if hooked is not None and _absolute(hooked) != t.transcript_path:
            path = hooked
        elif t.transcript is None and t.transcript_dir is not None:
            try:
                fresh = [p for p in t.transcript_dir.glob("*.jsonl") if p.stat().st_mtime >= t.tracked_at - 1]
            except OSError:
                fresh = []
            if fresh:
                path = max(fresh, key=lambda p: p.stat().st_mtime)
        if path is None:
            return False
        t.transcript_path = Path(os.path.abspath(path))  # as _absolute: watchfiles names files as given
        t.transcript = reader_for(t.transcript_path)
        return True

    def _process(self, t: _Tracked) -> None:
        """Tail a session's files, feed its detector, report what changed."""
        found = False
        with t.lock:
            if t.events is not None:
                for event in t.events.poll():
                    if event.get("event") == "SessionEnd" and _at(event) < t.tracked_at:
                        # history: a session is tracked because its agent runs (again, after a
                        # restore); whether it died since is the runtime's to say
                        continue
                    t.detector.on_hook(event)
            found = self._adopt_transcript(t)
            if t.transcript is not None and t.transcript.poll():
                t.detector.on_transcript(t.transcript.state)
            self._report(t)
        if found:
            self._restart.set()  # watch the transcript's directory too
        self._wake_timer_for(t)

    def _wake_timer_for(self, t: _Tracked) -> None:
        """Wake the timer only if this session needs it before it planned to wake anyway."""
        dues = [d for d in (t.detector.next_deadline(), t.report_due,
                            t.detector.screen_due() if self.screen_reader else None)
                if d is not None]
        if not dues:
            return
        planned = self._timer_next
        if planned is None or min(dues) < planned:
            self._wake_timer()

    def _report(self, t: _Tracked) -> None:
        """Call on_update if the activity changed (at once) or the transcript did (coalesced)."""
        changed = t.detector.update()
        revision = t.transcript.state.revision if t.transcript else 0
        if changed is None and revision == t.reported_revision:
            return
        if t.detector.activity.state == ActivityState.UNKNOWN:
            return  # nothing decided yet: do not overwrite what the engine set
        now = self.clock()
        if changed is None and now - t.last_report < self.transcript_interval:
            # only usage or last words moved: at most one update per interval, the last one late
            t.report_due = t.last_report + self.transcript_interval
            return
        t.report_due = None
        t.last_report = now
        t.reported_revision = revision
        try:
            self.on_update(t.id, t.detector.activity, self._transcript_copy(t))
        except Exception:  # noqa: BLE001 - a faulty listener must not stop detection
            log.exception("activity listener failed for %s", t.id)

    # -- timer thread ----------------------------------------------------------

    def _timer_loop(self) -> None:
        while not self._stopping:
            with self._timer_cv:
                to_load, self._to_load = self._to_load, []
            for sid in to_load:
                t = self._get(sid)
                if t is not None:
                    t.loaded = True  # from now on the watcher tails it too
                    self._process(t)
            deadlines: list[float] = []
            if self._catch_up_at is not None:
                left = self._catch_up_at - time.monotonic()
                if left <= 0:
                    self._catch_up_at = None
                    self._catch_up()
                else:
                    deadlines.append(self.clock() + left)
            now = self.clock()
            with self._lock:
                sessions = list(self._sessions.values())
            for t in sessions:
                if not t.loaded:
                    continue
                dues = [d for d in (t.detector.next_deadline(), t.report_due) if d is not None]
                if dues and min(dues) <= now:
                    with t.lock:
                        self._report(t)
                    dues = [d for d in (t.detector.next_deadline(), t.report_due) if d is not None]
                deadlines.extend(dues)
                screen_at = t.detector.screen_due()
                if screen_at is not None and self.screen_reader is not None:
                    if screen_at <= self.clock():  # not `now`: "due at once" is the clock when asked
                        self._read_screen(t)
                        screen_at = t.detector.screen_due()
                    if screen_at is not None:
                        deadlines.append(max(screen_at, now + 0.05))
            with self._timer_cv:
                if self._stopping:
                    break
                if self._to_load:
                    continue
                if not self._timer_wake:
                    timeout = None
                    self._timer_next = min(deadlines) if deadlines else None
                    if self._timer_next is not None:
                        timeout = max(0.0, self._timer_next - self.clock())
                    self._timer_cv.wait(timeout)
                self._timer_next = None
                self._timer_wake = False

    def _read_screen(self, t: _Tracked) -> None:
        assert self.screen_reader is not None
        self.screen_reads += 1
        guess: ScreenGuess | None = None
        try:
            got = self.screen_reader(t.id)
            if got is not None and t.read_screen is not None:
                guess = t.read_screen(got[0], got[1])
            if got is not None and (guess is None or guess.state not in (ActivityState.WORKING,
                                                                          ActivityState.RUNNING_TOOL)):
                hit = screen_limit(got[0], datetime.now(UTC))
                if hit is not None:  # any agent: a usage limit on screen, not a busy spinner
                    guess = ScreenGuess(ActivityState.RATE_LIMITED, hit.message)
        except Exception:  # noqa: BLE001 - a screen that cannot be read is no guess
            log.debug("screen read failed for %s", t.id, exc_info=True)
        with t.lock:
            t.detector.on_screen(guess)
            self._report(t)
