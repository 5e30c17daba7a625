"""Parallel agents that do not collide (issue 13), with real git, worktrees, tmux and the engine loop.

The agents are the hooked stand-in (tests/support/hooked_stand_in.py): a test commits in their
worktrees as an agent would, and reads what ao typed into them from ``received.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.cli import main as cli_main
from ao_tui.conflicts import overlaps_for
from ao_tui.engine import Engine
from ao_tui.models import Activity, ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from ao_tui.rebase import backup_ref, mid_rebase
from tests.support.claude_project import needs_worktree
from tests.support.gitrepo import git
from tests.support.standin_project import standin_engine
from tests.support.waiting import wait_until

pytestmark = [needs_worktree, pytest.mark.timeout(90)]

APP = "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n"


def _repo_with_app(git_repo: Path) -> None:
    (git_repo / "app.py").write_text(APP)
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "app")
    git(git_repo, "push", "-q", "origin", "main")  # sessions start from origin/main


def _commit(ws: Path, path: str, text: str, message: str, *, at: int | None = None) -> str:
    (ws / path).write_text(text)
    git(ws, "add", path)
    env = dict(os.environ)
    if at is not None:
        env.update(GIT_COMMITTER_DATE=f"{at} +0000", GIT_AUTHOR_DATE=f"{at} +0000")
    subprocess.run(["git", "commit", "-qm", message], cwd=ws, check=True, env=env, capture_output=True)
    return git(ws, "rev-parse", "HEAD")


def _contains(repo: Path, commit: str, branch: str) -> bool:
    return subprocess.run(["git", "merge-base", "--is-ancestor", commit, branch], cwd=repo).returncode == 0


def _idle(engine: Engine, standin: Path, sid: str) -> None:
    """End the stand-in's first turn: its agent is at its prompt."""
    (standin / sid).mkdir(parents=True, exist_ok=True)
    (standin / sid / "release").write_text("")
    wait_until(lambda: engine.session(sid).activity.state.value == "idle", timeout=20)


def _received(standin: Path, sid: str) -> list[str]:
    path = standin / sid / "received.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["text"] if line.startswith("{") else json.loads(line)
            for line in path.read_text().splitlines() if line.strip()]


def test_two_sessions_editing_the_same_function_are_flagged_and_the_later_one_told(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "cf", standin, monkeypatch, rebase="off")
    assert engine.start(leader_loop)
    try:
        one = engine.spawn(prompt="Make area handle squares.")
        two = engine.spawn(prompt="Make area round up.")
        three = engine.spawn(prompt="Document perimeter.")
        for s in (one, two, three):
            _idle(engine, standin, s.id)
        _commit(Path(one.workspace), "app.py", APP.replace("return w * h", "return w * (h or w)"), "squares",
                at=1_800_000_000)
        _commit(Path(three.workspace), "NOTES.md", "perimeter is 2(w+h)\n", "notes", at=1_800_000_005)
        _commit(Path(two.workspace), "app.py", APP.replace("return w * h", "return round(w * h)"), "round up",
                at=1_800_000_010)
        # Both flagged before either opened a PR: the mark's data on each row.
        wait_until(lambda: engine.session(one.id).extra.get("conflicts") and engine.session(two.id).extra.get("conflicts"),
                   timeout=20)
        mark = engine.session(one.id).extra["conflicts"]
        assert mark == [{"with": two.id, "conflict": True, "files": ["app.py"]}]
        assert "conflicts" not in engine.session(three.id).extra, "no file in common with anyone"
        seen = overlaps_for(engine.store, two.id)
        assert [(o.other, o.conflicting, o.later) for o in seen] == [(one.id, True, True)]
        hunk = seen[0].conflicts[0]["hunks"][0]
        assert hunk["ours"] == ["    return round(w * h)"] and hunk["theirs"] == ["    return w * (h or w)"]
        # The later one (two) is told which file and hunks collide with whom; the earlier one is not.
        text = wait_until(lambda: next((t for t in _received(standin, two.id) if "conflict" in t), None), timeout=20)
        assert one.id in text and "app.py" in text and "return w * (h or w)" in text and "git rebase" in text
        assert not any("conflict" in t for t in _received(standin, one.id))
        key = f"{two.id}:conflict_predicted:{one.id}:"
        assert [c["state"] for c in engine.store.claims(two.id) if c["key"].startswith(key)] == ["done"]
        # No checkout: the worktrees are where the agents left them.
        assert git(Path(one.workspace), "status", "--porcelain") == ""
        # The same in the shell, and for the orchestrator.
        config = str(git_repo.parent / "ao.config.yaml")
        assert cli_main(["conflicts", "--config", config, "--json"]) == 0
        pairs = json.loads(capsys.readouterr().out)
        assert [(p["a"], p["b"], p["conflict"], p["later"], p["files"]) for p in pairs] == [
            (one.id, two.id, True, two.id, ["app.py"])]
        assert cli_main(["conflicts", "--config", config]) == 0
        table = capsys.readouterr().out
        assert "CONFLICT" in table and "return round(w * h)" in table
        from ao_tui.orchestrator.tools import ToolBox

        found = asyncio.run(ToolBox(engine).dispatch("find_conflicts", {"session_id": two.id})).text
        assert "WOULD CONFLICT" in found and f"committed later: {two.id}" in found and "return w * (h or w)" in found
        from ao_tui.orchestrator.context import fleet_summary

        assert f"CONFLICT PREDICTED with {one.id} (app.py)" in fleet_summary(engine)
    finally:
        engine.stop()
    # Once per pair and commit, across a restart: a new engine sends nothing again.
    again = standin_engine(git_repo, "cf", standin, monkeypatch, rebase="off")
    assert again.start(leader_loop)
    try:
        again._loop.branches.resend_seconds = 0
        wait_until(lambda: again._loop.branches.conflicts._last.get("demo"), timeout=10)
        again._loop.branches._last_tick = 0
        again._loop.branches.tick()
        claims = [c for c in again.store.claims(two.id) if c["event"] == "conflict_predicted"]
        assert len(claims) == 1
        assert sum("conflict" in t for t in _received(standin, two.id)) == 1
    finally:
        again.stop()


def test_main_moving_rebases_idle_clean_branches_and_reports_a_conflicting_one(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "rb", standin, monkeypatch, rebase="auto",
                            scm={"plugin": "local", "ci": [f"{sys.executable} -c pass"]})
    assert engine.start(leader_loop)
    try:
        clean = engine.spawn(prompt="Add notes.")
        clash = engine.spawn(prompt="Change area.")
        busy = engine.spawn(prompt="Long work.")
        for s in (clean, clash):
            _idle(engine, standin, s.id)
        clean_before = _commit(Path(clean.workspace), "NOTES.md", "notes\n", "notes")
        _commit(Path(clash.workspace), "app.py", APP.replace("return w * h", "return w * h * 1"), "clash")
        _commit(Path(busy.workspace), "BUSY.md", "busy\n", "busy")
        engine.open_pr(clean.id)
        # main moves (a merge elsewhere): area changed in a way that collides with `clash`.
        main = _commit(git_repo, "app.py", APP.replace("return w * h", "return h * w"), "main moves")
        wait_until(lambda: _contains(git_repo, main, clean.branch), timeout=30)
        ws = Path(clean.workspace)
        assert git(ws, "log", "--format=%s", "-3").splitlines() == ["notes", "main moves", "app"]
        assert git(ws, "status", "--porcelain") == ""
        # The backup ref is kept until CI passes on the rebased commit, then dropped.
        new_head = git(ws, "rev-parse", "HEAD")
        wait_until(lambda: (s := engine.session(clean.id)).pr is not None and s.pr.head_sha == new_head
                   and s.pr.ci.value == "passed", timeout=30)
        wait_until(lambda: git(git_repo, "for-each-ref", backup_ref(clean.id)) == "", timeout=10)
        assert clean_before != new_head
        # The conflicting one: aborted, untouched, and told with files and hunks.
        clash_ws = Path(clash.workspace)
        assert not mid_rebase(clash_ws)
        assert git(clash_ws, "log", "-1", "--format=%s") == "clash"
        text = wait_until(lambda: next((t for t in _received(standin, clash.id) if "merges cleanly" in t
                                        or "no longer merges" in t), None), timeout=20)
        assert "app.py" in text and "return h * w" in text
        # Never under a working agent: `busy` is still mid-turn and keeps its old base.
        assert engine.session(busy.id).activity.state.value in ("working", "running_tool")
        assert not _contains(git_repo, main, busy.branch)
        # ... and once it is idle, it is rebased too.
        _idle(engine, standin, busy.id)
        wait_until(lambda: _contains(git_repo, main, busy.branch), timeout=20)
    finally:
        engine.stop()


def test_a_rebase_cut_off_by_kill_9_is_undone_on_restart(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ``kill -9`` of a process in the middle of ``Rebaser.rebase``: the rebase stops at a
    conflict on its second commit (the journal says started, git has a rebase under way) and
    the process dies there; the next engine's start returns the worktree to its backup."""
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    engine = standin_engine(git_repo, "kr", standin, monkeypatch, rebase="off")
    s = engine.spawn(prompt="Work.")
    ws = Path(s.workspace)
    _commit(ws, "NOTES.md", "one\n", "first")
    backup = _commit(ws, "app.py", APP.replace("return w * h", "return w * h + 0"), "second")
    onto = _commit(git_repo, "app.py", APP.replace("return w * h", "return h * w"), "main moves")
    engine.store.transition(s.id, SessionStatus.IDLE, activity=Activity(state=ActivityState.IDLE, source="hook"))
    # The child starts the rebase the way the engine does, then is killed while git is stopped mid-way.
    child = subprocess.Popen([sys.executable, "-c", (
        "import os, signal, sys\n"
        "sys.path[:0] = [os.getcwd()]\n"
        "from ao_tui import git as ao_git, rebase\n"
        "real = ao_git.run\n"
        "def git(cwd, *args, **kw):\n"
        "    done = real(cwd, *args, **kw)\n"
        "    if args[:1] == ('rebase',) and args[1:2] != ('--abort',):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return done\n"
        "ao_git.run = git\n"
        "from ao_tui.config import load_config\n"
        "from ao_tui.engine import Engine\n"
        f"engine = Engine(load_config({str(git_repo.parent / 'ao.config.yaml')!r}))\n"
        f"rebase.Rebaser(engine).rebase({s.id!r}, {onto!r})\n")],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ})
    assert child.wait(timeout=60) == -9
    assert mid_rebase(ws), "git was left mid-rebase"
    assert [r["state"] for r in engine.store.rebases(s.id)] == ["started"]
    restarted = standin_engine(git_repo, "kr", standin, monkeypatch, rebase="off")
    assert restarted.start(leader_loop)
    try:
        assert not mid_rebase(ws)
        assert git(ws, "rev-parse", "HEAD") == backup and git(ws, "symbolic-ref", "HEAD") == f"refs/heads/{s.branch}"
        assert git(ws, "status", "--porcelain") == ""
        assert [r["state"] for r in restarted.store.rebases(s.id)] == ["undone"]
        assert any(e.kind == "rebase_recovered" for e in restarted.events(s.id))
    finally:
        restarted.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_merge_train_merges_ready_prs_in_a_working_order_and_survives_a_restart(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Four approved, green PRs: three independent, one (`late`) conflicting with `first`. The train
    merges the three one at a time, each rebased onto main as the one before left it, its CI run
    again and its approval carried over ao's own rebase; `late` conflicts after `first` merged, leaves
    the train and goes back to its agent. The engine is stopped after the first merge and a new one
    carries on from the store."""
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    options = {"rebase": "off", "scm": {"plugin": "local", "ci": [f"{sys.executable} -c pass"]}}
    engine = standin_engine(git_repo, "tr", standin, monkeypatch, **options)
    assert engine.start(leader_loop)
    config = str(git_repo.parent / "ao.config.yaml")
    try:
        made = {}
        for name, path, text in (("first", "app.py", APP.replace("return w * h", "return w * h  # first")),
                                 ("second", "b.txt", "b\n"), ("third", "c.txt", "c\n"),
                                 ("late", "app.py", APP.replace("return w * h", "return (w * h)"))):
            s = engine.spawn(prompt=f"Do {name}.")
            _idle(engine, standin, s.id)
            _commit(Path(s.workspace), path, text, name)
            engine.open_pr(s.id)
            wait_until(lambda s=s: (p := engine.refresh_pr(s.id)) is not None and p.ci.value == "passed", timeout=30)
            engine.approve(s.id)
            made[name] = s.id
        wait_until(lambda: all(engine.session(i).status is SessionStatus.MERGEABLE for i in made.values()), timeout=20)
        wait_until(lambda: engine.session(made["late"]).extra.get("conflicts"), timeout=20)
        assert cli_main(["merge", "--train", "--config", config]) == 0  # the TUI's engine drives it
        out = capsys.readouterr().out
        order = out.split("merge train: ", 1)[1].split(" (", 1)[0].split(" -> ")
        # The two that conflict with nobody first; of the conflicting pair, the older PR first.
        assert order == [made["second"], made["third"], made["first"], made["late"]]
        wait_until(lambda: sum(r["state"] == "merged" for r in engine.store.train()) >= 1, timeout=60)
    finally:
        engine.stop()
    again = standin_engine(git_repo, "tr", standin, monkeypatch, **options)
    assert again.start(leader_loop)
    try:
        wait_until(lambda: not again.store.train(), timeout=90)  # finished and cleared
        statuses = {name: again.session(sid).status for name, sid in made.items()}
        merged = {n for n, st in statuses.items() if st is SessionStatus.MERGED}
        assert merged == {"first", "second", "third"}, statuses
        loser = "late"
        log = git(git_repo, "log", "--format=%s", "main")
        assert all(f"Do {n}." in log for n in merged)
        assert statuses[loser] is not SessionStatus.MERGED
        assert any("left the merge train" in str(e.data.get("reason", "")) for e in again.events(made[loser]))
        text = wait_until(lambda: next((t for t in _received(standin, made[loser]) if "no longer merges" in t), None),
                          timeout=20)
        assert "app.py" in text
        assert git(git_repo, "show", "main:b.txt") == "b" and git(git_repo, "show", "main:c.txt") == "c"
    finally:
        again.stop()


def test_a_rebase_never_runs_under_a_working_agent_nor_over_uncommitted_changes(
    git_repo: Path, ao_home: Path, tmp_path: Path
) -> None:
    from ao_tui.config import parse_config
    from ao_tui.models import Session
    from ao_tui.rebase import BUSY, DIRTY, FAILED, REBASED, Rebaser

    _repo_with_app(git_repo)
    config = parse_config(json.dumps({"projects": {"demo": {"repo": str(git_repo), "notifiers": []}}}),
                          str(tmp_path / "ao.config.yaml"))
    engine = Engine(config)
    ws = tmp_path / "ws"
    git(git_repo, "worktree", "add", "-q", "-b", "ao/s-1", str(ws), "main")
    before = _commit(ws, "NOTES.md", "notes\n", "notes")
    engine.store.insert_session(Session(id="s-1", project="demo", branch="ao/s-1", workspace=str(ws)))
    engine.store.transition("s-1", SessionStatus.WORKING, activity=Activity(state=ActivityState.WORKING, source="hook"))
    onto = _commit(git_repo, "MAIN.md", "main\n", "main moves")
    rebaser = Rebaser(engine)
    assert rebaser.rebase("s-1", onto).state == BUSY
    engine.store.transition("s-1", SessionStatus.IDLE, activity=Activity(state=ActivityState.IDLE, source="hook"))
    (ws / "NOTES.md").write_text("edited, not committed\n")
    assert rebaser.rebase("s-1", onto).state == DIRTY
    assert git(ws, "rev-parse", "HEAD") == before and (ws / "NOTES.md").read_text() == "edited, not committed\n"
    assert engine.store.rebases("s-1") == [], "nothing journaled: nothing started"
    git(ws, "checkout", "--", "NOTES.md")
    # An untracked file main would overwrite: git refuses; that is a failure to report, not a conflict.
    (ws / "MAIN.md").write_text("mine, untracked\n")
    refused = rebaser.rebase("s-1", onto)
    assert refused.state == FAILED and "untracked" in refused.detail
    assert git(ws, "rev-parse", "HEAD") == before and (ws / "MAIN.md").read_text() == "mine, untracked\n"
    assert not mid_rebase(ws) and [r["state"] for r in engine.store.rebases("s-1")] == ["failed"]
    (ws / "MAIN.md").unlink()
    onto = _commit(git_repo, "MORE.md", "more\n", "main moves again")
    outcome = rebaser.rebase("s-1", onto)
    assert outcome.state == REBASED and _contains(git_repo, onto, "ao/s-1")
    assert git(git_repo, "rev-parse", backup_ref("s-1")) == before


def test_a_pr_whose_ci_fails_after_the_train_rebased_it_leaves_the_train_and_goes_back_to_its_agent(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two PRs green alone, red together (CI fails when both files exist): the first merges, the
    second is rebased onto it, its CI fails, and it leaves the train with the failure sent to its agent."""
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    check = "import pathlib, sys; sys.exit(1 if pathlib.Path('b.txt').exists() and pathlib.Path('c.txt').exists() else 0)"
    engine = standin_engine(git_repo, "tf", standin, monkeypatch, rebase="off",
                            scm={"plugin": "local", "ci": {"together": [sys.executable, "-c", check]}})
    assert engine.start(leader_loop)
    try:
        ids = []
        for path in ("b.txt", "c.txt"):
            s = engine.spawn(prompt=f"Add {path}.")
            _idle(engine, standin, s.id)
            _commit(Path(s.workspace), path, "x\n", f"add {path}")
            engine.open_pr(s.id)
            wait_until(lambda s=s: (p := engine.refresh_pr(s.id)) is not None and p.ci.value == "passed", timeout=30)
            engine.approve(s.id)
            ids.append(s.id)
        assert cli_main(["merge", "--train", *ids, "--config", str(git_repo.parent / "ao.config.yaml")]) == 0
        wait_until(lambda: {r["session_id"]: r["state"] for r in engine.store.train()} == {ids[0]: "merged", ids[1]: "left"}
                   or not engine.store.train(), timeout=60)
        assert engine.session(ids[0]).status is SessionStatus.MERGED
        # The train row says "left" a moment before the session's own event and status are written.
        wait_until(lambda: any("CI failed after the rebase" in str(e.data.get("reason", "")) for e in engine.events(ids[1])),
                   timeout=10, message=lambda: str([(e.kind, e.data) for e in engine.events(ids[1])][-5:]))
        assert engine.session(ids[1]).status is SessionStatus.CI_FAILED
        text = wait_until(lambda: next((t for t in _received(standin, ids[1]) if "CI failed" in t), None), timeout=20)
        assert "together" in text
    finally:
        engine.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill_9_in_the_middle_of_a_train_loses_nothing(
    git_repo: Path, ao_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ao merge --train` drives the train in its own process; it is killed with SIGKILL right after the
    first merge (the second PR is being rebased or its CI is running). A new engine finds the train in
    the store, undoes any rebase cut off, and merges the rest."""
    _repo_with_app(git_repo)
    standin = tmp_path / "standin"
    options = {"rebase": "off", "scm": {"plugin": "local", "ci": [f"{sys.executable} -c pass"]}}
    engine = standin_engine(git_repo, "k9", standin, monkeypatch, **options)
    ids = []
    for path in ("b.txt", "c.txt", "d.txt"):
        s = engine.spawn(prompt=f"Add {path}.")
        (standin / s.id).mkdir(parents=True, exist_ok=True)
        (standin / s.id / "release").write_text("")
        _commit(Path(s.workspace), path, "x\n", f"add {path}")
        engine.store.transition(s.id, SessionStatus.IDLE, activity=Activity(state=ActivityState.IDLE, source="hook"))
        engine.open_pr(s.id)
        wait_until(lambda s=s: (p := engine.refresh_pr(s.id)) is not None and p.ci.value == "passed", timeout=30)
        engine.approve(s.id)
        ids.append(s.id)
    engine.scm("demo").ci.wait_idle(30)
    config = str(git_repo.parent / "ao.config.yaml")
    child = subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "merge", "--train", *ids, "--config", config],
                             cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ}, start_new_session=True)
    try:
        wait_until(lambda: any(r["state"] == "merged" for r in engine.store.train()), timeout=60)
    finally:
        os.killpg(child.pid, 9)
        child.wait(timeout=10)
    states = {r["session_id"]: r["state"] for r in engine.store.train()}
    assert list(states.values()).count("merged") < 3, states
    again = standin_engine(git_repo, "k9", standin, monkeypatch, **options)
    assert again.start(leader_loop)
    try:
        wait_until(lambda: not again.store.train(), timeout=90)
        assert all(again.session(i).status is SessionStatus.MERGED for i in ids)
        assert all(git(git_repo, "show", f"main:{f}") == "x" for f in ("b.txt", "c.txt", "d.txt"))
        for i in ids:
            assert not mid_rebase(Path(again.session(i).workspace))
        assert not [r for r in again.store.rebases() if r["state"] == "started"]
    finally:
        again.stop()
