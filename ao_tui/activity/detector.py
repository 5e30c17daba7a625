"""One session's activity, decided from its signals: runtime, hooks, transcript, screen.

Pure logic with an injectable clock; the watcher feeds it and asks for the
result. The rules, in order:

1. The runtime saying the process is gone is final until ``on_alive`` (the
   engine restored it); the SessionEnd hook until a newer hook.
2. Between a hook event and the transcript, the newer signal decides: both
   describe the same conversation, and each sees things the other does not
   (hooks: permission prompts, API failures; the transcript: Esc interrupts).
   A hook process starts late (40-200 ms, more under load), so a busy hook
   stamped less than ``hook_lag`` after the transcript ended the turn is taken
   as late, not as a new turn: a real new turn writes its prompt to the
   transcript too, and then the transcript is busy itself.
3. A tool left open in the transcript with no hooks around is ambiguous
   (running, or a permission prompt): the screen breaks the tie.
4. "Working" with hooks and transcript quiet for ``quiet_after`` seconds is
   checked on the screen (then every ``quiet_after``): a dialog no hook
   reports, a turn that ended unrecorded, or Claude Code retrying an API error
   ("Retrying in 9s · attempt 5/10") shows there and nowhere else.
5. With neither hooks nor transcript, the screen decides alone.
6. With ``watch_dialogs`` (agents whose files say nothing when the human
   approves: Codex writes the tool's result only when it finishes), a
   permission prompt a hook reported is watched on the screen every
   ``dialog_every`` seconds until a file speaks again: the dialog gone and the
   agent busy means the tool runs.
7. An agent whose files say when a turn starts, fails or goes on but never when
   it ends (Aider's chat history) has its screen read every ``screen_every``
   seconds as well (``screen_only``): the newer of the two decides.

Publishing is debounced only where flicker happens: between the two busy
states (working, running_tool) a change must hold for ``settle`` seconds, so a
10 ms Read does not blink; the idle of a fresh start (SessionStart) must hold
for ``start_hold``, since the task prompt usually follows at once. Everything
that needs a human (permission, question, error, exit) and every turn start
or end is published at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ao_tui.activity.opencode_events import PREFIX as OPENCODE_PREFIX
from ao_tui.activity.opencode_events import OpenCodeEvents
from ao_tui.activity.records import Kind
from ao_tui.activity.transcript import (
    HUMAN_TOOLS,
    TranscriptState,
    asks_question,
    human_tool_detail,
    question_of,
    tool_target,
)
from ao_tui.models import Activity, ActivityState
from ao_tui.slots.agent import ScreenGuess
from ao_tui.usage_limits import find_limit

_RETRYING = re.compile(r"retry|retrying|api error|overloaded|rate limit", re.IGNORECASE)
BUSY = frozenset({ActivityState.WORKING, ActivityState.RUNNING_TOOL})
TURN_OVER = frozenset({ActivityState.IDLE, ActivityState.WAITING_INPUT, ActivityState.ERRORED})


@dataclass(frozen=True)
class Evidence:
    """One signal's opinion of the state, and when it was formed (epoch seconds)."""

    state: ActivityState
    source: str
    at: float
    detail: str = ""
    tool: str | None = None
    tentative: bool = False  # publish only once it has held for ``start_hold``
    ambiguous: bool = False  # running_tool that may be a permission prompt
    until: datetime | None = None  # rate_limited: when the limit lifts


def _first_line(text: object, limit: int = 160) -> str:
    if not isinstance(text, str):
        return ""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


#: Gemini CLI's hook events (0.61) and the Claude Code events that mean the same.
GEMINI_EVENTS = {"BeforeAgent": "UserPromptSubmit", "BeforeTool": "PreToolUse", "AfterTool": "PostToolUse",
                 "AfterAgent": "Stop", "PreCompress": "PreCompact"}


def gemini_as_claude(event: dict[str, Any]) -> dict[str, Any]:
    """A Gemini CLI hook event in Claude Code's words (others unchanged): its final answer is
    ``prompt_response``, its permission prompt a ``ToolPermission`` notification."""
    name = event.get("event") or event.get("hook_event_name")
    if name in GEMINI_EVENTS:
        event = {**event, "event": GEMINI_EVENTS[name]}
        # (its ``prompt_response`` repeats streamed pieces in 0.61: the last words come from its chat)
    elif name == "Notification" and event.get("notification_type") == "ToolPermission":
        details: dict[str, Any] = event["details"] if isinstance(event.get("details"), dict) else {}
        what = details.get("command") or details.get("title") or event.get("message") or "a tool"
        event = {**event, "notification_type": "permission_prompt", "message": f"permission: {what}"}
    return event


class ActivityDetector:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        settle: float = 0.15,
        start_hold: float = 1.0,
        hook_lag: float = 1.0,
        screen_after: float = 0.3,
        screen_every: float = 2.0,
        quiet_after: float = 15.0,
        dialog_every: float = 0.5,
    ) -> None:
        self.clock = clock
        self.dialog_every = dialog_every
        self.watch_dialogs = False  # rule 6: set for agents that do not report an approval
        self._dialog_seen: float | None = None  # when the screen last showed a permission dialog
        self.settle = settle
        self.start_hold = start_hold
        self.hook_lag = hook_lag
        self.screen_after = screen_after
        self.screen_every = screen_every
        self.quiet_after = quiet_after
        self.hook: Evidence | None = None
        self.transcript: Evidence | None = None
        self.screen: Evidence | None = None
        self.runtime: Evidence | None = None
        self.hooks_seen = False
        self.has_transcript = False  # whether a transcript has been read
        #: Its screen is read periodically: the agent has neither hooks nor a transcript, or its
        #: files never say when a turn ends (Aider's chat history; rule 7).
        self.screen_only = False
        self.activity = Activity(state=ActivityState.UNKNOWN, source="", since=self._dt(clock()))
        self._pending_due: float | None = None
        self._pending_state: ActivityState | None = None
        self._last_text = ""
        self.task = ""  # the prompt being worked on: the detail of plain "working"
        self._stop: Evidence | None = None  # the evidence of the last Stop hook
        self._opencode: OpenCodeEvents | None = None  # OpenCode's plugin lines, translated with their context

    # -- inputs ----------------------------------------------------------------

    def on_hook(self, event: dict[str, Any]) -> None:
        """One line of the hook events file (Claude Code's and Codex's names; Gemini CLI's and
        OpenCode's are translated)."""
        if str(event.get("event", "")).startswith(OPENCODE_PREFIX):
            if self._opencode is None:
                self._opencode = OpenCodeEvents()
            for translated in self._opencode.translate(event):
                self._on_hook(translated)
            return
        self._on_hook(gemini_as_claude(event))

    def _on_hook(self, event: dict[str, Any]) -> None:
        name = event.get("event") or event.get("hook_event_name") or ""
        at = event.get("at")
        at = float(at) if isinstance(at, (int, float)) else self.clock()
        self.hooks_seen = True
        ev = self._hook_evidence(str(name), event, at)
        if ev is None:
            return
        if (self.hook is not None and self.hook.state == ev.state == ActivityState.WAITING_PERMISSION):
            ev = replace(ev, at=self.hook.at, detail=self.hook.detail or ev.detail)  # the same prompt
        self.hook = ev

    def _hook_evidence(self, name: str, event: dict[str, Any], at: float) -> Evidence | None:
        tool = event.get("tool_name") if isinstance(event.get("tool_name"), str) else None
        label = f"{tool or ''} {tool_target(event.get('tool_input'))}".strip()
        if name == "SessionStart":
            if event.get("source") == "compact":
                return None  # after a compaction, maybe mid-turn: no new opinion
            return Evidence(ActivityState.IDLE, "hook", at, "at its prompt", tentative=True)
        if name == "UserPromptSubmit":
            self.task = _first_line(event.get("prompt"))
            return Evidence(ActivityState.WORKING, "hook", at, self.task)
        if name in ("PreToolUse", "PermissionRequest") and tool in HUMAN_TOOLS:
            # AskUserQuestion, ExitPlanMode: the tool *is* the wait for the human
            detail = human_tool_detail(tool, tool_target(event.get("tool_input")))
            return Evidence(HUMAN_TOOLS[tool], "hook", at, detail, tool)
        if name == "PreToolUse":
            return Evidence(ActivityState.RUNNING_TOOL, "hook", at, label, tool)
        if name == "PermissionRequest":
            return Evidence(ActivityState.WAITING_PERMISSION, "hook", at, f"permission: {label}".strip(), tool)
        if name in ("PostToolUse", "PostToolUseFailure", "PermissionDenied", "PostToolBatch",
                    "Busy"):  # Busy: ao's own (OpenCode answered a request: working, after a retry too)
            return Evidence(ActivityState.WORKING, "hook", at, "")
        if name == "Idle":  # ao's own (OpenCode's turn over with nothing said, or interrupted)
            return Evidence(ActivityState.IDLE, "hook", at, str(event.get("detail") or "turn finished"))
        if name == "PreCompact":
            return Evidence(ActivityState.WORKING, "hook", at, "compacting the conversation")
        if name == "Notification":
            kind = event.get("notification_type")
            message = _first_line(event.get("message"))
            if kind == "permission_prompt":
                if self.hook is not None and self.hook.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT):
                    return self.hook  # Claude Code's reminder about the dialog already known
                return Evidence(ActivityState.WAITING_PERMISSION, "hook", at, message or "permission asked")
            if kind == "elicitation_dialog":
                return Evidence(ActivityState.WAITING_INPUT, "hook", at, message or "asks for input")
            if kind == "idle_prompt":
                return self._turn_over(self._last_text, at)
            return None
        if name == "Stop":
            text = event.get("last_assistant_message")
            if isinstance(text, str) and text.strip():
                self._last_text = text
            self._stop = self._turn_over(self._last_text, at)
            return self._stop
        if name == "StopFailure":
            text = event.get("last_assistant_message")
            detail = _first_line(text, 300) or str(event.get("error") or "API error")
            return Evidence(ActivityState.ERRORED, "hook", at, detail)
        if name == "SessionEnd":
            reason = event.get("reason")
            return Evidence(ActivityState.EXITED, "hook", at, f"session ended ({reason})" if reason else "session ended")
        return None

    def _turn_over(self, text: str, at: float) -> Evidence:
        if asks_question(text):
            return Evidence(ActivityState.WAITING_INPUT, "hook", at, question_of(text))
        return Evidence(ActivityState.IDLE, "hook", at, "turn finished")

    def on_transcript(self, state: TranscriptState) -> None:
        self.has_transcript = True
        if state.last_text:
            if state.last_text != self._last_text and self.hook is not None and self.hook is self._stop:
                # The turn's last words arrived after its Stop hook (Gemini CLI's come from its chat only).
                self.hook = self._stop = self._turn_over(state.last_text, self.hook.at)
            self._last_text = state.last_text
        verdict, detail, tool = state.verdict()
        if verdict == ActivityState.UNKNOWN:
            return
        at = state.at if state.at is not None else self.clock()
        self.transcript = Evidence(
            verdict, "transcript", at, detail, tool,
            ambiguous=verdict == ActivityState.RUNNING_TOOL and state.kind == Kind.TOOL_USE,
        )

    def on_screen(self, guess: ScreenGuess | None, source: str = "screen") -> None:
        now = self.clock()
        if guess is not None and guess.state == ActivityState.RATE_LIMITED:
            if self.screen is not None and self.screen.state == ActivityState.RATE_LIMITED and self.screen.detail == guess.detail:
                now = self.screen.at  # the same message still on screen: its time is when it appeared
            self.screen = Evidence(ActivityState.RATE_LIMITED, source, now, guess.detail)
            return
        if guess is None or guess.state == ActivityState.UNKNOWN:
            self.screen = Evidence(ActivityState.UNKNOWN, source, now)
            return
        if guess.state == ActivityState.WAITING_PERMISSION:
            self._dialog_seen = now
        self.screen = Evidence(guess.state, source, now, guess.detail, guess.tool)

    def on_exit(self, detail: str = "process exited") -> None:
        self.runtime = Evidence(ActivityState.EXITED, "runtime", self.clock(), detail)

    def on_alive(self) -> None:
        """The runtime has (again) a live process: forget an exit it reported."""
        self.runtime = None

    # -- decision --------------------------------------------------------------

    def file_evidence(self) -> Evidence | None:
        """What the hooks and the transcript say together (rule 2)."""
        hook, trans = self.hook, self.transcript
        if hook is not None and trans is not None:
            chosen = hook if hook.at >= trans.at else trans
            if (chosen is hook and hook.state in BUSY and trans.state in TURN_OVER
                    and hook.at - trans.at < self.hook_lag):
                chosen = trans  # a late hook from the turn that just ended
            return chosen
        return hook or trans

    def raw(self) -> Evidence | None:
        """The state the signals support right now, before debouncing."""
        if self.runtime is not None:
            return self.runtime
        chosen = self.file_evidence()
        sc = self.screen
        if chosen is None:
            return sc if sc is not None and sc.state != ActivityState.UNKNOWN else None
        if sc is None or sc.at < chosen.at or sc.state == ActivityState.UNKNOWN:
            return chosen
        if self.screen_only:
            return sc  # rule 7: files that never tell a turn's end, and the screen read in turn
        if chosen.ambiguous and not self.hooks_seen and sc.state == ActivityState.WAITING_PERMISSION:
            return sc
        if self.watch_dialogs and chosen.state == ActivityState.WAITING_PERMISSION and chosen.source == "hook" \
                and self._answered(chosen, sc):
            # Rule 6: the dialog was on screen and is gone, the agent busy: approved, the tool runs.
            detail = chosen.detail.removeprefix("permission: ")
            return Evidence(ActivityState.RUNNING_TOOL, sc.source, sc.at, detail, chosen.tool)
        if chosen.state == ActivityState.WORKING and sc.at - chosen.at >= self.quiet_after:
            # Files quiet for long while "working": the screen shows what no file said (a dialog
            # no hook reports, a turn that ended without a record, an API error being retried).
            if sc.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT, ActivityState.IDLE,
                            ActivityState.ERRORED, ActivityState.RATE_LIMITED):
                return sc
            if sc.state == ActivityState.WORKING and _RETRYING.search(sc.detail):
                return replace(chosen, detail=sc.detail, source=sc.source)
        return chosen

    def _answered(self, asked: Evidence, sc: Evidence) -> bool:
        """The screen shows the agent busy, no dialog, since the hook reported one (it was drawn by
        then: on screen since the hook, or ``screen_after`` passed, more than the agents take to draw)."""
        if sc.state not in BUSY or sc.at < asked.at:
            return False
        shown = self._dialog_seen is not None and asked.at <= self._dialog_seen < sc.at
        return shown or sc.at >= asked.at + self.screen_after

    def update(self) -> Activity | None:
        """Decide and publish; returns the new Activity if what is shown changed."""
        now = self.clock()
        ev = self.raw()
        cur = self.activity
        if ev is None:
            return None
        ev = self._limited(ev)
        if ev.state == ActivityState.WORKING and not ev.detail:
            ev = replace(ev, detail=self.task)
        if ev.state == cur.state:
            self._pending_due = self._pending_state = None
            if (ev.detail, ev.tool, ev.source, ev.until) == (cur.detail, cur.tool, cur.source, cur.until):
                return None
            self.activity = Activity(state=cur.state, source=ev.source, since=cur.since,
                                     detail=ev.detail, tool=ev.tool, until=ev.until)
            return self.activity
        hold = ev.tentative or (cur.state in BUSY and ev.state in BUSY)
        if hold:
            if self._pending_state != ev.state:
                self._pending_state = ev.state
                self._pending_due = now + (self.start_hold if ev.tentative else self.settle)
            if now < (self._pending_due or 0):
                return None
        self._pending_due = self._pending_state = None
        self.activity = Activity(state=ev.state, source=ev.source, since=self._dt(min(ev.at, now)),
                                 detail=ev.detail, tool=ev.tool, until=ev.until)
        return self.activity

    def _limited(self, ev: Evidence) -> Evidence:
        """An error (after the agent's own retries) that is a usage limit becomes ``rate_limited``.

        Only errors and what the screen showed qualify: a busy agent retrying is still working,
        and an agent's own words about limits are not its provider stopping it.
        """
        if ev.state == ActivityState.RATE_LIMITED and ev.until is not None:
            return ev
        if ev.state not in (ActivityState.ERRORED, ActivityState.RATE_LIMITED):
            return ev
        hit = find_limit(ev.detail, self._dt(ev.at))
        if hit is None:
            return ev
        return replace(ev, state=ActivityState.RATE_LIMITED, detail=hit.message, until=hit.resets_at)

    def next_deadline(self) -> float | None:
        """When ``update`` should run again without a new signal (a pending change)."""
        return self._pending_due

    def screen_due(self) -> float | None:
        """When the screen should be read; None while the files leave no doubt.

        Three cases: a tool left open in the transcript with no hooks
        (permission prompt or not?), "working" with files quiet for
        ``quiet_after`` seconds (then again every ``quiet_after``), and agents
        with neither hooks nor transcript.
        """
        if self.runtime is not None:
            return None
        if self.screen_only:
            sc = self.screen
            return (sc.at + self.screen_every) if sc is not None else self.clock()
        chosen = self.file_evidence()
        if chosen is None:
            return None
        sc = self.screen
        if self.watch_dialogs and chosen.state == ActivityState.WAITING_PERMISSION and chosen.source == "hook":
            if sc is not None and self._answered(chosen, sc):
                return None  # approval seen: the files say what comes next
            due = chosen.at + self.screen_after
            return max(due, sc.at + self.dialog_every) if sc is not None and sc.at >= chosen.at else due
        if chosen.ambiguous and not self.hooks_seen:
            due = chosen.at + self.screen_after
            if sc is not None and sc.at >= due:
                due = sc.at + self.screen_every
            return due
        if chosen.state == ActivityState.WORKING:
            due = chosen.at + self.quiet_after
            if sc is not None and sc.at >= due:
                due = sc.at + self.quiet_after
            return due
        return None

    @staticmethod
    def _dt(at: float) -> datetime:
        return datetime.fromtimestamp(at, UTC)
