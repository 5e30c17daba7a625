"""The session state machine: which status changes are possible.

Every status change in ao goes through ``check_transition``; the store applies
it and records an event in the same transaction. A refused change raises
``TransitionRefused`` instead of silently corrupting a session.
"""

from __future__ import annotations

from ao_tui.errors import TransitionRefused
from ao_tui.models import ActivityState
from ao_tui.models import SessionStatus as S

#: Statuses driven by what the agent is doing while no PR exists yet.
AGENT_STATES = frozenset({S.WORKING, S.NEEDS_INPUT, S.IDLE, S.STUCK, S.ERRORED})
#: Statuses that follow the truth of an open PR.
PR_STATES = frozenset({S.PR_OPEN, S.CI_FAILED, S.REVIEW_PENDING, S.CHANGES_REQUESTED, S.APPROVED, S.MERGEABLE})
#: A session in one of these has no live agent; restore brings it back.
RESTORABLE = frozenset({S.EXITED, S.KILLED, S.ERRORED, S.STUCK})
#: Finished for good.
FINAL = frozenset({S.DONE})

_ALLOWED: dict[S, frozenset[S]] = {
    S.SPAWNING: AGENT_STATES | {S.EXITED, S.KILLED, S.PR_OPEN},
    **{s: (AGENT_STATES | PR_STATES | {S.EXITED, S.KILLED}) - {s} for s in AGENT_STATES},
    **{
        s: (PR_STATES | {S.MERGED, S.NEEDS_INPUT, S.STUCK, S.ERRORED, S.WORKING, S.IDLE, S.EXITED, S.KILLED}) - {s}
        for s in PR_STATES
    },
    S.MERGED: frozenset({S.DONE, S.KILLED, S.EXITED}),
    S.DONE: frozenset(),
    S.EXITED: frozenset({S.SPAWNING, S.KILLED, S.MERGED, S.DONE}) | PR_STATES,
    S.KILLED: frozenset({S.SPAWNING, S.DONE}),
}
# Errored and stuck may also be restored (respawned) directly.
_ALLOWED[S.ERRORED] = _ALLOWED[S.ERRORED] | {S.SPAWNING}
_ALLOWED[S.STUCK] = _ALLOWED[S.STUCK] | {S.SPAWNING}


def allowed_targets(current: S) -> frozenset[S]:
    return _ALLOWED[current]


def can_transition(current: S, target: S) -> bool:
    return current == target or target in _ALLOWED[current]


def check_transition(session_id: str, current: S, target: S) -> None:
    """Raise ``TransitionRefused`` if ``current -> target`` is impossible."""
    if not can_transition(current, target):
        raise TransitionRefused(f"session {session_id}: cannot go from {current} to {target}")


def has_live_agent(status: S) -> bool:
    return status not in {S.EXITED, S.KILLED, S.MERGED, S.DONE}


_ACTIVITY_STATUS: dict[ActivityState, S] = {
    ActivityState.WORKING: S.WORKING,
    ActivityState.RUNNING_TOOL: S.WORKING,
    ActivityState.WAITING_PERMISSION: S.NEEDS_INPUT,
    ActivityState.WAITING_INPUT: S.NEEDS_INPUT,
    ActivityState.IDLE: S.IDLE,
    ActivityState.ERRORED: S.ERRORED,
    ActivityState.EXITED: S.EXITED,
    ActivityState.RATE_LIMITED: S.WORKING,  # waiting out a usage limit: ao continues it (limit_resume)
}


def status_for_activity(current: S, activity: ActivityState) -> S:
    """The session status an activity implies, given where the session is.

    While a PR is open the PR decides the status; the activity is still shown
    (and puts the session in *Needs you* when it waits for the human).
    """
    if current in PR_STATES or current in (S.MERGED, S.DONE, S.KILLED):
        return S.EXITED if activity is ActivityState.EXITED and current in PR_STATES else current
    if current is S.EXITED and activity is not ActivityState.EXITED:
        return current  # an exited session comes back only through restore
    return _ACTIVITY_STATUS.get(activity, current)
