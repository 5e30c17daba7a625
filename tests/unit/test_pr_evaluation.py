"""PR truth to session status, counters and triggers (pure logic)."""

from __future__ import annotations

from ao_tui.models import Check, CheckState, PullRequest, ReviewComment, ReviewState, Session, SessionStatus
from ao_tui.pr_evaluation import evaluate


def pr(**kw) -> PullRequest:
    base = dict(number=1, url="local://repo/ao/s-1", branch="ao/s-1", base="main", head_sha="aaa",
                ci=CheckState.PASSED, review=ReviewState.PENDING, mergeable=True)
    base.update(kw)
    return PullRequest(**base)


def sess(**kw) -> Session:
    base = dict(id="s-1", project="demo", status=SessionStatus.PR_OPEN)
    base.update(kw)
    return Session(**base)


def events(decision) -> dict[str, str]:
    return {t.event: t.key for t in decision.triggers}


def red(head: str = "aaa") -> PullRequest:
    return pr(head_sha=head, ci=CheckState.FAILED, checks=[
        Check(name="pytest -q", state=CheckState.FAILED, id=f"{head}:pytest -q", summary="exit 1"),
        Check(name="lint", state=CheckState.PASSED, id=f"{head}:lint"),
    ])


def test_ci_failure_sets_status_fires_once_per_head_and_counts_cycles():
    d = evaluate(sess(), red())
    assert d.status is SessionStatus.CI_FAILED and "pytest -q" in d.reason
    trig = next(t for t in d.triggers if t.event == "ci_failed")
    assert trig.key == "s-1:ci_failed:aaa"
    assert trig.data["failed"] == ["pytest -q"] and trig.data["check_ids"] == ["aaa:pytest -q"]
    assert d.fields["ci_cycles"] == 1
    # the same red head seen again: same key, no new cycle
    again = evaluate(sess(pr=red(), ci_cycles=1), red())
    assert events(again)["ci_failed"] == "s-1:ci_failed:aaa" and "ci_cycles" not in again.fields
    # a new red head is a new cycle and a new key
    third = evaluate(sess(pr=red(), ci_cycles=1), red("bbb"))
    assert events(third)["ci_failed"] == "s-1:ci_failed:bbb" and third.fields["ci_cycles"] == 2


def test_running_ci_is_pr_open_and_green_without_review_is_review_pending():
    assert evaluate(sess(), pr(ci=CheckState.RUNNING)).status is SessionStatus.PR_OPEN
    d = evaluate(sess(), pr())
    assert d.status is SessionStatus.REVIEW_PENDING and events(d) == {"ci_passed": "s-1:ci_passed:aaa"}
    assert evaluate(sess(), pr(ci=CheckState.NONE)).status is SessionStatus.REVIEW_PENDING


def test_changes_requested_carries_comments_and_covers_them():
    comments = [ReviewComment(id="c1", body="add tests"), ReviewComment(id="c2", body="rename", path="a.py", line=3)]
    d = evaluate(sess(), pr(review=ReviewState.CHANGES_REQUESTED, comments=comments))
    assert d.status is SessionStatus.CHANGES_REQUESTED and d.fields["review_rounds"] == 1
    assert [t.event for t in d.triggers] == ["ci_passed", "changes_requested"]
    cr = d.triggers[1]
    assert cr.key == "s-1:changes_requested:c2"
    assert [c["body"] for c in cr.data["comments"]] == ["add tests", "rename"]
    assert cr.data["comments"][1]["path"] == "a.py" and cr.data["comments"][1]["line"] == 3
    assert cr.data["covers"] == ["s-1:review_comment:c1", "s-1:review_comment:c2"]
    same = evaluate(sess(pr=pr(review=ReviewState.CHANGES_REQUESTED, comments=comments), review_rounds=1),
                    pr(review=ReviewState.CHANGES_REQUESTED, comments=comments))
    assert "review_rounds" not in same.fields


def test_resolved_comments_are_not_sent_again_and_lone_comments_fire_by_id():
    comments = [ReviewComment(id="c1", body="old", resolved=True), ReviewComment(id="c3", body="nit")]
    d = evaluate(sess(), pr(review=ReviewState.COMMENTED, comments=comments))
    assert [t.key for t in d.triggers if t.event == "review_comment"] == ["s-1:review_comment:c3"]


def test_approved_and_green_is_mergeable_but_not_with_conflicts_or_red_ci():
    d = evaluate(sess(), pr(review=ReviewState.APPROVED))
    assert d.status is SessionStatus.MERGEABLE
    assert events(d)["approved_and_green"] == "s-1:approved_and_green:aaa" and "approved" in events(d)
    running = evaluate(sess(), pr(review=ReviewState.APPROVED, ci=CheckState.RUNNING))
    assert running.status is SessionStatus.APPROVED and "approved_and_green" not in events(running)
    conflict = evaluate(sess(), pr(review=ReviewState.APPROVED, has_conflicts=True, mergeable=False))
    assert conflict.status is SessionStatus.APPROVED and "merge conflicts" in conflict.reason
    assert events(conflict)["merge_conflict"] == "s-1:merge_conflict:aaa"
    assert "approved_and_green" not in events(conflict)
    assert evaluate(sess(), red()).status is SessionStatus.CI_FAILED


def test_merged_fires_pr_merged_and_stamps_time():
    d = evaluate(sess(status=SessionStatus.MERGEABLE), pr(state="merged"))
    assert d.status is SessionStatus.MERGED and events(d) == {"pr_merged": "s-1:pr_merged"} and d.fields["merged_at"]


def test_exited_agent_keeps_exited_but_still_triggers():
    d = evaluate(sess(status=SessionStatus.EXITED), red())
    assert d.status is SessionStatus.EXITED and "ci_failed" in events(d)


def test_pr_opened_at_is_set_once():
    assert "pr_opened_at" in evaluate(sess(), pr()).fields
    from ao_tui.models import utcnow

    assert "pr_opened_at" not in evaluate(sess(pr_opened_at=utcnow()), pr()).fields


def test_a_push_under_a_standing_change_request_does_not_resend_it():
    """GitHub keeps 'changes requested' after a push; the request is keyed by its comment, not the head."""
    comments = [ReviewComment(id="c1", body="add tests")]
    first = evaluate(sess(), pr(review=ReviewState.CHANGES_REQUESTED, comments=comments))
    pushed = evaluate(sess(pr=pr(review=ReviewState.CHANGES_REQUESTED, comments=comments), review_rounds=1),
                      pr(head_sha="bbb", review=ReviewState.CHANGES_REQUESTED, comments=comments))
    assert events(first)["changes_requested"] == events(pushed)["changes_requested"] == "s-1:changes_requested:c1"
    assert "review_rounds" not in pushed.fields
    bare = evaluate(sess(), pr(review=ReviewState.CHANGES_REQUESTED))
    assert events(bare)["changes_requested"] == "s-1:changes_requested:aaa"
