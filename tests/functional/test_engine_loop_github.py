"""The engine loop with ``scm: github`` against the fake GitHub (tests/support/github_server.py),
real tmux, git and worktrees, and the hooked stand-in agent, which commits but never pushes.

* ao pushes the branch itself (a real ``git push`` to the bare ``origin``, whose
  post-receive hook tells the fake), opens the PR, and pushes every later commit
  so the PR's head follows; a push the remote refuses is reported once and never forced.
* The human approves ao's own PR (GitHub refuses that from the PR's author): ao
  records it, so the session is ready to merge, and merges.
* A spent rate limit reaches the human once, with the reset time, not once per poll.

Every connection from this process must go to 127.0.0.1.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import ReviewState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from ao_tui_plugins import _github_client
from tests.support.claude_project import needs_worktree
from tests.support.github_server import FakeGitHub, guard_loopback_only
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(90)]

STAND_IN = Path(__file__).resolve().parents[2] / "tests" / "support" / "hooked_stand_in.py"
REPO = "acme/widgets"
TOKEN = "ghp_loop_test_token_not_real"


@pytest.fixture
def fake_github(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    guard_loopback_only(monkeypatch)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.delenv("GH_TOKEN", raising=False)
    monkeypatch.setattr(_github_client, "_clients", {})
    with FakeGitHub(token=TOKEN) as fake:
        fake.add_repo(REPO)
        fake.serve_git(REPO, git_repo.parent / "repo.git")  # the bare origin is GitHub's git side
        yield fake


@pytest.fixture
def engine(git_repo: Path, ao_home: Path, tmp_path: Path, fake_github: FakeGitHub,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("AO_STANDIN_DIR", str(tmp_path / "standin"))
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "gh", "notifiers": [],
        "agent": {"command": [sys.executable, str(STAND_IN)]},
        "scm": {"plugin": "github", "repo": REPO, "base_url": fake_github.url, "seconds_between_writes": 0,
                "poll_interval": "1s", "list_max_age": 0, "detail_max_age": 0},
    }}}))
    eng = Engine(load_config(str(config)))
    assert eng.start(leader_loop)
    try:
        yield eng
    finally:
        eng.stop()


def commit(workspace: Path, name: str) -> str:
    """What the agent does: commit (and, like many agents, forget to push)."""
    (workspace / name).write_text(f"{name}\n")
    git(workspace, "add", name)
    git(workspace, "commit", "-qm", f"Add {name}")
    return git(workspace, "rev-parse", "HEAD")


def start_session(engine: Engine, tmp_path: Path) -> tuple[Any, Path]:
    """A session whose agent committed, finished its turn and is ready for a PR."""
    s = engine.spawn(prompt="Add a.txt.")
    ws = Path(s.workspace)
    argv = wait_until(lambda: (p := tmp_path / "standin" / s.id / "argv.json").exists() and json.loads(p.read_text()))
    rules = argv[argv.index("--append-system-prompt") + 1]
    assert f"ao pushes `{s.branch}` to GitHub" in rules and "never force-push" in rules
    commit(ws, "a.txt")
    engine.store.mutate(s.id, lambda x: x.extra.update(auto_pr=True))  # as if it had said READY
    (tmp_path / "standin" / s.id / "release").touch()  # its turn ends: ao looks at the branch
    return s, ws


def test_ao_pushes_the_branch_opens_the_pr_follows_new_commits_and_merges_after_the_humans_approval(
    engine: Engine, fake_github: FakeGitHub, git_repo: Path, tmp_path: Path
) -> None:
    notices: list[Any] = []
    engine.subscribe_notifications(notices.append)
    bare = git_repo.parent / "repo.git"
    s, ws = start_session(engine, tmp_path)
    first = git(ws, "rev-parse", "HEAD")

    opened = wait_until(lambda: (cur := engine.session(s.id)).pr is not None and cur, timeout=20,
                        message=lambda: f"{engine.session(s.id)} {[e.kind for e in engine.events(s.id)]}")
    assert git(bare, "rev-parse", f"refs/heads/{s.branch}") == first, "pushed by ao with git"
    pull = fake_github.repo(REPO).pulls[opened.pr.number]
    assert pull["head_ref"] == s.branch and pull["head_sha"] == first
    assert opened.pr.head_sha == first

    # the agent commits a fix and does not push: ao does, and the PR's head on GitHub follows
    second = commit(ws, "b.txt")
    wait_until(lambda: fake_github.repo(REPO).pulls[opened.pr.number]["head_sha"] == second, timeout=15)
    assert git(bare, "rev-parse", f"refs/heads/{s.branch}") == second
    wait_until(lambda: engine.session(s.id).pr.head_sha == second, timeout=10)
    assert sorted(e.data["head"] for e in engine.events(s.id) if e.kind == "pushed") == sorted([first, second])
    assert not [e for e in engine.events(s.id) if e.kind == "push_failed"]

    # CI green; the human approves ao's own PR (GitHub would say 422): ready to merge, and it merges
    fake_github.add_check_run(REPO, second, "tests", conclusion="success")
    wait_until(lambda: engine.session(s.id).status is SessionStatus.REVIEW_PENDING, timeout=10)
    engine.approve(s.id)
    approved = engine.session(s.id)
    assert approved.pr.review is ReviewState.APPROVED and approved.status is SessionStatus.MERGEABLE
    review = fake_github.repo(REPO).reviews[opened.pr.number][-1]
    assert review["state"] == "COMMENTED" and "Approved by the human through ao" in review["body"]
    wait_until(lambda: any("approved and green" in n.title for n in notices), timeout=10)
    assert engine.merge_blockers(approved) == []
    assert engine.merge(s.id).status is SessionStatus.MERGED
    assert fake_github.repo(REPO).pulls[opened.pr.number]["merged"]


def test_a_refused_push_is_reported_once_and_never_forced_and_a_rate_limit_once_with_its_reset_time(
    engine: Engine, fake_github: FakeGitHub, git_repo: Path, tmp_path: Path
) -> None:
    notices: list[Any] = []
    engine.subscribe_notifications(notices.append)
    loop = engine._loop
    loop.prs.push_retry_seconds = 0  # try on every poll: still one report
    bare = git_repo.parent / "repo.git"
    s, ws = start_session(engine, tmp_path)
    opened = wait_until(lambda: (cur := engine.session(s.id)).pr is not None and cur, timeout=20)

    # someone else pushes to the branch; then the agent commits on top of the old head
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", s.branch, str(bare), str(other))
    git(other, "config", "user.email", "o@example.invalid")
    git(other, "config", "user.name", "O")
    theirs = commit(other, "theirs.txt")
    git(other, "push", "-q", "origin", s.branch)
    mine = commit(ws, "mine.txt")
    failed = wait_until(lambda: [e for e in engine.events(s.id) if e.kind == "push_failed"], timeout=15)
    time.sleep(3)  # three more polls, each trying again
    assert len([e for e in engine.events(s.id) if e.kind == "push_failed"]) == 1
    assert failed[0].data["error"].startswith(f"could not push {s.branch} ({mine[:10]}) to origin")
    pushes = [n for n in notices if "could not push" in n.title]
    assert len(pushes) == 1 and "never force-pushes" in pushes[0].body and pushes[0].session_id == s.id
    assert git(bare, "rev-parse", f"refs/heads/{s.branch}") == theirs, "never forced"
    assert fake_github.repo(REPO).pulls[opened.pr.number]["head_sha"] == theirs

    # GitHub's budget is spent: one notice with the reset time, however many polls fail
    fake_github.set_rate_limit(0, reset_in=600)
    reset = datetime.fromtimestamp(fake_github.reset_at).strftime("%H:%M")
    limited = wait_until(lambda: [n for n in notices if "rate limit" in n.title], timeout=15)
    time.sleep(3)
    assert [n.title for n in notices if "rate limit" in n.title] == [f"GitHub rate limit: resets at {reset}"]
    assert limited[0].body
    assert fake_github.stats()["rate_limited"] == 1, "the back-off holds: GitHub is not asked again"
