"""The local SCM with real git repositories, worktrees and real CI commands."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ao_tui.errors import AoError
from ao_tui.models import CheckState, PullRequest, ReviewState
from ao_tui.slots.base import PluginContext
from ao_tui_plugins._scm_common import MergeConflict, log_excerpt
from ao_tui_plugins.scm_local import LocalSCM
from tests.support.gitrepo import git

PY = shlex.quote(sys.executable)
CHECK = f"{PY} check.py"
PYTEST = f"{PY} -m pytest -q -p no:cacheprovider -p no:randomly test_app.py"

APP = "def add(a, b):\n    return a + b\n"
CHECK_PY = "import app\nassert app.add(1, 2) == 3, 'add is broken'\nprint('ok')\n"
TEST_APP = "import app\n\n\ndef test_add():\n    assert app.add(2, 2) == 4\n\n\ndef test_fine():\n    assert True\n"


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def make_scm(ao_home: Path, **options) -> LocalSCM:
    return LocalSCM(PluginContext(ao_home=ao_home, options=options))


def worktree(repo: Path, ao_home: Path, name: str = "s-1") -> tuple[Path, str]:
    branch = f"ao/{name}"
    path = ao_home / "workspaces" / name
    git(repo, "worktree", "add", "-q", "-b", branch, str(path), "main")
    git(path, "config", "user.email", "agent@example.invalid")
    git(path, "config", "user.name", "Agent")
    return path, branch


def commit(path: Path, files: dict[str, str], message: str = "change") -> str:
    for rel, text in files.items():
        (path / rel).write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message)
    return git(path, "rev-parse", "HEAD")


def settle(scm: LocalSCM, repo: Path, ws: Path, pr: PullRequest, timeout: float = 30.0) -> PullRequest:
    """Poll pr_status until CI has finished, as the engine does."""
    return wait_until(
        lambda: (p := scm.pr_status(repo, ws, pr)).ci in (CheckState.PASSED, CheckState.FAILED, CheckState.NONE)
        and p, timeout)


@pytest.fixture
def project(git_repo: Path) -> Path:
    commit(git_repo, {"app.py": APP, "check.py": CHECK_PY, "test_app.py": TEST_APP}, "app")
    git(git_repo, "push", "-q", "origin", "main")
    return git_repo


def test_pr_numbers_are_stable_across_restarts(project: Path, ao_home: Path):
    ws1, b1 = worktree(project, ao_home, "s-1")
    ws2, b2 = worktree(project, ao_home, "s-2")
    commit(ws1, {"a.txt": "a"})
    commit(ws2, {"b.txt": "b"})
    scm = make_scm(ao_home)
    pr1 = scm.open_pr(project, ws1, b1, "main", "First", "body")
    pr2 = scm.open_pr(project, ws2, b2, "main", "Second", "body")
    assert (pr1.number, pr2.number) == (1, 2)
    assert pr1.url == f"local://{project.name}/{b1}"
    assert pr1.head_sha == git(ws1, "rev-parse", "HEAD")
    again = make_scm(ao_home).open_pr(project, ws1, b1, "main", "First", "body")
    assert again.number == 1
    with pytest.raises(AoError, match="nothing to open a PR from"):
        scm.open_pr(project, ws1, "ao/none", "main", "x", "")


def test_prs_kept_by_an_older_ao_in_one_file_carry_over(project: Path, ao_home: Path):
    """Upgrading keeps every PR: the old single ``prs.json`` becomes a file per PR, with its
    numbers, reviews and merged state, and new PRs go on from its counters."""
    ws1, b1 = worktree(project, ao_home, "s-1")
    ws2, b2 = worktree(project, ao_home, "s-2")
    commit(ws1, {"a.txt": "a"})
    head2 = commit(ws2, {"b.txt": "b"})
    root = make_scm(ao_home).root(project)
    root.mkdir(parents=True)
    old = {"next_number": 8, "next_review": 3, "next_comment": 5, "prs": {
        b2: {"number": 7, "branch": b2, "base": "main", "title": "Older", "body": "", "workspace": str(ws2),
             "state": "open", "created_at": "2026-12-01T00:00:00+00:00", "fork": None,
             "reviews": [{"id": "r2", "state": "approved", "body": "", "head": head2, "at": "x"}],
             "comments": [{"id": "c4", "review": "r2", "author": "human", "body": "nice", "path": None,
                           "line": None, "head": head2, "at": "x"}],
             "merged_sha": None, "merged_head": None, "merged_at": None}}}
    (root / "prs.json").write_text(json.dumps(old))
    scm = make_scm(ao_home)
    kept = scm.find_pr(project, ws2, b2)
    assert kept is not None and (kept.number, kept.title) == (7, "Older")
    status = scm.pr_status(project, ws2, kept)
    assert status.review is ReviewState.APPROVED and [c.body for c in status.comments] == ["nice"]
    assert not (root / "prs.json").exists()
    assert sorted(p.name for p in (root / "prs").iterdir()) == ["ao~s-2.json"]
    new = scm.open_pr(project, ws1, b1, "main", "Newer", "")
    assert new.number == 8
    scm.comment(project, new, "one more")
    assert [c.id for c in scm.pr_status(project, ws1, new).comments] == ["c5"]


def test_ci_runs_in_background_on_each_new_head_and_keeps_logs(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    slow_then_check = f"{PY} -c \"import time; time.sleep(1.5)\""
    scm = make_scm(ao_home, ci=[slow_then_check, CHECK])
    head = commit(ws, {"app.py": APP + "\n# tidy\n"})
    pr = scm.open_pr(project, ws, branch, "main", "Tidy", "")
    started = time.monotonic()
    first = scm.pr_status(project, ws, pr)
    assert time.monotonic() - started < 1.0  # never blocks on CI
    assert first.ci in (CheckState.PENDING, CheckState.RUNNING)
    done = settle(scm, project, ws, pr)
    assert done.ci is CheckState.PASSED
    assert [c.id for c in done.checks] == [f"{head}:{slow_then_check}", f"{head}:{CHECK}"]
    log_file = scm.ci.log_path(project, done.checks[1])
    assert log_file is not None and log_file.parent == scm.root(project) / "ci" / head
    assert "ok" in log_file.read_text() and done.checks[1].url == log_file.as_uri()
    # the same head is not run again; a new head is
    assert settle(scm, project, ws, pr).checks == done.checks
    head2 = commit(ws, {"app.py": "def add(a, b):\n    return a - b\n"}, "break it")
    red = settle(scm, project, ws, pr)
    assert red.head_sha == head2 and red.ci is CheckState.FAILED
    assert [c.state for c in red.checks] == [CheckState.PASSED, CheckState.FAILED]
    assert "add is broken" in scm.ci_logs(project, red, red.checks[1])
    assert (scm.root(project) / "ci" / head).is_dir()  # the earlier run's logs are kept


def test_failing_pytest_log_names_failing_tests_first(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=[PYTEST])
    commit(ws, {"app.py": "def add(a, b):\n    return a * b + 1\n"}, "oops")
    pr = scm.open_pr(project, ws, branch, "main", "Oops", "")
    red = settle(scm, project, ws, pr)
    assert red.ci is CheckState.FAILED
    text = scm.ci_logs(project, red, red.checks[0])
    assert text.startswith("Failing tests:\n- test_app.py::test_add")
    assert "test_fine" not in text.split("\n\n")[0]
    assert "assert 5 == 4" in text
    commit(ws, {"app.py": APP}, "fix")
    assert settle(scm, project, ws, pr).ci is CheckState.PASSED


def test_log_excerpt_keeps_the_tail():
    text = "\n".join(f"line {i}" for i in range(400))
    excerpt = log_excerpt(text)
    assert "line 399" in excerpt and "line 100" not in excerpt and "250 earlier lines omitted" in excerpt


def test_ci_command_that_hangs_is_stopped_at_the_timeout(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=[f"{PY} -c \"import time; time.sleep(60)\""], ci_timeout=1)
    commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "Hang", "")
    started = time.monotonic()
    red = settle(scm, project, ws, pr, timeout=20)
    assert time.monotonic() - started < 10
    assert red.ci is CheckState.FAILED and "timed out" in red.checks[0].summary


def test_missing_ci_executable_fails_the_check_readably(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=["no-such-tool-for-ao --check"])
    commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    red = settle(scm, project, ws, pr)
    assert red.ci is CheckState.FAILED
    assert "cannot run 'no-such-tool-for-ao'" in scm.ci_logs(project, red, red.checks[0])


def test_two_engines_asking_at_once_run_ci_once(project: Path, ao_home: Path, tmp_path: Path):
    ws, branch = worktree(project, ao_home)
    counter = tmp_path / "runs.txt"
    cmd = f"{PY} -c \"import time; open({str(counter)!r}, 'a').write('x'); time.sleep(0.5)\""
    a, b = make_scm(ao_home, ci=[cmd]), make_scm(ao_home, ci=[cmd])
    commit(ws, {"x.txt": "x"})
    pr = a.open_pr(project, ws, branch, "main", "x", "")
    for _ in range(5):
        a.pr_status(project, ws, pr)
        b.pr_status(project, ws, pr)
    assert settle(b, project, ws, pr).ci is CheckState.PASSED
    assert counter.read_text() == "x"


def test_a_run_left_behind_by_a_crash_is_started_again(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=[CHECK])
    head = commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    status = scm.ci.ci_dir(project, head) / "status.json"
    status.parent.mkdir(parents=True)
    status.write_text(json.dumps({"sha": head, "owner": 999999, "finished_at": None,
                                  "checks": [{"name": CHECK, "state": "running", "log": "x.log"}]}))
    assert settle(scm, project, ws, pr).ci is CheckState.PASSED


def test_review_follows_the_human_and_new_commits(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    assert scm.pr_status(project, ws, pr).review is ReviewState.PENDING
    scm.request_changes(project, pr, "Please add tests.\napp.py:2: this should handle None")
    pr_now = scm.pr_status(project, ws, pr)
    assert pr_now.review is ReviewState.CHANGES_REQUESTED
    bodies = [(c.body, c.path, c.line, c.resolved) for c in pr_now.comments]
    assert bodies == [("Please add tests.", None, None, False), ("this should handle None", "app.py", 2, False)]
    assert len({c.id for c in pr_now.comments}) == 2
    commit(ws, {"x.txt": "y"}, "address review")
    after = scm.pr_status(project, ws, pr)
    assert after.review is ReviewState.PENDING and all(c.resolved for c in after.comments)
    scm.approve(project, after)
    assert scm.pr_status(project, ws, pr).review is ReviewState.APPROVED
    commit(ws, {"x.txt": "z"}, "sneaky change after approval")
    seen = scm.pr_status(project, ws, pr)
    assert seen.review is ReviewState.PENDING
    commit(ws, {"x.txt": "w"}, "pushed while the human was reading")
    scm.approve(project, seen)  # approves the head the human saw, not the newer one
    assert scm.pr_status(project, ws, pr).review is ReviewState.PENDING
    scm.approve(project, scm.pr_status(project, ws, pr))
    assert scm.pr_status(project, ws, pr).review is ReviewState.APPROVED
    with pytest.raises(AoError, match="needs a comment"):
        scm.request_changes(project, pr, "  ")


def test_squash_merge_lands_on_main_without_touching_local_changes(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"feature.txt": "one\n"}, "feature part 1")
    commit(ws, {"feature.txt": "one\ntwo\n"}, "feature part 2")
    (project / "notes.txt").write_text("my uncommitted notes\n")  # the user's own work in progress
    (project / "README.md").write_text("# edited but not committed\n")
    pr = scm.open_pr(project, ws, branch, "main", "Add the feature", "")
    assert scm.pr_status(project, ws, pr).mergeable is True
    merged = scm.merge(project, pr, "squash")
    assert merged.state == "merged"
    assert (project / "feature.txt").read_text() == "one\ntwo\n"  # main's checkout moved forward
    assert (project / "notes.txt").read_text() == "my uncommitted notes\n"
    assert (project / "README.md").read_text() == "# edited but not committed\n"
    subject = git(project, "log", "-1", "--format=%s%n%b%n%an")
    assert subject.startswith("Add the feature (#1)") and "* feature part 2" in subject and subject.endswith("Agent")
    assert len(git(project, "log", "-1", "--format=%P").split()) == 1
    assert git(project, "rev-parse", "main") == git(project, "rev-parse", "origin/main") or \
        git(project, "ls-remote", "origin", "refs/heads/main").split()[0] == git(project, "rev-parse", "main")
    # asking again is harmless and still says merged
    assert scm.merge(project, pr, "squash").state == "merged"
    assert scm.pr_status(project, ws, pr).state == "merged"


def test_a_merged_pr_leaves_no_merge_analysis_behind(project: Path, ao_home: Path):
    """One analysis per open PR (its latest tips), none once merged: a long run keeps nothing per commit."""
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"feature.txt": "one\n"})
    pr = scm.open_pr(project, ws, branch, "main", "Add the feature", "")
    for n in range(3):
        commit(ws, {"feature.txt": f"one\n{n}\n"})
        assert scm.pr_status(project, ws, pr).mergeable is True
    assert list(scm._analysis) == [(str(project), branch)]
    scm.merge(project, pr, "squash")
    assert scm.pr_status(project, ws, pr).state == "merged"
    assert scm._analysis == {}


def test_a_pr_merged_by_another_process_leaves_no_analysis_behind(project: Path, ao_home: Path):
    """`ao merge` or ao-tui merging while `ao run` runs: the engine is not asked about that PR again,
    and its merge analysis goes when the next PR is first looked at (a week-long run keeps one per open PR)."""
    engine_scm, other = make_scm(ao_home), make_scm(ao_home)
    ws1, b1 = worktree(project, ao_home, "s-1")
    ws2, b2 = worktree(project, ao_home, "s-2")
    commit(ws1, {"one.txt": "one\n"})
    commit(ws2, {"two.txt": "two\n"})
    pr1 = engine_scm.open_pr(project, ws1, b1, "main", "One", "")
    assert engine_scm.pr_status(project, ws1, pr1).mergeable is True
    other.merge(project, pr1, "squash")
    pr2 = engine_scm.open_pr(project, ws2, b2, "main", "Two", "")
    assert engine_scm.pr_status(project, ws2, pr2).mergeable is True
    assert list(engine_scm._analysis) == [(str(project), b2)]


def test_finished_ci_runs_leave_no_workspace_lock_behind(project: Path, ao_home: Path):
    """One CI run at a time per workspace, but no lock kept for every workspace CI ever ran in."""
    scm = make_scm(ao_home, ci=[CHECK])
    for name in ("s-1", "s-2"):
        ws, branch = worktree(project, ao_home, name)
        commit(ws, {"app.py": APP + f"\n# {name}\n"})
        pr = scm.open_pr(project, ws, branch, "main", name, "")
        assert settle(scm, project, ws, pr).ci is CheckState.PASSED
    assert scm.ci.wait_idle(30)
    assert len(scm.ci._workspace_locks) == 0


def test_merge_commit_when_main_is_not_checked_out(project: Path, ao_home: Path):
    git(project, "checkout", "-q", "--detach")
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    head = commit(ws, {"f.txt": "f"})
    pr = scm.open_pr(project, ws, branch, "main", "F", "")
    scm.merge(project, pr, "merge")
    parents = git(project, "log", "-1", "--format=%P", "main").split()
    assert parents[1] == head
    assert git(project, "ls-remote", "origin", "refs/heads/main").split()[0] == git(project, "rev-parse", "main")


def test_conflict_is_refused_cleanly_and_reported(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"README.md": "# theirs\n"}, "branch edit")
    commit(project, {"README.md": "# ours\n"}, "main edit")
    before = git(project, "rev-parse", "main")
    pr = scm.open_pr(project, ws, branch, "main", "Conflict", "")
    status = scm.pr_status(project, ws, pr)
    assert status.has_conflicts is True and status.mergeable is False
    with pytest.raises(MergeConflict) as info:
        scm.merge(project, pr, "squash")
    assert "README.md" in str(info.value) and info.value.pr.has_conflicts
    assert git(project, "rev-parse", "main") == before
    assert git(project, "status", "--porcelain") == ""


def test_merge_refuses_when_it_would_overwrite_local_changes(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"README.md": "# from the agent\n"})
    (project / "README.md").write_text("# my local edit\n")
    before = git(project, "rev-parse", "main")
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    with pytest.raises(AoError, match="local changes"):
        scm.merge(project, pr, "squash")
    assert git(project, "rev-parse", "main") == before
    assert (project / "README.md").read_text() == "# my local edit\n"
    assert scm.pr_status(project, ws, pr).state == "open"


def test_branch_merged_by_hand_is_seen_as_merged(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home)
    commit(ws, {"f.txt": "f"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    git(project, "merge", "-q", "--ff-only", branch)
    assert scm.pr_status(project, ws, pr).state == "merged"


def test_ci_finished_listener_is_called(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=[CHECK])
    seen: list[tuple[str, str]] = []
    scm.add_listener(lambda b, sha: seen.append((b, sha)))
    head = commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    scm.pr_status(project, ws, pr)
    wait_until(lambda: seen)
    assert seen == [(branch, head)]


def test_bad_ci_option_is_a_one_line_error(ao_home: Path):
    with pytest.raises(AoError, match="cannot be split"):
        make_scm(ao_home, ci=["pytest 'unclosed"])
    with pytest.raises(AoError, match="must be a list"):
        make_scm(ao_home, ci=3)


def test_ci_mapping_names_checks(project: Path, ao_home: Path):
    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci={"unit": CHECK})
    commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    done = settle(scm, project, ws, pr)
    assert [c.name for c in done.checks] == ["unit"]
    assert subprocess.run(["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True).stdout == ""


class StoryHost:
    """The engine's side of reactions, reduced to what this story needs."""

    def __init__(self, store, scm: LocalSCM, repo: Path) -> None:
        self.store, self.scm, self.repo = store, scm, repo
        self.escalations: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def send_to_agent(self, session_id, text, key=None):
        self.store.enqueue_message(session_id, text, key=key)

    def notify(self, title, body, session_id=None, urgency="normal"):
        self.notes.append(title)

    def merge(self, session_id, method="squash"):
        session = self.store.get_session(session_id)
        self.store.update(session_id, pr=self.scm.merge(self.repo, session.pr, method))

    def spawn(self, project, task_id=None, prompt=None):
        return ""

    def escalate(self, session_id, reason):
        self.escalations.append((session_id, reason))


def test_story_red_ci_reaches_the_agent_then_green_approved_and_merged(project: Path, ao_home: Path, ao_store):
    """What the engine loop does on each poll: pr_status -> evaluate -> store -> reactions."""
    import os

    from ao_tui import lifecycle
    from ao_tui.config import ReactionConfig, default_reactions
    from ao_tui.models import Session, SessionStatus
    from ao_tui.pr_evaluation import evaluate
    from ao_tui.reaction_runner import ReactionRunner
    from ao_tui.registry import create

    ws, branch = worktree(project, ao_home)
    scm = make_scm(ao_home, ci=[PYTEST])
    reactions = {**default_reactions(), "approved_and_green": ReactionConfig(action="merge", method="squash")}
    host = StoryHost(ao_store, scm, project)
    runner = ReactionRunner(
        ao_store, lambda p: reactions, host,
        lambda name: create("reactions", name, PluginContext(ao_home=Path(os.environ["AO_HOME"]))),
        ci_logs=lambda s, check: scm.ci_logs(project, s.pr, check))
    ao_store.insert_session(Session(id="s-1", project="demo", branch=branch, workspace=str(ws),
                                    status=SessionStatus.WORKING))

    def poll() -> Session:
        s = ao_store.get_session("s-1")
        pr = scm.pr_status(project, ws, s.pr)
        decision = evaluate(s, pr)
        target = decision.status if lifecycle.can_transition(s.status, decision.status) else s.status

        def change(x: Session) -> None:
            x.pr = pr
            for k, v in decision.fields.items():
                setattr(x, k, v)

        ao_store.mutate("s-1", change, status=target, reason=decision.reason)
        for trigger in decision.triggers:
            runner.handle(trigger)
        return ao_store.get_session("s-1")

    def poll_until(status: SessionStatus) -> Session:
        return wait_until(lambda: (s := poll()).status is status and s, timeout=40, interval=0.1)

    commit(ws, {"app.py": "def add(a, b):\n    return a - b\n"}, "refactor add")
    pr = scm.open_pr(project, ws, branch, "main", "Refactor add", "")
    ao_store.transition("s-1", SessionStatus.PR_OPEN, pr=pr)
    red = poll_until(SessionStatus.CI_FAILED)
    assert red.ci_cycles == 1
    [msg] = ao_store.pending_messages("s-1")
    assert msg["key"] == f"s-1:ci_failed:{red.pr.head_sha}"
    assert "Failing tests:\n- test_app.py::test_add" in msg["text"] and "assert 0 == 4" in msg["text"]
    for _ in range(3):
        poll()  # polling again changes nothing: still one message
    assert len(ao_store.pending_messages("s-1")) == 1

    commit(ws, {"app.py": APP}, "fix add")  # the agent's fix
    poll_until(SessionStatus.REVIEW_PENDING)
    scm.request_changes(project, ao_store.get_session("s-1").pr, "app.py:1: add a docstring")
    cr = poll_until(SessionStatus.CHANGES_REQUESTED)
    assert cr.review_rounds == 1
    assert "- app.py:1: add a docstring" in ao_store.pending_messages("s-1")[-1]["text"]
    commit(ws, {"app.py": '"""Arithmetic."""\n' + APP}, "docstring")
    poll_until(SessionStatus.REVIEW_PENDING)
    scm.approve(project, ao_store.get_session("s-1").pr)
    merged = poll_until(SessionStatus.MERGED)  # approved_and_green -> merge reaction -> merged
    assert merged.pr.state == "merged"
    assert (project / "app.py").read_text().startswith('"""Arithmetic."""')
    assert len(ao_store.pending_messages("s-1")) == 2 and host.escalations == []
    reaction_events = [e.data["event"] for e in ao_store.events("s-1") if e.kind == "reaction"]
    assert reaction_events.count("ci_failed") == 1 and "approved_and_green" in reaction_events


def test_ci_does_not_see_ao_secrets(project: Path, ao_home: Path, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("DB_PASSWORD", "needed-by-tests")
    ws, branch = worktree(project, ao_home)
    dump = f"{PY} -c \"import os, json; print(json.dumps(sorted(os.environ)))\""
    scm = make_scm(ao_home, ci=[dump], ci_pass_env=["DB_PASSWORD"])
    commit(ws, {"x.txt": "x"})
    pr = scm.open_pr(project, ws, branch, "main", "x", "")
    done = settle(scm, project, ws, pr)
    log_text = scm.ci.log_path(project, done.checks[0]).read_text()
    assert "GITHUB_TOKEN" not in log_text and "ANTHROPIC_API_KEY" not in log_text
    assert "DB_PASSWORD" in log_text and '"CI"' in log_text


def test_clone_workspace_is_followed_and_merged(project: Path, ao_home: Path):
    ws = ao_home / "workspaces" / "s-7"
    subprocess.run(["git", "clone", "-q", str(project), str(ws)], check=True)
    git(ws, "checkout", "-q", "-b", "ao/s-7")
    git(ws, "config", "user.email", "agent@example.invalid")
    git(ws, "config", "user.name", "Agent")
    scm = make_scm(ao_home, ci=[CHECK])
    head = commit(ws, {"cloned.txt": "from a clone\n"})
    pr = scm.open_pr(project, ws, "ao/s-7", "main", "From a clone", "")
    done = settle(scm, project, ws, pr)
    assert done.head_sha == head and done.ci is CheckState.PASSED and done.mergeable is True
    scm.approve(project, pr)
    assert scm.merge(project, pr, "squash").state == "merged"
    assert (project / "cloned.txt").read_text() == "from a clone\n"


def test_shutdown_stops_ci_without_a_false_red_and_the_next_engine_reruns(project: Path, ao_home: Path, tmp_path):
    ws, branch = worktree(project, ao_home)
    marker = tmp_path / "started"
    cmd = f"{PY} -c \"import time, pathlib; pathlib.Path({str(marker)!r}).touch(); time.sleep(30)\""
    first = make_scm(ao_home, ci=[cmd], ci_timeout=60)
    commit(ws, {"x.txt": "x"})
    pr = first.open_pr(project, ws, branch, "main", "x", "")
    first.pr_status(project, ws, pr)
    wait_until(marker.exists)
    first.close()
    assert first.ci.wait_idle(10)
    after = first.pr_status(project, ws, pr)
    assert after.ci is not CheckState.FAILED
    fast = make_scm(ao_home, ci={cmd: CHECK})  # same check name, a quick command this time
    assert settle(fast, project, ws, pr).ci is CheckState.PASSED


def test_engine_wiring_reaches_the_outbox_and_escalates(project: Path, ao_home: Path, capsys):
    """ReactionRunner.for_engine: the engine's SCM logs, queue and escalation, as `ao run` uses them."""
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import Session, SessionStatus
    from ao_tui.pr_evaluation import evaluate
    from ao_tui.reaction_runner import EngineHost, ReactionRunner

    (project / "ao.config.yaml").write_text(
        "projects:\n  demo:\n    repo: .\n    session_prefix: dm\n"
        f"    scm:\n      plugin: local\n      ci: [{json.dumps(PYTEST)}]\n"
        "    reactions:\n      ci_failed: {action: send_to_agent, retries: 0}\n")
    (project / "backlog.yaml").write_text("- id: T-1\n  title: Done\n  status: done\n"
                                          "- id: T-2\n  title: Next\n  depends_on: [T-1]\n")
    engine = Engine(load_config(str(project / "ao.config.yaml")))
    ws, branch = worktree(project, ao_home, "dm-1")
    engine.store.insert_session(Session(id="dm-1", project="demo", branch=branch, workspace=str(ws),
                                        status=SessionStatus.WORKING))
    commit(ws, {"app.py": "def add(a, b):\n    return 0\n"}, "break")
    engine.open_pr("dm-1")
    runner = ReactionRunner.for_engine(engine)

    def red_decision():
        pr = engine.refresh_pr("dm-1")
        return pr.ci is CheckState.FAILED and evaluate(engine.session("dm-1"), pr)

    decision = wait_until(red_decision, timeout=30, interval=0.1)
    results = [runner.handle(t) for t in decision.triggers if t.event == "ci_failed"]
    assert results == ["done"]
    [msg] = engine.store.pending_messages("dm-1")
    assert "Failing tests:\n- test_app.py::test_add" in msg["text"]
    # a second red head: retries (0) exhausted -> the session needs the human
    commit(ws, {"app.py": "def add(a, b):\n    return 1\n"}, "still broken")
    decision = wait_until(red_decision, timeout=30, interval=0.1)
    assert [runner.handle(t) for t in decision.triggers if t.event == "ci_failed"] == ["escalated"]
    assert engine.session("dm-1").escalation == "CI failed 2 times; retries exhausted (0)"
    assert "dm-1 needs you" in capsys.readouterr().err  # the terminal notifier
    assert EngineHost(engine)._next_ready_task("demo") == "T-2"


def _age(path: Path, days: float) -> None:
    """Make ``path`` (and what is in it) look untouched for ``days``."""
    when = time.time() - days * 86400
    for p in [*path.rglob("*"), path] if path.is_dir() else [path]:
        os.utime(p, (when, when))


def test_records_and_ci_logs_of_prs_long_merged_or_closed_are_deleted(project: Path, ao_home: Path):
    """A long run stays flat (issue 16): the local SCM keeps a record per PR and a CI dir per commit."""
    scm = make_scm(ao_home, ci=[CHECK])
    prs = {}
    for name in ("s-1", "s-2", "s-3", "s-4"):
        ws, branch = worktree(project, ao_home, name)
        commit(ws, {f"{name}.txt": f"{name}\n"})
        prs[name] = (ws, scm.open_pr(project, ws, branch, "main", name, ""))
        assert settle(scm, project, ws, prs[name][1]).ci is CheckState.PASSED
    assert scm.ci.wait_idle(30)
    scm.merge(project, prs["s-1"][1], "squash")  # merged long ago
    scm.merge(project, prs["s-4"][1], "squash")  # merged yesterday
    git(project, "worktree", "remove", "--force", str(prs["s-2"][0]))  # closed: its session killed and cleaned up
    git(project, "branch", "-D", "ao/s-2")
    root = scm.root(project)
    ci_of = {name: root / "ci" / pr.head_sha for name, (_, pr) in prs.items()}
    for name in ("s-1", "s-2", "s-3"):  # s-3 is open, its last change 40 days ago: kept, its CI too
        _age(root / "prs" / f"ao~{name}.json", 40)
        _age(ci_of[name], 40)
    _age(root / "prs" / "ao~s-4.json", 1)

    assert make_scm(ao_home, ci=[CHECK], keep_closed_days=0).prune_finished(project) == 0
    assert scm.prune_finished(project) == 4

    assert sorted(p.name for p in (root / "prs").iterdir()) == ["ao~s-3.json", "ao~s-4.json"]
    assert not ci_of["s-1"].exists() and not ci_of["s-2"].exists()
    assert ci_of["s-3"].is_dir() and ci_of["s-4"].is_dir()
    ws3, pr3 = prs["s-3"]
    ran = (ci_of["s-3"] / "status.json").read_text()
    status = scm.pr_status(project, ws3, pr3)  # the open PR as it was: its CI read, not run again
    assert status.state == "open" and status.ci is CheckState.PASSED
    assert (ci_of["s-3"] / "status.json").read_text() == ran
    assert scm.pr_status(project, prs["s-4"][0], prs["s-4"][1]).state == "merged"
    assert scm.prune_finished(project) == 0
