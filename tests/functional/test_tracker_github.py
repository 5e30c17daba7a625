"""GitHubTracker through real PyGithub against the local fake GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ao_tui.errors import AoError, NotFound
from ao_tui.models import Task
from ao_tui.slots.base import PluginContext
from ao_tui_plugins import _github_client
from ao_tui_plugins._github_client import RateLimited
from ao_tui_plugins.tracker_github import GitHubTracker, parse_depends
from tests.support.github_server import FakeGitHub, guard_loopback_only

REPO = "acme/widgets"
TOKEN = "ghp_test_token_not_real"


@pytest.fixture
def fake_github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    seen = guard_loopback_only(monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setattr(_github_client, "_clients", {})
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        yield fake
    assert all(r.host.startswith("127.0.0.1:") for r in fake.requests)
    assert seen and all(a[0] == "127.0.0.1" for a in seen if isinstance(a, tuple))


def make_tracker(fake: FakeGitHub, tmp_path: Path, **options: Any) -> GitHubTracker:
    opts = {"repo": REPO, "base_url": fake.url, "seconds_between_writes": 0, **options}
    return GitHubTracker(PluginContext(ao_home=tmp_path, options=opts))


def test_backlog_is_the_open_issues_with_the_label(fake_github: FakeGitHub, tmp_path: Path) -> None:
    first = fake_github.add_issue(REPO, "Add a greeting", "Write hello.txt.", labels=["ao", "small"])
    fake_github.add_issue(REPO, "Not for agents", labels=["question"])
    done = fake_github.add_issue(REPO, "Old work", labels=["ao"], state="closed")
    second = fake_github.add_issue(REPO, "Add a farewell", "Depends on #1", labels=["ao"])
    fake_github.push(REPO, "feature")
    fake_github.repo(REPO).pulls[99] = {**_pull_stub(fake_github), "number": 99}  # a PR is not a task

    tracker = make_tracker(fake_github, tmp_path)
    tasks = tracker.list_tasks()
    assert [(t.id, t.title, t.status) for t in tasks] == [(str(first), "Add a greeting", "open"),
                                                         (str(second), "Add a farewell", "open")]
    assert tasks[0].labels == ["ao", "small"] and tasks[0].body == "Write hello.txt."
    assert tasks[0].url.endswith(f"/issues/{first}")
    assert tasks[1].depends_on == [str(first)]
    everything = tracker.list_tasks(include_done=True)
    assert {t.id: t.status for t in everything}[str(done)] == "done"

    assert tracker.get_task(f"#{first}").title == "Add a greeting"
    assert tracker.get_task(str(first)).id == str(first)
    with pytest.raises(NotFound, match="is a pull request"):
        tracker.get_task("99")
    with pytest.raises(NotFound, match="no issue #404"):
        tracker.get_task("404")
    with pytest.raises(NotFound, match="not a GitHub issue number"):
        tracker.get_task("T-1")


def _pull_stub(fake: FakeGitHub) -> dict[str, Any]:
    stamp = fake.now()
    return {"id": 1, "title": "A PR", "body": "", "head_ref": "feature", "head_sha": fake.repo(REPO).branches["feature"],
            "base_ref": "main", "state": "open", "draft": False, "user": "x", "created_at": stamp,
            "updated_at": stamp, "closed_at": None, "merged_at": None, "merged": False, "merged_by": None,
            "merge_commit_sha": None, "mergeable": True, "mergeable_state": "clean"}


def test_session_life_on_the_issue_comment_label_close(fake_github: FakeGitHub, tmp_path: Path) -> None:
    number = fake_github.add_issue(REPO, "Add a greeting", labels=["ao"])
    tracker = make_tracker(fake_github, tmp_path)
    task = tracker.get_task(str(number))

    tracker.set_status(task.id, "in_progress")
    tracker.on_session_started(task, "ao-3", "ao/ao-3")
    assert fake_github.issue_comments(REPO, number) == ["ao session ao-3 started on branch `ao/ao-3`."]
    assert tracker.get_task(task.id).status == "in_progress"
    assert fake_github.repo(REPO).issues[number]["labels"] == ["ao", "ao:in-progress"]
    assert [t.status for t in tracker.list_tasks()] == ["in_progress"]

    tracker.set_status(task.id, "done")
    tracker.on_merged(task, "ao-3", "https://github.invalid/acme/widgets/pull/9")
    issue = fake_github.repo(REPO).issues[number]
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    assert issue["labels"] == ["ao"]
    assert fake_github.issue_comments(REPO, number)[-1] == \
        "Merged in https://github.invalid/acme/widgets/pull/9 (ao session ao-3)."
    assert tracker.list_tasks() == []

    tracker.set_status(task.id, "open")  # reopened by hand through ao
    assert fake_github.repo(REPO).issues[number]["state"] == "open"
    with pytest.raises(AoError, match="unknown task status"):
        tracker.set_status(task.id, "blocked")


def test_on_merged_closes_an_issue_github_left_open(fake_github: FakeGitHub, tmp_path: Path) -> None:
    number = fake_github.add_issue(REPO, "Fix it", labels=["ao"])
    tracker = make_tracker(fake_github, tmp_path)
    tracker.on_merged(Task(id=str(number), title="Fix it"), "ao-1", "https://github.invalid/pr/1")
    assert fake_github.repo(REPO).issues[number]["state"] == "closed"


def test_create_task_files_a_labelled_issue_with_dependencies(fake_github: FakeGitHub, tmp_path: Path) -> None:
    base = fake_github.add_issue(REPO, "Base", labels=["ao"])
    tracker = make_tracker(fake_github, tmp_path, label="agents")
    task = tracker.create_task("Build on it", "Use the base.", depends_on=[f"#{base}"])
    issue = fake_github.repo(REPO).issues[int(task.id)]
    assert issue["labels"] == ["agents"] and issue["body"] == f"Use the base.\n\nDepends on #{base}"
    assert task.depends_on == [str(base)]
    assert [t.id for t in tracker.list_tasks()] == [task.id]  # the new issue is in the backlog at once
    with pytest.raises(AoError, match="needs a title"):
        tracker.create_task("  ")


def test_polling_the_backlog_costs_nothing_until_it_changes(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.add_issue(REPO, "One", labels=["ao"])
    tracker = make_tracker(fake_github, tmp_path)
    tracker.list_tasks()
    fake_github.reset_requests()
    for _ in range(10):
        assert len(tracker.list_tasks()) == 1
    assert fake_github.stats() == {"total": 10, "counted": 0, "not_modified": 10, "rate_limited": 0}
    fake_github.add_issue(REPO, "Two", labels=["ao"])
    assert [t.title for t in tracker.list_tasks()] == ["One", "Two"]
    assert fake_github.stats()["counted"] == 1


def test_tracker_and_scm_share_the_rate_limit_gate(fake_github: FakeGitHub, tmp_path: Path) -> None:
    from ao_tui_plugins.scm_github import GitHubSCM

    tracker = make_tracker(fake_github, tmp_path)
    scm = GitHubSCM(PluginContext(ao_home=tmp_path, options={"repo": REPO, "base_url": fake_github.url}))
    fake_github.set_rate_limit(0)
    with pytest.raises(RateLimited):
        tracker.list_tasks()
    sent = fake_github.stats()["total"]
    with pytest.raises(RateLimited, match="GitHub rate limit: resets at"):
        scm.pr_status(Path("."), Path("."), SimpleNamespace(number=1, branch="x"))  # type: ignore[arg-type]
    assert fake_github.stats()["total"] == sent


def test_depends_lines() -> None:
    assert parse_depends("Body\nDepends on #3, #4\nblocked by: #9") == ["3", "4", "9"]
    assert parse_depends("mentions #5 in passing") == []


def test_a_backlog_longer_than_one_page_is_read_whole(fake_github: FakeGitHub, tmp_path: Path) -> None:
    for i in range(130):
        fake_github.add_issue(REPO, f"Task {i}", labels=["ao"])
    tasks = make_tracker(fake_github, tmp_path).list_tasks()
    assert [t.title for t in tasks] == [f"Task {i}" for i in range(130)]
    pages = [r.path for r in fake_github.requests if "/issues" in r.path]
    assert len(pages) == 2 and "page=2" in pages[1]
