"""Single-cell glyphs for statuses, CI and reviews (no emoji: they are double width on many terminals)."""

from __future__ import annotations

from ao_tui.models import ActivityState as A
from ao_tui.models import CheckState, PullRequest, ReviewState, Session
from ao_tui.models import SessionStatus as S

STATUS_GLYPHS: dict[S, str] = {
    S.SPAWNING: "○",
    S.WORKING: "●",
    S.NEEDS_INPUT: "?",
    S.IDLE: "◌",
    S.PR_OPEN: "◐",
    S.CI_FAILED: "✗",
    S.REVIEW_PENDING: "◐",
    S.CHANGES_REQUESTED: "±",
    S.APPROVED: "✓",
    S.MERGEABLE: "✓",
    S.MERGED: "✓",
    S.DONE: "✓",
    S.STUCK: "…",
    S.ERRORED: "!",
    S.EXITED: "■",
    S.KILLED: "■",
}

CI_GLYPHS: dict[CheckState, str] = {
    CheckState.PASSED: "✓",
    CheckState.FAILED: "✗",
    CheckState.PENDING: "·",
    CheckState.RUNNING: "•",
    CheckState.NONE: " ",
}

REVIEW_GLYPHS: dict[ReviewState, str] = {
    ReviewState.APPROVED: "✓",
    ReviewState.CHANGES_REQUESTED: "±",
    ReviewState.PENDING: "?",
    ReviewState.COMMENTED: "c",
    ReviewState.NONE: " ",
}


def status_glyph(session: Session) -> str:
    if session.activity.state is A.WAITING_PERMISSION and session.status not in (S.MERGED, S.DONE, S.KILLED):
        return "!"
    if session.activity.state is A.WAITING_INPUT and session.status not in (S.MERGED, S.DONE, S.KILLED):
        return "?"
    if session.status is S.WORKING and session.activity.state is A.RATE_LIMITED:
        return "◷"
    if session.status is S.WORKING and session.activity.state is A.RUNNING_TOOL:
        return "▸"
    return STATUS_GLYPHS.get(session.status, "·")


def pr_label(pr: PullRequest | None) -> str:
    """``#12 ✓✓``: number, CI glyph, review glyph."""
    if pr is None or pr.number is None:
        return ""
    return f"#{pr.number} {CI_GLYPHS[pr.ci]}{REVIEW_GLYPHS[pr.review]}"


def clash_glyph(session: Session) -> str:
    """``×`` when the session's branch would conflict with another live branch (or the default
    branch), ``∩`` when they only change the same files, "" otherwise (see ``ao_tui.conflicts``)."""
    clashes = session.extra.get("conflicts") or []
    if session.status in (S.MERGED, S.DONE, S.KILLED) or not clashes:
        return ""
    return "×" if any(c.get("conflict") for c in clashes) else "∩"
