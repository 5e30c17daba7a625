"""Single-cell glyphs for statuses, CI and reviews (no emoji: they are double width on many terminals)."""

from __future__ import annotations

from ao_tui.models import ActivityState, CheckState, PullRequest, ReviewState, Session, SessionStatus

STATUS_GLYPHS: dict[SessionStatus, str] = {
    SessionStatus.SPAWNING: "○",
    SessionStatus.WORKING: "●",
    SessionStatus.NEEDS_INPUT: "?",
    SessionStatus.IDLE: "◌",
    SessionStatus.PR_OPEN: "◐",
    SessionStatus.CI_FAILED: "✗",
    SessionStatus.REVIEW_PENDING: "◐",
    SessionStatus.CHANGES_REQUESTED: "±",
    SessionStatus.APPROVED: "✓",
    SessionStatus.MERGEABLE: "✓",
    SessionStatus.MERGED: "✓",
    SessionStatus.DONE: "✓",
    SessionStatus.STUCK: "…",
    SessionStatus.ERRORED: "!",
    SessionStatus.EXITED: "■",
    SessionStatus.KILLED: "■",
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
    finished = session.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED)
    if session.activity.state is ActivityState.WAITING_PERMISSION and not finished:
        return "!"
    if session.activity.state is ActivityState.WAITING_INPUT and not finished:
        return "?"
    if session.status is SessionStatus.WORKING and session.activity.state is ActivityState.RATE_LIMITED:
        return "◷"
    if session.status is SessionStatus.WORKING and session.activity.state is ActivityState.RUNNING_TOOL:
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
    if session.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED) or not clashes:
        return ""
    return "×" if any(c.get("conflict") for c in clashes) else "∩"
