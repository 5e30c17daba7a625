"""From SCM truth to session status and reaction triggers.

``evaluate(session, pr)`` is pure: given the session as stored and the PR as
the SCM reports it now, it says which status the session should have, which
counters change, and which triggers to fire. Triggers are derived from the
*current* truth, not from a diff, and keyed by what caused them (head commit,
comment id), so emitting the same trigger again on every poll is harmless:
the reaction runner claims each key once. That also means a crash between
saving the PR and handling its triggers loses nothing.

Trigger keys:

* ``<session>:ci_failed:<head>`` / ``ci_passed:<head>``
* ``<session>:changes_requested:<last comment id, else head>`` (carries the
  unresolved comments and ``covers`` their ``review_comment`` keys, so the
  same comment never reaches the agent twice)
* ``<session>:review_comment:<comment id>`` (outside a change request)
* ``<session>:approved:<head>`` / ``approved_and_green:<head>``
* ``<session>:merge_conflict:<head>``
* ``<session>:pr_merged``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ao_tui.models import CheckState, PullRequest, ReviewComment, ReviewState, Session, SessionStatus, utcnow
from ao_tui.slots.reaction import Trigger


@dataclass
class Decision:
    """What a fresh look at the PR means for the session."""

    status: SessionStatus
    reason: str
    triggers: list[Trigger] = field(default_factory=list)
    #: Session fields to set along with the PR (counters, timestamps).
    fields: dict[str, Any] = field(default_factory=dict)


def comment_data(comment: ReviewComment) -> dict[str, Any]:
    return {"id": comment.id, "author": comment.author, "body": comment.body, "path": comment.path,
            "line": comment.line}


def status_for(pr: PullRequest) -> tuple[SessionStatus, str]:
    """The session status a PR's state implies, and why."""
    if pr.state == "merged":
        return SessionStatus.MERGED, "merged"
    failed = [c.name for c in pr.checks if c.state is CheckState.FAILED]
    green = pr.ci in (CheckState.PASSED, CheckState.NONE)
    if pr.ci is CheckState.FAILED:
        return SessionStatus.CI_FAILED, f"CI failed: {', '.join(failed) or 'checks'}"
    if pr.review is ReviewState.CHANGES_REQUESTED:
        return SessionStatus.CHANGES_REQUESTED, "changes requested"
    if pr.review is ReviewState.APPROVED:
        if green and not pr.has_conflicts and pr.mergeable is not False:
            return SessionStatus.MERGEABLE, "approved and green"
        why = "has merge conflicts" if pr.has_conflicts else "CI not finished" if not green else "not mergeable"
        return SessionStatus.APPROVED, f"approved; {why}"
    if pr.ci in (CheckState.RUNNING, CheckState.PENDING):
        return SessionStatus.PR_OPEN, "CI running"
    return SessionStatus.REVIEW_PENDING, "review pending" + ("; has merge conflicts" if pr.has_conflicts else "")


def evaluate(session: Session, pr: PullRequest) -> Decision:
    status, reason = status_for(pr)
    sid, head = session.id, pr.head_sha
    prev = session.pr
    decision = Decision(status=status, reason=reason)
    if session.pr_opened_at is None:
        decision.fields["pr_opened_at"] = utcnow()

    def fire(event: str, key: str, **data: Any) -> None:
        base = {"head": head, "branch": pr.branch, "base": pr.base, "url": pr.url, "number": pr.number}
        decision.triggers.append(Trigger(event=event, session_id=sid, key=f"{sid}:{key}", data={**base, **data}))

    if pr.state == "merged":
        if session.merged_at is None:
            decision.fields["merged_at"] = utcnow()
        fire("pr_merged", "pr_merged")
        return decision
    if pr.state == "closed":
        return Decision(status=session.status, reason="PR closed")
    if session.status is SessionStatus.EXITED:
        decision.status = SessionStatus.EXITED  # the agent is gone: that matters more than the PR's colour
        decision.reason = f"agent exited; PR: {reason}"

    # CI
    if pr.ci is CheckState.FAILED:
        failed = [c for c in pr.checks if c.state is CheckState.FAILED]
        fire("ci_failed", f"ci_failed:{head}", failed=[c.name for c in failed], check_ids=[c.id for c in failed],
             summaries={c.name: c.summary for c in failed})
        if not (prev and prev.ci is CheckState.FAILED and prev.head_sha == head):
            decision.fields["ci_cycles"] = session.ci_cycles + 1
    elif pr.ci is CheckState.PASSED:
        fire("ci_passed", f"ci_passed:{head}")

    # review
    open_comments = [c for c in pr.comments if not c.resolved]
    if pr.review is ReviewState.CHANGES_REQUESTED:
        # Keyed by the newest comment (the request itself), else the head: a push
        # under a still-standing request (GitHub keeps it) must not resend it.
        last = open_comments[-1].id if open_comments else ""
        fire("changes_requested", f"changes_requested:{last or head}",
             comments=[comment_data(c) for c in open_comments],
             covers=[f"{sid}:review_comment:{c.id}" for c in open_comments])
        prev_last = next((c.id for c in reversed(prev.comments) if not c.resolved), "") if prev else ""
        same_round = (prev is not None and prev.review is ReviewState.CHANGES_REQUESTED
                      and prev_last == last and (bool(last) or prev.head_sha == head))
        if not same_round:
            decision.fields["review_rounds"] = session.review_rounds + 1
    for comment in open_comments:
        if pr.review is not ReviewState.CHANGES_REQUESTED:
            fire("review_comment", f"review_comment:{comment.id}", comments=[comment_data(comment)])
    if pr.review is ReviewState.APPROVED:
        fire("approved", f"approved:{head}")
        if status is SessionStatus.MERGEABLE:
            fire("approved_and_green", f"approved_and_green:{head}")

    if pr.has_conflicts:
        fire("merge_conflict", f"merge_conflict:{head}")
    return decision
