"""GitHubSCM through real PyGithub against the local fake GitHub (tests/support/github_server.py).

Every test runs with a socket guard: a connection anywhere but 127.0.0.1 fails
the test, so nothing here can reach api.github.com.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ao_tui import git as ao_git
from ao_tui.errors import AoError, NotFound
from ao_tui.models import CheckState, PullRequest, ReviewState, Session, SessionStatus
from ao_tui.pr_evaluation import evaluate
from ao_tui.slots.base import PluginContext
from ao_tui_plugins import _github_client
from ao_tui_plugins._github_client import RateLimited
from ao_tui_plugins._scm_common import MergeConflict
from ao_tui_plugins.scm_github import GitHubSCM, repo_from_remote, resolve_repo
from tests.support.github_server import FakeGitHub, guard_loopback_only
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

REPO = "acme/widgets"
TOKEN = "ghp_test_token_not_real"


@pytest.fixture
def local_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every outgoing connection's address; anything not on 127.0.0.1 fails the test."""
    return guard_loopback_only(monkeypatch)


@pytest.fixture
def fake_github(local_only: list[Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setattr(_github_client, "_clients", {})
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        yield fake
    urls = [r.host for r in fake.requests]
    assert all(h.startswith("127.0.0.1:") for h in urls), urls
    assert all("api.github.com" not in r.path for r in fake.requests)
    assert all(a[0] == "127.0.0.1" for a in local_only if isinstance(a, tuple))


def make_scm(fake: FakeGitHub, tmp_path: Path, **options: Any) -> GitHubSCM:
    opts = {"repo": REPO, "base_url": fake.url, "seconds_between_writes": 0, **options}
    return GitHubSCM(PluginContext(ao_home=tmp_path, options=opts))


def open_branch(fake: FakeGitHub, scm: GitHubSCM, branch: str = "ao/s-1", body: str = "Do it.") -> PullRequest:
    fake.push(REPO, branch)
    return scm.open_pr(Path("."), Path("."), branch, "main", f"Work on {branch}", body)


def posts(fake: FakeGitHub, fragment: str) -> list[str]:
    return [r.path for r in fake.requests if r.method != "GET" and fragment in r.path]


def test_a_retired_sessions_pr_is_no_longer_kept(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """What was fetched of a PR (its detail, reviews, checks) goes once its session is retired or
    deleted (the engine loop names the sessions it still follows); asked again, it is fetched again."""
    scm = make_scm(fake_github, tmp_path)
    first, second = open_branch(fake_github, scm, "ao/s-1"), open_branch(fake_github, scm, "ao/s-2")
    before = scm.pr_status(Path("."), Path("."), first)
    scm.pr_status(Path("."), Path("."), second)
    assert len(scm._tracked) == 2
    scm.forget_except(Path("."), [(Path("."), "ao/s-2", second)])
    assert list(scm._tracked) == [(REPO, second.number)]
    assert scm.pr_status(Path("."), Path("."), first) == before


# -- opening ------------------------------------------------------------------------------


def test_open_pr_for_pushed_branch_links_the_issue_and_is_found_again(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm, body="Add a greeting.\n\nTask: 7")
    assert pr.number == 1 and pr.state == "open" and pr.branch == "ao/s-1" and pr.base == "main"
    assert pr.head_sha == fake_github.repo(REPO).branches["ao/s-1"]
    assert pr.url.endswith("/acme/widgets/pull/1")
    stored = fake_github.repo(REPO).pulls[1]
    assert stored["title"] == "Work on ao/s-1"
    assert stored["body"].endswith("Closes #7")

    again = scm.open_pr(Path("."), Path("."), "ao/s-1", "main", "other title", "x")
    assert again.number == 1
    assert len(posts(fake_github, "/pulls")) == 1  # found, not opened twice


def test_issue_is_linked_only_when_the_tracker_is_github(fake_github: FakeGitHub, tmp_path: Path) -> None:
    from ao_tui.registry import create

    local_tracker = SimpleNamespace(tracker=SimpleNamespace(plugin="local"), repo=tmp_path)
    scm = create("scm", "github", PluginContext(ao_home=tmp_path, project_config=local_tracker, options={
        "repo": REPO, "base_url": fake_github.url, "seconds_between_writes": 0}))
    assert isinstance(scm, GitHubSCM)  # registered under the entry point "scm.github"
    pr = open_branch(fake_github, scm, body="Body.\n\nTask: 12")
    assert "Closes" not in fake_github.repo(REPO).pulls[pr.number]["body"]


def test_open_pr_for_a_branch_github_does_not_have_says_so(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    with pytest.raises(AoError) as info:
        scm.open_pr(Path("."), Path("."), "ao/never-pushed", "main", "t", "b")
    assert "is ao/never-pushed pushed?" in str(info.value)
    assert "\n" not in str(info.value)


def commit(workspace: Path, name: str, text: str = "x\n") -> str:
    (workspace / name).write_text(text)
    git(workspace, "add", name)
    git(workspace, "commit", "-qm", f"Add {name}")
    return git(workspace, "rev-parse", "HEAD")


def test_publish_branch_pushes_for_real_and_the_pr_head_follows(fake_github: FakeGitHub, git_repo: Path,
                                                                tmp_path: Path) -> None:
    bare = git_repo.parent / "repo.git"
    fake_github.serve_git(REPO, bare)
    assert fake_github.repo(REPO).branches["main"] == git(git_repo, "rev-parse", "main")
    scm = make_scm(fake_github, tmp_path, list_max_age=0)
    git(git_repo, "switch", "-qc", "ao/s-1")
    first = commit(git_repo, "a.txt")
    with pytest.raises(AoError, match="is ao/s-1 pushed"):
        scm.open_pr(git_repo, git_repo, "ao/s-1", "main", "t", "b")

    assert scm.publish_branch(git_repo, git_repo, "ao/s-1") == first
    assert git(bare, "rev-parse", "refs/heads/ao/s-1") == first  # a real push
    assert fake_github.repo(REPO).branches["ao/s-1"] == first  # GitHub heard of it
    pr = scm.open_pr(git_repo, git_repo, "ao/s-1", "main", "t", "b")
    assert pr.head_sha == first
    calls: list[tuple[Any, ...]] = []
    real_git = ao_git.run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ao_git, "run", lambda *args, **kw: calls.append(args) or real_git(*args, **kw))
        assert scm.publish_branch(git_repo, git_repo, "ao/s-1") is None  # nothing new: no push
    assert calls == [], "an unmoved branch costs a stat, not a git call"

    second = commit(git_repo, "b.txt")
    assert scm.publish_branch(git_repo, git_repo, "ao/s-1") == second
    assert fake_github.repo(REPO).pulls[pr.number]["head_sha"] == second
    assert scm.pr_status(git_repo, git_repo, pr).head_sha == second


def test_publish_branch_never_forces_and_fails_in_one_clean_line(fake_github: FakeGitHub, git_repo: Path,
                                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = git_repo.parent / "repo.git"
    fake_github.serve_git(REPO, bare)
    scm = make_scm(fake_github, tmp_path)
    git(git_repo, "switch", "-qc", "ao/s-1")
    commit(git_repo, "a.txt")
    scm.publish_branch(git_repo, git_repo, "ao/s-1")
    # someone else pushed to the branch meanwhile
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "ao/s-1", str(bare), str(other))
    git(other, "config", "user.email", "o@example.invalid")
    git(other, "config", "user.name", "O")
    theirs = commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", "ao/s-1")
    mine = commit(git_repo, "mine.txt")
    with pytest.raises(AoError) as info:
        scm.publish_branch(git_repo, git_repo, "ao/s-1")
    message = str(info.value)
    assert message.startswith(f"could not push ao/s-1 ({mine[:10]}) to origin: ")
    assert "ao never force-pushes" in message and "\n" not in message
    assert git(bare, "rev-parse", "refs/heads/ao/s-1") == theirs  # not overwritten
    assert fake_github.repo(REPO).branches["ao/s-1"] == theirs

    # a remote URL carrying a token never shows in the message
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    git(git_repo, "remote", "set-url", "origin", f"http://x-access-token:{TOKEN}@127.0.0.1:9/acme/widgets.git")
    with pytest.raises(AoError) as info:
        scm.publish_branch(git_repo, git_repo, "ao/s-1")
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)


# -- CI -------------------------------------------------------------------------------------

FAILING_LOG = "\n".join([
    "2026-01-01T00:00:01.0000000Z ##[group]Run pytest -q",
    *[f"2026-01-01T00:00:02.0000000Z collected line {i}" for i in range(300)],
    "2026-01-01T00:00:03.0000000Z FAILED tests/test_greet.py::test_hello - assert 'hi' == 'hello'",
    "2026-01-01T00:00:03.0000000Z 1 failed, 4 passed in 0.12s",
    "2026-01-01T00:00:03.0000000Z ##[error]Process completed with exit code 1.",
])


def test_failing_check_run_with_actions_log_reaches_the_agent_trigger(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm)
    run_id = fake_github.add_check_run(REPO, pr.head_sha, "tests", conclusion="failure", title="1 test failed",
                                       log=FAILING_LOG)
    fake_github.add_check_run(REPO, pr.head_sha, "lint", conclusion="success")
    fake_github.add_status(REPO, pr.head_sha, "ci/jenkins", "success", "Build passed")

    status = scm.pr_status(Path("."), Path("."), pr)
    assert status.ci is CheckState.FAILED
    by_name = {c.name: c for c in status.checks}
    assert by_name["tests"].state is CheckState.FAILED and by_name["tests"].id == str(run_id)
    assert by_name["tests"].summary == "1 test failed"
    assert by_name["lint"].state is CheckState.PASSED
    assert by_name["ci/jenkins"].state is CheckState.PASSED and by_name["ci/jenkins"].id.startswith("status-")

    log = scm.ci_logs(Path("."), status, by_name["tests"])
    assert log.startswith("Failing tests:\n- tests/test_greet.py::test_hello")
    assert "Process completed with exit code 1." in log
    assert "2026-01-01T" not in log  # Actions timestamps stripped
    assert "earlier lines omitted" in log
    blob = [r for r in fake_github.requests if r.path.startswith("/_blobs/job-logs/")]
    assert len(blob) == 1 and not blob[0].authorized  # the signed URL is fetched without the token

    session = Session(id="s-1", project="p", branch=pr.branch, status=SessionStatus.PR_OPEN, pr=pr)
    decision = evaluate(session, status)
    assert decision.status is SessionStatus.CI_FAILED
    trigger = next(t for t in decision.triggers if t.event == "ci_failed")
    assert trigger.key == f"s-1:ci_failed:{pr.head_sha}"
    assert trigger.data["failed"] == ["tests"] and trigger.data["check_ids"] == [str(run_id)]


def test_ci_logs_without_an_actions_job_use_the_check_output_and_annotations(fake_github: FakeGitHub,
                                                                              tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm)
    fake_github.add_check_run(REPO, pr.head_sha, "external-ci", conclusion="failure", app="circleci",
                              title="Type check failed", summary="2 errors",
                              annotations=[{"path": "src/app.py", "line": 12, "message": "int is not str"}])
    fake_github.add_status(REPO, pr.head_sha, "ci/legacy", "error", "Build errored",
                           "https://ci.invalid/build/9")
    status = scm.pr_status(Path("."), Path("."), pr)
    by_name = {c.name: c for c in status.checks}
    text = scm.ci_logs(Path("."), status, by_name["external-ci"])
    assert "Type check failed" in text and "2 errors" in text
    assert "src/app.py:12: failure: int is not str" in text
    legacy = scm.ci_logs(Path("."), status, by_name["ci/legacy"])
    assert legacy == "ci/legacy: Build errored\nhttps://ci.invalid/build/9"


def test_ci_is_red_only_once_every_check_has_finished(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path, list_max_age=0)
    pr = open_branch(fake_github, scm)
    fake_github.add_check_run(REPO, pr.head_sha, "unit", conclusion="failure")
    slow = fake_github.add_check_run(REPO, pr.head_sha, "e2e", status="in_progress", conclusion=None)
    assert scm.pr_status(Path("."), Path("."), pr).ci is CheckState.RUNNING
    fake_github.update_check_run(REPO, slow, status="completed", conclusion="success")
    assert scm.pr_status(Path("."), Path("."), pr).ci is CheckState.FAILED  # picked up while CI was open

    # a re-run on the same commit replaces the earlier run of that name
    fake_github.add_check_run(REPO, pr.head_sha, "unit", conclusion="success")
    scm.detail_max_age = 0
    final = scm.pr_status(Path("."), Path("."), pr)
    assert final.ci is CheckState.PASSED and len(final.checks) == 2


# -- reviews ----------------------------------------------------------------------------------


def test_reviews_and_review_comments_with_file_and_line(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path, list_max_age=0)
    pr = open_branch(fake_github, scm)
    fake_github.add_review(REPO, 1, "bob", "APPROVED", "lgtm")
    fake_github.add_review(REPO, 1, "alice", "CHANGES_REQUESTED", "Please rename things.", comments=[
        {"path": "src/greet.py", "line": 3, "body": "call it greeting"},
        {"path": "README.md", "line": 10, "body": "typo"},
    ])
    fake_github.add_review(REPO, 1, "alice", "COMMENTED", "one more thought")  # no verdict: does not override

    status = scm.pr_status(Path("."), Path("."), pr)
    assert status.review is ReviewState.CHANGES_REQUESTED
    located = [(c.path, c.line, c.body, c.author) for c in status.comments if c.path]
    assert located == [("src/greet.py", 3, "call it greeting", "alice"), ("README.md", 10, "typo", "alice")]
    assert all(c.id.isdigit() for c in status.comments if c.path)
    body = next(c for c in status.comments if c.path is None)
    assert body.body == "Please rename things." and not body.resolved

    session = Session(id="s-1", project="p", branch=pr.branch, status=SessionStatus.REVIEW_PENDING, pr=pr)
    trigger = next(t for t in evaluate(session, status).triggers if t.event == "changes_requested")
    assert {(c["path"], c["line"]) for c in trigger.data["comments"]} >= {("src/greet.py", 3), ("README.md", 10)}

    # alice approves after a push: her old request is resolved, the comments outdated
    fake_github.push(REPO, "ao/s-1")
    fake_github.outdate_comments(REPO, 1)
    fake_github.add_review(REPO, 1, "alice", "APPROVED", "thanks")
    after = scm.pr_status(Path("."), Path("."), pr)
    assert after.review is ReviewState.APPROVED
    assert after.comments and all(c.resolved for c in after.comments)
    assert {(c.path, c.line) for c in after.comments if c.path} == {("src/greet.py", 3), ("README.md", 10)}


def test_the_fake_refuses_a_review_by_the_prs_author_as_github_does(fake_github: FakeGitHub, tmp_path: Path) -> None:
    import requests

    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm)
    assert fake_github.repo(REPO).pulls[pr.number]["user"] == "ao-bot"  # opened with GITHUB_TOKEN
    url = f"{fake_github.url}/repos/{REPO}/pulls/{pr.number}/reviews"
    for event, words in (("APPROVE", "approve"), ("REQUEST_CHANGES", "request changes on")):
        answer = requests.post(url, json={"event": event, "body": "x"}, headers={"Authorization": f"token {TOKEN}"},
                               timeout=5)
        assert answer.status_code == 422
        assert answer.json()["message"] == "Unprocessable Entity"
        assert answer.json()["errors"] == [f"Can not {words} your own pull request"]
    assert fake_github.repo(REPO).reviews.get(pr.number, []) == []


def test_approve_and_request_changes_on_ao_s_own_pr_are_recorded_by_ao_and_shown_as_comments(
        fake_github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm)
    scm.request_changes(Path("."), pr, "src/greet.py:3: say hello\nAnd add a test.")
    review = fake_github.repo(REPO).reviews[1][-1]
    assert review["state"] == "COMMENTED" and review["user"] == "ao-bot"  # visible on GitHub
    assert review["body"].startswith("src/greet.py:3: say hello\nAnd add a test.")
    assert "Changes requested by the human through ao" in review["body"]
    inline = fake_github.repo(REPO).review_comments[1]
    assert [(c["path"], c["line"], c["body"]) for c in inline] == [("src/greet.py", 3, "say hello")]
    status = scm.pr_status(Path("."), Path("."), pr)
    assert status.review is ReviewState.CHANGES_REQUESTED  # seen at once
    body = next(c for c in status.comments if c.path is None)
    assert body.body == "src/greet.py:3: say hello\nAnd add a test."  # ao's note is not for the agent
    session = Session(id="s-1", project="p", branch=pr.branch, status=SessionStatus.REVIEW_PENDING, pr=pr)
    assert evaluate(session, status).status is SessionStatus.CHANGES_REQUESTED

    # a comment review ao did not record (an agent with the same token, say) stays a comment
    fake_github.add_review(REPO, 1, "ao-bot", "COMMENTED", "LGTM, approving myself")
    assert scm.pr_status(Path("."), Path("."), pr).review is ReviewState.CHANGES_REQUESTED

    scm.approve(Path("."), pr, "good now")
    assert fake_github.repo(REPO).reviews[1][-1]["state"] == "COMMENTED"
    approved = scm.pr_status(Path("."), Path("."), pr)
    assert approved.review is ReviewState.APPROVED and approved.ci is CheckState.NONE
    assert evaluate(session, approved).status is SessionStatus.MERGEABLE  # approved_and_green can fire
    with pytest.raises(AoError, match="needs a comment"):
        scm.request_changes(Path("."), pr, "  ")

    # another ao process (ao run beside ao-tui, or after a restart) reads the same record
    monkeypatch.setattr(_github_client, "_clients", {})
    other = make_scm(fake_github, tmp_path)
    assert other.pr_status(Path("."), Path("."), pr).review is ReviewState.APPROVED
    record = next((tmp_path / "github").glob("ao-reviews-*.json")).read_text()
    assert TOKEN not in record and "good now" not in record
    assert scm.merge(Path("."), approved).state == "merged"


def test_a_reviewer_token_reviews_as_another_user(fake_github: FakeGitHub, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake_github.users["ghp_reviewer_not_real"] = "alice"
    monkeypatch.setenv("AO_REVIEWER_TOKEN", "ghp_reviewer_not_real")
    scm = make_scm(fake_github, tmp_path, reviewer_token_env="AO_REVIEWER_TOKEN")
    pr = open_branch(fake_github, scm)
    scm.request_changes(Path("."), pr, "README.md:1: typo")
    scm.approve(Path("."), pr, "thanks")
    reviews = fake_github.repo(REPO).reviews[1]
    assert [(r["user"], r["state"]) for r in reviews] == [("alice", "CHANGES_REQUESTED"), ("alice", "APPROVED")]
    assert scm.pr_status(Path("."), Path("."), pr).review is ReviewState.APPROVED
    assert not list((tmp_path / "github").glob("ao-reviews-*.json"))  # nothing needed recording

    monkeypatch.setenv("AO_REVIEWER_TOKEN", "wrong")
    monkeypatch.setattr(_github_client, "_clients", {})
    with pytest.raises(AoError) as info:
        make_scm(fake_github, tmp_path, reviewer_token_env="AO_REVIEWER_TOKEN").approve(Path("."), pr)
    assert str(info.value) == "GitHub rejected the token (reviewing #1): check AO_REVIEWER_TOKEN"
    monkeypatch.delenv("AO_REVIEWER_TOKEN")  # named but unset: recorded by ao instead
    make_scm(fake_github, tmp_path, reviewer_token_env="AO_REVIEWER_TOKEN").approve(Path("."), pr)
    assert fake_github.repo(REPO).reviews[1][-1]["user"] == "ao-bot"
    with pytest.raises(AoError, match="reviewer_token_env: must name an environment variable"):
        make_scm(fake_github, tmp_path, reviewer_token_env="$(id)")


# -- merging -----------------------------------------------------------------------------------


def test_merge_uses_the_configured_method_and_closes_the_linked_issue(fake_github: FakeGitHub, tmp_path: Path) -> None:
    issue = fake_github.add_issue(REPO, "Greeting", labels=["ao"])
    scm = make_scm(fake_github, tmp_path, merge_method="rebase")
    pr = open_branch(fake_github, scm, body=f"Greets.\n\nTask: {issue}")
    status = scm.pr_status(Path("."), Path("."), pr)
    assert status.mergeable is True and not status.has_conflicts

    merged = scm.merge(Path("."), status)
    assert merged.state == "merged" and merged.mergeable is False
    model = fake_github.repo(REPO)
    assert model.pulls[pr.number]["merged"] and model.pulls[pr.number]["merge_method"] == "rebase"
    assert model.issues[issue]["state"] == "closed"
    merge_call = next(r for r in fake_github.requests if r.method == "PUT")
    assert merge_call.path == f"/repos/{REPO}/pulls/{pr.number}/merge"

    # the session follows: merged, and the pr_merged trigger fires once per session
    session = Session(id="s-1", project="p", branch=pr.branch, status=SessionStatus.MERGEABLE, pr=status)
    decision = evaluate(session, scm.pr_status(Path("."), Path("."), pr))
    assert decision.status is SessionStatus.MERGED
    assert [t.key for t in decision.triggers] == ["s-1:pr_merged"]


def test_merge_refused_on_conflict_and_on_unseen_commits(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path, list_max_age=0, detail_max_age=0)
    pr = open_branch(fake_github, scm)
    fake_github.set_mergeable(REPO, 1, False)  # mergeable_state "dirty"
    status = scm.pr_status(Path("."), Path("."), pr)
    assert status.has_conflicts and status.mergeable is False
    session = Session(id="s-1", project="p", branch=pr.branch, status=SessionStatus.PR_OPEN, pr=pr)
    assert any(t.key == f"s-1:merge_conflict:{pr.head_sha}" for t in evaluate(session, status).triggers)

    with pytest.raises(MergeConflict) as info:
        scm.merge(Path("."), status, "squash")
    assert str(info.value) == "PR #1 (ao/s-1) has merge conflicts with main; not merged"
    assert info.value.pr.has_conflicts
    assert fake_github.repo(REPO).pulls[1]["state"] == "open"

    fake_github.set_mergeable(REPO, 1, True)
    seen = scm.pr_status(Path("."), Path("."), pr)
    fake_github.push(REPO, "ao/s-1")  # a commit ao has not looked at
    with pytest.raises(AoError, match="new commits since ao last looked; not merged"):
        scm.merge(Path("."), seen)
    assert fake_github.repo(REPO).pulls[1]["state"] == "open"
    with pytest.raises(AoError, match="unknown merge method"):
        scm.merge(Path("."), seen, "octopus")


def test_pr_merged_or_closed_on_github_is_noticed(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path, list_max_age=0)
    pr = open_branch(fake_github, scm)
    assert scm.pr_status(Path("."), Path("."), pr).state == "open"
    fake_github.merge_outside(REPO, 1)
    assert scm.pr_status(Path("."), Path("."), pr).state == "merged"


# -- rate limits and conditional requests ------------------------------------------------------


def test_spent_rate_limit_gives_a_quick_clear_error_and_no_further_requests(fake_github: FakeGitHub,
                                                                           tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    pr = open_branch(fake_github, scm)
    fake_github.set_rate_limit(0, reset_in=3000)
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        scm.pr_status(Path("."), Path("."), pr)
    assert time.monotonic() - started < 2.0  # no sleeping until the reset
    reset_hhmm = datetime.fromtimestamp(fake_github.reset_at).strftime("%H:%M")
    assert str(info.value) == f"GitHub rate limit: resets at {reset_hhmm}"
    assert scm.rate_limit_message() == str(info.value)

    sent = fake_github.stats()["total"]
    for _ in range(5):  # the engine keeps polling: answered locally, GitHub is left alone
        with pytest.raises(RateLimited):
            scm.pr_status(Path("."), Path("."), pr)
        with pytest.raises(RateLimited):
            scm.approve(Path("."), pr)
    assert fake_github.stats()["total"] == sent
    assert fake_github.stats()["rate_limited"] == 1


def test_secondary_limit_429_with_retry_after_backs_off_then_recovers(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path, list_max_age=0)
    pr = open_branch(fake_github, scm)
    fake_github.set_rate_limit(0, reset_in=1, status=429)
    with pytest.raises(RateLimited):
        scm.pr_status(Path("."), Path("."), pr)
    fake_github.set_rate_limit(5000)
    with pytest.raises(RateLimited):  # still inside Retry-After: not asked
        scm.pr_status(Path("."), Path("."), pr)
    status = wait_until(lambda: _try_status(scm, pr), timeout=5, message="GitHub calls never resumed")
    assert status.state == "open" and scm.rate_limit_message() is None


def _try_status(scm: GitHubSCM, pr: PullRequest) -> PullRequest | None:
    try:
        return scm.pr_status(Path("."), Path("."), pr)
    except RateLimited:
        return None


def test_unchanged_prs_are_answered_by_304_and_spend_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    clock = SimpleNamespace(now=0.0)
    scm.clock = lambda: clock.now
    prs = []
    for i in range(5):
        pr = open_branch(fake_github, scm, f"ao/s-{i}")
        fake_github.add_check_run(REPO, pr.head_sha, "tests", conclusion="success")
        prs.append(pr)

    def poll_round() -> list[PullRequest]:
        clock.now += 30
        return [scm.pr_status(Path("."), Path("."), p) for p in prs]

    poll_round()  # warm: every resource fetched once
    fake_github.reset_requests()
    for _ in range(20):  # ten minutes of polling
        statuses = poll_round()
    stats = fake_github.stats()
    assert stats["counted"] == 0, fake_github.requests
    assert stats["total"] == stats["not_modified"] > 0
    assert all(s.ci is CheckState.PASSED for s in statuses)
    conditional = [r for r in fake_github.requests if r.if_none_match]
    assert len(conditional) == stats["total"]

    # a change still shows up in the next round, for the few requests it needs
    fake_github.reset_requests()
    fake_github.add_review(REPO, prs[2].number, "alice", "CHANGES_REQUESTED", "no")
    statuses = poll_round()
    assert statuses[2].review is ReviewState.CHANGES_REQUESTED
    assert [s.review for i, s in enumerate(statuses) if i != 2] == [ReviewState.PENDING] * 4
    assert 0 < fake_github.stats()["counted"] <= 4


def test_a_restarted_engine_polls_from_the_cache_on_disk(fake_github: FakeGitHub, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    scm = make_scm(fake_github, tmp_path)
    prs = [open_branch(fake_github, scm, f"ao/s-{i}") for i in range(3)]
    for pr in prs:
        scm.pr_status(Path("."), Path("."), pr)
    scm.client.save()  # what happens at exit (and once a minute)
    cache_files = list((tmp_path / "github").glob("cache-*.json"))
    assert len(cache_files) == 1 and TOKEN not in cache_files[0].read_text()

    monkeypatch.setattr(_github_client, "_clients", {})  # a new process
    fake_github.reset_requests()
    restarted = make_scm(fake_github, tmp_path)
    assert [restarted.pr_status(Path("."), Path("."), pr).number for pr in prs] == [1, 2, 3]
    stats = fake_github.stats()
    assert stats["counted"] == 0 and stats["not_modified"] == stats["total"] > 0


# -- configuration -------------------------------------------------------------------------------


def test_github_enterprise_base_url_with_api_prefix(local_only: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setattr(_github_client, "_clients", {})
    with FakeGitHub(token=TOKEN, prefix="/api/v3") as ghe:
        ghe.add_repo(REPO)
        scm = make_scm(ghe, tmp_path)
        pr = open_branch(ghe, scm)
        assert scm.pr_status(Path("."), Path("."), pr).number == 1
        assert ghe.requests and all(r.path.startswith("/api/v3/repos/") for r in ghe.requests)


def test_repo_from_the_origin_remote(git_repo: Path) -> None:
    for url in ("https://github.com/acme/widgets.git", "git@github.com:acme/widgets.git",
                "ssh://git@ghe.example.com:22/acme/widgets", "https://ghe.example.com/acme/widgets/"):
        assert repo_from_remote(url) == "acme/widgets"
    subprocess.run(["git", "-C", str(git_repo), "remote", "set-url", "origin",
                    "https://github.com/acme/widgets.git"], check=True)
    assert resolve_repo(None, git_repo, "scm github") == "acme/widgets"
    subprocess.run(["git", "-C", str(git_repo), "remote", "set-url", "origin", "/some/where"], check=True)
    with pytest.raises(AoError, match="set the scm option repo: owner/name"):
        resolve_repo(None, git_repo, "scm github")
    with pytest.raises(AoError, match="repo must be owner/name"):
        resolve_repo("widgets; rm -rf /", git_repo, "scm github")


def test_missing_token_and_bad_token_are_one_line_errors(fake_github: FakeGitHub, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    scm = make_scm(fake_github, tmp_path)
    with pytest.raises(AoError, match=r"^GitHub needs a token: set GITHUB_TOKEN \(or GH_TOKEN\) in the environment$"):
        scm.pr_status(Path("."), Path("."), PullRequest(number=1))
    monkeypatch.setenv("GH_TOKEN", "wrong-token")
    with pytest.raises(AoError) as info:
        make_scm(fake_github, tmp_path).pr_status(Path("."), Path("."), PullRequest(number=1))
    assert str(info.value) == "GitHub rejected the token (open PRs): check GITHUB_TOKEN"
    assert "wrong-token" not in str(info.value) and "wrong-token" not in repr(_github_client._clients)


def test_unknown_pr_is_not_found(fake_github: FakeGitHub, tmp_path: Path) -> None:
    scm = make_scm(fake_github, tmp_path)
    with pytest.raises(NotFound):
        scm.pr_status(Path("."), Path("."), PullRequest(number=99))


# -- the story: issue -> PR -> red CI -> agent -> review -> agent -> approved -> merged -------------


class OutboxHost:
    """The engine's side of reactions, minus tmux: messages go to the store's outbox, merges to the SCM."""

    def __init__(self, store: Any, scm: GitHubSCM) -> None:
        self.store, self.scm, self.notes = store, scm, []

    def send_to_agent(self, session_id: str, text: str, key: str | None = None) -> None:
        self.store.enqueue_message(session_id, text, key=key)

    def notify(self, title: str, body: str, session_id: str | None = None, urgency: str = "normal") -> None:
        self.notes.append(title)

    def merge(self, session_id: str, method: str = "squash") -> None:
        session = self.store.get_session(session_id)
        merged = self.scm.merge(Path("."), session.pr, method)
        self.store.mutate(session_id, lambda s: setattr(s, "pr", merged))

    def spawn(self, project: str, task_id: str | None = None, prompt: str | None = None) -> str:
        return ""

    def escalate(self, session_id: str, reason: str) -> None:
        self.notes.append(f"escalated: {reason}")


def test_story_issue_to_merge_with_reactions(fake_github: FakeGitHub, tmp_path: Path) -> None:
    from ao_tui.config import ReactionConfig, default_reactions
    from ao_tui.reaction_runner import ReactionRunner
    from ao_tui.registry import create
    from ao_tui.store import Store
    from ao_tui_plugins.tracker_github import GitHubTracker

    context = PluginContext(ao_home=tmp_path, options={"repo": REPO, "base_url": fake_github.url,
                                                       "seconds_between_writes": 0})
    scm, tracker = GitHubSCM(context), GitHubTracker(context)
    scm.list_max_age = 0  # every step below is a new engine round
    store = Store(tmp_path / "ao.sqlite3")
    host = OutboxHost(store, scm)
    reactions = {**default_reactions(), "approved_and_green": ReactionConfig(action="merge", method="squash")}
    runner = ReactionRunner(store, lambda project: reactions, host,
                            lambda name: create("reactions", name, PluginContext(ao_home=tmp_path)),
                            ci_logs=lambda s, c: scm.ci_logs(Path("."), s.pr, c))

    issue = fake_github.add_issue(REPO, "Greet people", "hello.txt should say hello", labels=["ao"])
    task = tracker.list_tasks()[0]
    tracker.set_status(task.id, "in_progress")
    tracker.on_session_started(task, "ao-1", "ao/ao-1")
    store.insert_session(Session(id="ao-1", project="p", task_id=task.id, branch="ao/ao-1",
                                 status=SessionStatus.WORKING))
    head = fake_github.push(REPO, "ao/ao-1")  # the agent pushed
    pr = scm.open_pr(Path("."), Path("."), "ao/ao-1", "main", task.title, f"Greets.\n\nTask: {task.id}")
    store.transition("ao-1", SessionStatus.PR_OPEN, pr=pr)

    def engine_round() -> Session:
        """What the engine loop does for a session with a PR (engine_loop._refresh_pr)."""
        session = store.get_session("ao-1")
        fresh = scm.pr_status(Path("."), Path("."), session.pr)
        decision = evaluate(session, fresh)

        def change(s: Session) -> None:
            s.pr = fresh
            for key, value in decision.fields.items():
                setattr(s, key, value)

        store.mutate("ao-1", change, status=decision.status, reason=decision.reason)
        for trigger in decision.triggers:
            runner.handle(trigger)
        return store.get_session("ao-1")

    def messages() -> list[str]:
        return [m["text"] for m in store.pending_messages("ao-1")]

    # red CI: the failing test and the log tail reach the agent, once
    fake_github.add_check_run(REPO, head, "tests", conclusion="failure", title="1 failed", log=FAILING_LOG)
    assert engine_round().status is SessionStatus.CI_FAILED
    engine_round()
    assert len(messages()) == 1
    assert "tests/test_greet.py::test_hello" in messages()[0] and "--- tests (1 failed) ---" in messages()[0]

    # the agent pushes a fix; CI green; a reviewer asks for a change on a line
    head = fake_github.push(REPO, "ao/ao-1")
    fake_github.add_check_run(REPO, head, "tests", conclusion="success")
    fake_github.add_review(REPO, pr.number or 0, "alice", "CHANGES_REQUESTED", "Almost.",
                           comments=[{"path": "hello.txt", "line": 1, "body": "say hello, not hi"}])
    assert engine_round().status is SessionStatus.CHANGES_REQUESTED
    engine_round()
    assert len(messages()) == 2 and "hello.txt:1: say hello, not hi" in messages()[1]

    # the agent fixes it; alice approves; approved and green -> the merge reaction merges
    head = fake_github.push(REPO, "ao/ao-1")
    fake_github.add_check_run(REPO, head, "tests", conclusion="success")
    fake_github.add_review(REPO, pr.number or 0, "alice", "APPROVED", "")
    engine_round()
    assert fake_github.repo(REPO).pulls[pr.number]["merged"]
    assert fake_github.repo(REPO).pulls[pr.number]["merge_method"] == "squash"
    assert engine_round().status is SessionStatus.MERGED
    assert fake_github.repo(REPO).issues[issue]["state"] == "closed"  # "Closes #1" in the PR body
    tracker.on_merged(task, "ao-1", pr.url)
    assert fake_github.issue_comments(REPO, issue) == [
        "ao session ao-1 started on branch `ao/ao-1`.", f"Merged in {pr.url} (ao session ao-1)."]
    assert len(messages()) == 2  # nothing sent twice along the way
    store.close()


def test_unreachable_github_is_a_quick_one_line_error(local_only: list[Any], monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setattr(_github_client, "_clients", {})
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    scm = GitHubSCM(PluginContext(ao_home=tmp_path, options={"repo": REPO, "base_url": f"http://127.0.0.1:{port}"}))
    started = time.monotonic()
    with pytest.raises(AoError) as info:
        scm.pr_status(Path("."), Path("."), PullRequest(number=1))
    assert time.monotonic() - started < 5
    assert str(info.value) == f"GitHub unreachable at http://127.0.0.1:{port} (open PRs): ConnectionError"


def test_publish_rebased_pushes_with_a_lease_never_a_plain_force(fake_github: FakeGitHub, git_repo: Path,
                                                                 tmp_path: Path) -> None:
    """A branch ao rebased goes up with --force-with-lease on the tip it replaced; one someone else
    moved meanwhile is refused and left as they pushed it."""
    bare = git_repo.parent / "repo.git"
    fake_github.serve_git(REPO, bare)
    scm = make_scm(fake_github, tmp_path)
    git(git_repo, "switch", "-qc", "ao/s-1")
    before = commit(git_repo, "a.txt")
    assert scm.publish_branch(git_repo, git_repo, "ao/s-1") == before
    git(git_repo, "switch", "-q", "main")
    commit(git_repo, "m.txt")
    git(git_repo, "switch", "-q", "ao/s-1")
    git(git_repo, "rebase", "-q", "main")
    after = git(git_repo, "rev-parse", "HEAD")
    with pytest.raises(AoError, match="never force-pushes"):
        scm.publish_branch(git_repo, git_repo, "ao/s-1")  # the ordinary push stays a plain one
    assert scm.publish_rebased(git_repo, git_repo, "ao/s-1", before) == after
    assert git(bare, "rev-parse", "refs/heads/ao/s-1") == after
    assert fake_github.repo(REPO).branches["ao/s-1"] == after
    # Someone else pushes to the branch; a second rewrite expecting `after` there is refused.
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "ao/s-1", str(bare), str(other))
    git(other, "config", "user.email", "o@example.invalid")
    git(other, "config", "user.name", "O")
    theirs = commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", "ao/s-1")
    git(git_repo, "commit", "-q", "--amend", "-m", "rewritten again")
    with pytest.raises(AoError) as info:
        scm.publish_rebased(git_repo, git_repo, "ao/s-1", after)
    assert "could not push rebased ao/s-1" in str(info.value) and "\n" not in str(info.value)
    assert git(bare, "rev-parse", "refs/heads/ao/s-1") == theirs


def test_a_pr_lost_by_the_store_is_found_again_by_its_branch(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """`ao store recover` asks the SCM for a branch's PR: the open one, else a closed or merged one."""
    scm = make_scm(fake_github, tmp_path)
    opened = open_branch(fake_github, scm, branch="ao/s-4")
    found = scm.find_pr(Path("."), Path("."), "ao/s-4")
    assert found is not None and found.number == opened.number and found.state == "open"
    assert scm.find_pr(Path("."), Path("."), "ao/never-pushed") is None
    fresh = make_scm(fake_github, tmp_path)  # a new process: nothing cached
    scm.merge(Path("."), opened)
    merged = fresh.find_pr(Path("."), Path("."), "ao/s-4")
    assert merged is not None and merged.number == opened.number and merged.state == "merged"
