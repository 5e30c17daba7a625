"""Attention zones: what a session needs from the human, most urgent first."""

from __future__ import annotations

from enum import StrEnum

from ao_tui.models import ActivityState as A
from ao_tui.models import Session
from ao_tui.models import SessionStatus as S


class Zone(StrEnum):
    NEEDS_YOU = "needs_you"
    READY_TO_MERGE = "ready_to_merge"
    FAILING = "failing"
    IN_REVIEW = "in_review"
    WORKING = "working"
    DONE = "done"


ZONE_ORDER: tuple[Zone, ...] = tuple(Zone)

ZONE_TITLES: dict[Zone, str] = {
    Zone.NEEDS_YOU: "Needs you",
    Zone.READY_TO_MERGE: "Ready to merge",
    Zone.FAILING: "Failing",
    Zone.IN_REVIEW: "In review",
    Zone.WORKING: "Working",
    Zone.DONE: "Done",
}


def zone_of(session: Session) -> Zone:
    status, activity = session.status, session.activity.state
    if status in (S.DONE, S.MERGED, S.KILLED):
        return Zone.DONE
    if (
        status in (S.NEEDS_INPUT, S.STUCK, S.ERRORED, S.EXITED)
        or session.escalation
        or activity in (A.WAITING_PERMISSION, A.WAITING_INPUT, A.ERRORED)
    ):
        return Zone.NEEDS_YOU
    if status in (S.MERGEABLE, S.APPROVED):
        return Zone.READY_TO_MERGE
    if status in (S.CI_FAILED, S.CHANGES_REQUESTED):
        return Zone.FAILING
    if status in (S.PR_OPEN, S.REVIEW_PENDING):
        return Zone.IN_REVIEW
    return Zone.WORKING
