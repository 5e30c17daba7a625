"""Attention zones: what a session needs from the human, most urgent first."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ao_tui.models import ActivityState, Session, SessionStatus


class Zone(StrEnum):
    NEEDS_YOU = "needs_you"
    READY_TO_MERGE = "ready_to_merge"
    FAILING = "failing"
    IN_REVIEW = "in_review"
    WORKING = "working"
    DONE = "done"


ZONE_ORDER: tuple[Zone, ...] = tuple(Zone)


@dataclass(frozen=True)
class ZoneLabels:
    """How a zone is named, from roomy to cramped: the heading, a status bar's words, one short word when
    every busy zone must fit in 80 columns, and the last resort, a glyph before the count."""

    title: str
    short: str
    tiny: str
    glyph: str


#: The one table of zone labels (the TUI adds colours; the bridges and the chat use the titles).
ZONE_LABELS: dict[Zone, ZoneLabels] = {
    Zone.NEEDS_YOU: ZoneLabels("Needs you", "need you", "you", "!"),
    Zone.READY_TO_MERGE: ZoneLabels("Ready to merge", "ready", "ready", "✓"),
    Zone.FAILING: ZoneLabels("Failing", "failing", "fail", "✗"),
    Zone.IN_REVIEW: ZoneLabels("In review", "in review", "review", "◐"),
    Zone.WORKING: ZoneLabels("Working", "working", "work", "●"),
    Zone.DONE: ZoneLabels("Done", "done", "done", "·"),
}
ZONE_TITLES: dict[Zone, str] = {zone: labels.title for zone, labels in ZONE_LABELS.items()}


def zone_of(session: Session) -> Zone:
    status, activity = session.status, session.activity.state
    if status in (SessionStatus.DONE, SessionStatus.MERGED, SessionStatus.KILLED):
        return Zone.DONE
    if (
        status in (SessionStatus.NEEDS_INPUT, SessionStatus.STUCK, SessionStatus.ERRORED, SessionStatus.EXITED)
        or session.escalation
        or activity in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT, ActivityState.ERRORED)
    ):
        return Zone.NEEDS_YOU
    if status in (SessionStatus.MERGEABLE, SessionStatus.APPROVED):
        return Zone.READY_TO_MERGE
    if status in (SessionStatus.CI_FAILED, SessionStatus.CHANGES_REQUESTED):
        return Zone.FAILING
    if status in (SessionStatus.PR_OPEN, SessionStatus.REVIEW_PENDING):
        return Zone.IN_REVIEW
    return Zone.WORKING
