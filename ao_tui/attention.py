"""Attention zones: what a session needs from the human, most urgent first."""

from __future__ import annotations

from dataclasses import dataclass
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
