"""Plain words for every state the control room shows.

The engine's names (``review_pending``, ``needs_input``, ``ci_failed``) are
identifiers, not English: every place the TUI shows a status, an activity,
a CI or review state, goes through here.
"""

from __future__ import annotations

import re
from datetime import datetime

from ao_tui.models import ActivityState as A
from ao_tui.models import CheckState as C
from ao_tui.models import ReviewState as R
from ao_tui.models import Session
from ao_tui.models import SessionStatus as S
from ao_tui.reactions import EVENT_WORDS
from ao_tui.tui.text import ago

#: A session's status in a few words.
STATUS_WORDS: dict[S, str] = {
    S.SPAWNING: "starting",
    S.WORKING: "working",
    S.NEEDS_INPUT: "needs your answer",
    S.IDLE: "idle",
    S.PR_OPEN: "PR open",
    S.CI_FAILED: "CI failed",
    S.REVIEW_PENDING: "waiting for review",
    S.CHANGES_REQUESTED: "changes requested",
    S.APPROVED: "approved",
    S.MERGEABLE: "ready to merge",
    S.MERGED: "merged",
    S.DONE: "done",
    S.STUCK: "no output",
    S.ERRORED: "error",
    S.EXITED: "agent exited",
    S.KILLED: "killed",
}

#: "<status> for 12m" or "<status> 12m ago": how long it has been so, in a sentence.
_STATUS_SINCE: dict[S, str] = {
    S.SPAWNING: "starting for {d}",
    S.WORKING: "working for {d}",
    S.NEEDS_INPUT: "waiting for your answer for {d}",
    S.IDLE: "idle for {d}",
    S.PR_OPEN: "PR open for {d}",
    S.CI_FAILED: "CI failed {d} ago",
    S.REVIEW_PENDING: "waiting for review for {d}",
    S.CHANGES_REQUESTED: "changes requested {d} ago",
    S.APPROVED: "approved {d} ago",
    S.MERGEABLE: "ready to merge for {d}",
    S.MERGED: "merged {d} ago",
    S.DONE: "done {d} ago",
    S.STUCK: "no output for {d}",
    S.ERRORED: "error {d} ago",
    S.EXITED: "agent exited {d} ago",
    S.KILLED: "killed {d} ago",
}

#: What the agent is doing, as the activity detector sees it.
ACTIVITY_WORDS: dict[A, str] = {
    A.UNKNOWN: "no signal yet",
    A.WORKING: "working",
    A.RUNNING_TOOL: "running a tool",
    A.WAITING_PERMISSION: "asking permission",
    A.WAITING_INPUT: "needs your answer",
    A.IDLE: "at its prompt",
    A.ERRORED: "error",
    A.EXITED: "exited",
}

CI_WORDS: dict[C, str] = {
    C.PENDING: "pending",
    C.RUNNING: "running",
    C.PASSED: "passed",
    C.FAILED: "failed",
    C.NONE: "no checks",
}

REVIEW_WORDS: dict[R, str] = {
    R.NONE: "no review yet",
    R.PENDING: "pending",
    R.APPROVED: "approved",
    R.CHANGES_REQUESTED: "changes requested",
    R.COMMENTED: "commented",
}

#: Any engine identifier a history line may carry (statuses, activities, reaction events).
_IDENTIFIER_WORDS: dict[str, str] = {
    **{a.value: w for a, w in ACTIVITY_WORDS.items()},
    **{s.value: w for s, w in STATUS_WORDS.items()},
    **EVENT_WORDS,
    "send_to_agent": "sent to the agent",
    "request_changes": "request changes",
}
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def status_words(status: S | str) -> str:
    """``review_pending`` → ``waiting for review`` (an unknown value loses its underscores)."""
    try:
        return STATUS_WORDS[S(status)]
    except ValueError:
        return str(status).replace("_", " ")


def status_since(session: Session, now: datetime) -> str:
    """The status and how long it has held: ``no output for 55m``, ``merged 5h ago``."""
    return _STATUS_SINCE[session.status].format(d=ago(session.status_since, now))


def activity_words(state: A) -> str:
    return ACTIVITY_WORDS[state]


def humanize(text: str) -> str:
    """Engine identifiers inside a line of engine text (a history reason, an event name) in words.

    Only known identifiers are replaced, so a file name such as ``my_app.py`` in a reason stays as written.
    """
    return _SNAKE.sub(lambda m: _IDENTIFIER_WORDS.get(m.group(0), m.group(0)), text)


def event_kind(kind: str) -> str:
    """An event's kind (``cleanup_refused``) as words."""
    return kind.replace("_", " ")


__all__ = [
    "ACTIVITY_WORDS", "CI_WORDS", "REVIEW_WORDS", "STATUS_WORDS", "activity_words", "event_kind", "humanize",
    "status_since", "status_words",
]
