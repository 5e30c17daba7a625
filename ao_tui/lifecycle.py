"""The session state machine: which status changes are possible.

Every status change in ao goes through ``check_transition``; the store applies
it and records an event in the same transaction. A refused change raises
``TransitionRefused`` instead of silently corrupting a session.
"""

from __future__ import annotations

from datetime import timedelta

from ao_tui.errors import TransitionRefused
from ao_tui.models import ActivityState
from ao_tui.models import SessionStatus as Status

#: Statuses driven by what the agent is doing while no PR exists yet.
AGENT_STATES = frozenset({Status.WORKING, Status.NEEDS_INPUT, Status.IDLE, Status.STUCK, Status.ERRORED})
#: Statuses that follow the truth of an open PR.
PR_STATES = frozenset({Status.PR_OPEN, Status.CI_FAILED, Status.REVIEW_PENDING, Status.CHANGES_REQUESTED, Status.APPROVED,
                       Status.MERGEABLE})
#: A session in one of these has no live agent; restore brings it back.
RESTORABLE = frozenset({Status.EXITED, Status.KILLED, Status.ERRORED, Status.STUCK})
#: Finished for good.
FINAL = frozenset({Status.DONE})
#: Nothing happens to a session in one of these until a human restores it: the engine's passes
#: leave them out when they read the store, so weeks of finished sessions cost a pass nothing.
AT_REST = frozenset({Status.DONE, Status.KILLED})
#: What a screen (the control room, ``ao ls``) shows of the sessions at rest unless asked for all: those
#: finished or changed in the last day, at most the newest ``RECENT_MAX``. Reading them costs what the
#: live fleet costs, however long the history; the older ones are counted and found by id or PR.
RECENT_WINDOW = timedelta(hours=24)
RECENT_MAX = 50

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.SPAWNING: AGENT_STATES | {Status.EXITED, Status.KILLED, Status.PR_OPEN},
    **{s: (AGENT_STATES | PR_STATES | {Status.EXITED, Status.KILLED}) - {s} for s in AGENT_STATES},
    **{
        s: (PR_STATES | {Status.MERGED, Status.NEEDS_INPUT, Status.STUCK, Status.ERRORED, Status.WORKING, Status.IDLE,
                         Status.EXITED, Status.KILLED}) - {s}
        for s in PR_STATES
    },
    Status.MERGED: frozenset({Status.DONE, Status.KILLED, Status.EXITED}),
    Status.DONE: frozenset(),
    Status.EXITED: frozenset({Status.SPAWNING, Status.KILLED, Status.MERGED, Status.DONE}) | PR_STATES,
    Status.KILLED: frozenset({Status.SPAWNING, Status.DONE}),
}
# Errored and stuck may also be restored (respawned) directly.
_ALLOWED[Status.ERRORED] = _ALLOWED[Status.ERRORED] | {Status.SPAWNING}
_ALLOWED[Status.STUCK] = _ALLOWED[Status.STUCK] | {Status.SPAWNING}


def allowed_targets(current: Status) -> frozenset[Status]:
    return _ALLOWED[current]


def can_transition(current: Status, target: Status) -> bool:
    return current == target or target in _ALLOWED[current]


def check_transition(session_id: str, current: Status, target: Status) -> None:
    """Raise ``TransitionRefused`` if ``current -> target`` is impossible."""
    if not can_transition(current, target):
        raise TransitionRefused(f"session {session_id}: cannot go from {current} to {target}")


def has_live_agent(status: Status) -> bool:
    return status not in {Status.EXITED, Status.KILLED, Status.MERGED, Status.DONE}


_ACTIVITY_STATUS: dict[ActivityState, Status] = {
    ActivityState.WORKING: Status.WORKING,
    ActivityState.RUNNING_TOOL: Status.WORKING,
    ActivityState.WAITING_PERMISSION: Status.NEEDS_INPUT,
    ActivityState.WAITING_INPUT: Status.NEEDS_INPUT,
    ActivityState.IDLE: Status.IDLE,
    ActivityState.ERRORED: Status.ERRORED,
    ActivityState.EXITED: Status.EXITED,
    ActivityState.RATE_LIMITED: Status.WORKING,  # waiting out a usage limit: ao continues it (limit_resume)
}


def status_for_activity(current: Status, activity: ActivityState) -> Status:
    """The session status an activity implies, given where the session is.

    While a PR is open the PR decides the status; the activity is still shown
    (and puts the session in *Needs you* when it waits for the human).
    """
    if current in PR_STATES or current in (Status.MERGED, Status.DONE, Status.KILLED):
        return Status.EXITED if activity is ActivityState.EXITED and current in PR_STATES else current
    if current is Status.EXITED and activity is not ActivityState.EXITED:
        return current  # an exited session comes back only through restore
    return _ACTIVITY_STATUS.get(activity, current)
