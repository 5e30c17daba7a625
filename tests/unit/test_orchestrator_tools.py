"""The orchestrator's tools, conversation, plans and triage, over a real engine and store."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.errors import AoError
from ao_tui.models import (
    Activity,
    ActivityState,
    Check,
    CheckState,
    PullRequest,
    ReviewComment,
    ReviewState,
    Session,
    SessionStatus,
)
from ao_tui.orchestrator.context import fleet_summary, triage, triage_markdown
from ao_tui.orchestrator.conversation import STOPPED_RESULT, Conversation, normalize, window
from ao_tui.orchestrator.decompose import parse_plan
from ao_tui.orchestrator.tools import TOOLS, ConfirmRequest, ToolBox


def make_engine(ao_store, repo: Path, extra: str = "") -> Engine:
    text = f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n" + extra
    return Engine(parse_config(text, "ao.config.yaml"), store=ao_store)


def add(engine: Engine, sid: str, status: SessionStatus = SessionStatus.WORKING, **fields) -> Session:
    s = Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=f"/tmp/{sid}", runtime_handle=sid, **fields)
    engine.store.insert_session(s)
    if status is not SessionStatus.SPAWNING:
        path = {SessionStatus.WORKING: [SessionStatus.WORKING],
                SessionStatus.NEEDS_INPUT: [SessionStatus.WORKING, SessionStatus.NEEDS_INPUT],
                SessionStatus.CI_FAILED: [SessionStatus.WORKING, SessionStatus.PR_OPEN, SessionStatus.CI_FAILED],
                SessionStatus.MERGEABLE: [SessionStatus.WORKING, SessionStatus.PR_OPEN, SessionStatus.MERGEABLE],
                SessionStatus.PR_OPEN: [SessionStatus.WORKING, SessionStatus.PR_OPEN]}[status]
        for step in path:
            engine.store.transition(sid, step)
    return engine.session(sid)


def pr(number: int, *, ci=CheckState.PASSED, review=ReviewState.APPROVED, failed: str | None = None) -> PullRequest:
    checks = [Check(name=failed, state=CheckState.FAILED)] if failed else [Check(name="tests", state=ci)]
    return PullRequest(number=number, url=f"local://pr/{number}", title=f"PR {number}", branch="b", base="main",
                       ci=CheckState.FAILED if failed else ci, review=review, checks=checks)


@pytest.fixture
def engine(ao_store, git_repo):
    return make_engine(ao_store, git_repo)


@pytest.fixture
def leading(ao_home):
    """The engine lock held, as a running `ao run` holds it: the stored activity is current then."""
    from ao_tui import leader

    fd = leader.try_lock()
    yield
    leader.unlock(fd)


class Asked:
    """A confirm callback that records what the human was shown."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.requests: list[ConfirmRequest] = []

    def __call__(self, request: ConfirmRequest) -> bool:
        self.requests.append(request)
        return self.answer


def test_tool_schemas_are_valid_for_the_api():
    names = [t["name"] for t in TOOLS]
    assert len(names) == len(set(names))
    for tool in TOOLS:
        assert tool["input_schema"]["type"] == "object"
        assert tool["description"]
    assert {"list_sessions", "session_detail", "backlog", "ci_logs", "review_comments", "spawn_sessions",
            "send_message", "create_tasks", "approve", "merge", "kill", "restore", "propose_plan"} <= set(names)


async def test_list_sessions_filters_and_hides_finished(engine):
    add(engine, "dm-1", SessionStatus.WORKING, task_title="Add login")
    add(engine, "dm-2", SessionStatus.CI_FAILED, task_title="Fix cache", pr=pr(7, failed="unit"))
    add(engine, "dm-3", SessionStatus.WORKING, task_title="Old thing")
    engine.store.transition("dm-3", SessionStatus.KILLED)
    box = ToolBox(engine)
    out = (await box.dispatch("list_sessions", {})).text
    assert "dm-1" in out and "dm-2" in out and "dm-3" not in out
    assert "PR #7" in out and "failed: unit" in out
    failing = (await box.dispatch("list_sessions", {"zone": "failing"})).text
    assert "dm-2" in failing and "dm-1" not in failing
    assert "dm-3" in (await box.dispatch("list_sessions", {"include_finished": True})).text
    assert "dm-2" in (await box.dispatch("list_sessions", {"query": "#7"})).text


async def test_merge_declined_asks_with_exact_details_and_does_nothing(engine):
    add(engine, "dm-1", SessionStatus.MERGEABLE, task_title="Ship it", pr=pr(12))
    asked = Asked(False)
    outcome = await ToolBox(engine, asked).dispatch("merge", {"session_id": "dm-1"})
    assert outcome.declined and "declined by the human" in outcome.text
    [request] = asked.requests
    assert request.action == "merge" and "#12" in request.title
    assert any("ao/dm-1 into main" in line for line in request.details)
    assert engine.session("dm-1").status is SessionStatus.MERGEABLE


async def test_merge_with_blockers_is_refused_before_asking(engine):
    add(engine, "dm-1", SessionStatus.CI_FAILED, pr=pr(3, failed="lint"))
    asked = Asked(True)
    outcome = await ToolBox(engine, asked).dispatch("merge", {"session_id": "dm-1"})
    assert outcome.is_error and "CI is failing" in outcome.text
    assert asked.requests == []


async def test_kill_declined_keeps_session(engine):
    add(engine, "dm-1", SessionStatus.WORKING)
    asked = Asked(False)
    outcome = await ToolBox(engine, asked).dispatch("kill", {"session_id": "dm-1"})
    assert outcome.declined and asked.requests[0].action == "kill"
    assert engine.session("dm-1").status is SessionStatus.WORKING


async def test_spawning_more_than_the_limit_asks_first(ao_store, git_repo):
    engine = make_engine(ao_store, git_repo, "orchestrator:\n  max_parallel_spawn: 2\n")
    asked = Asked(False)
    outcome = await ToolBox(engine, asked).dispatch(
        "spawn_sessions", {"sessions": [{"prompt": "a"}, {"prompt": "b"}, {"prompt": "c"}]})
    assert outcome.declined
    assert asked.requests[0].action == "spawn_many" and len(asked.requests[0].details) == 3
    assert engine.sessions() == []


async def test_errors_come_back_to_the_model_not_as_crashes(engine):
    box = ToolBox(engine)
    missing = await box.dispatch("session_detail", {"session_id": "dm-404"})
    assert missing.is_error and "no session" in missing.text
    unknown = await box.dispatch("format_disk", {})
    assert unknown.is_error and "unknown tool" in unknown.text
    bad = await box.dispatch("send_message", {"session_id": "dm-1"})
    assert bad.is_error and "bad arguments" in bad.text


async def test_review_comments_and_detail_without_a_terminal(engine):
    p = pr(5)
    p.comments = [
        ReviewComment(id="c1", author="ana", body="This leaks the token", path="auth.py", line=3),
        ReviewComment(id="c2", author="bo", body="nit", resolved=True),
    ]
    add(engine, "dm-1", SessionStatus.PR_OPEN, pr=p, last_message="Opened the PR.")
    box = ToolBox(engine)
    comments = (await box.dispatch("review_comments", {"session_id": "dm-1"})).text
    assert "auth.py:3" in comments and "leaks the token" in comments and "nit" not in comments
    detail = await box.dispatch("session_detail", {"session_id": "dm-1"})
    assert not detail.is_error
    assert "Opened the PR." in detail.text and "merge blockers" in detail.text


def test_conversation_normalizes_stopped_tool_calls(ao_store):
    conv = Conversation(ao_store, "t")
    conv.append("assistant", "orphan greeting is dropped")
    conv.append("user", "list them")
    conv.append("assistant", [{"type": "tool_use", "id": "tu1", "name": "list_sessions", "input": {}}])
    conv.append("user", "never mind")
    msgs = conv.messages()
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[2]["content"][0] == {"type": "tool_result", "tool_use_id": "tu1", "content": STOPPED_RESULT,
                                     "is_error": True}
    assert msgs[2]["content"][1]["text"] == "never mind"


def test_window_starts_at_a_plain_user_message():
    msgs = normalize([{"role": r, "content": f"m{i}"} for i, r in enumerate(["user", "assistant"] * 50)])
    cut = window(msgs, 7)
    assert cut[0]["role"] == "user" and len(cut) <= 7


def test_plan_validation():
    plan = parse_plan({"goal": "g", "tasks": [
        {"key": "ui", "title": "UI", "depends_on": ["api"]},
        {"key": "api", "title": "API"},
        {"key": "db", "title": "DB"},
    ]}, "demo")
    assert [t.key for t in plan.tasks] == ["api", "ui", "db"]
    assert [t.key for t in plan.independent()] == ["api", "db"]
    with pytest.raises(AoError, match="cycle"):
        parse_plan({"tasks": [{"key": "a", "title": "A", "depends_on": ["b"]},
                              {"key": "b", "title": "B", "depends_on": ["a"]}]}, "demo")
    with pytest.raises(AoError, match="unknown task 'zz'"):
        parse_plan({"tasks": [{"key": "a", "title": "A", "depends_on": ["zz"]}]}, "demo")


def test_summary_and_triage_say_what_matters(engine):
    add(engine, "dm-1", SessionStatus.CI_FAILED, task_title="Cache", pr=pr(1, failed="test_flaky_clock"))
    s2 = add(engine, "dm-2", SessionStatus.CI_FAILED, task_title="Login", pr=pr(2, failed="test_flaky_clock"))
    assert s2.branch != "ao/dm-1"
    add(engine, "dm-3", SessionStatus.MERGEABLE, task_title="Docs", pr=pr(3))
    add(engine, "dm-4", SessionStatus.WORKING, task_title="Search", agent_session_id="6f1c2a9e-1111-4c1e-9d1a-1a2b3c4d5e6f")
    # No engine runs: what dm-4 does is read from its hooks' file (the store says working).
    events = engine.events_file("dm-4")
    events.parent.mkdir(parents=True, exist_ok=True)
    events.write_text(json.dumps({"hook_event_name": "PermissionRequest", "session_id": "dm-4", "at": time.time(),
                                  "tool_name": "Write", "tool_input": {"file_path": "search.py"}}) + "\n")
    summary = fleet_summary(engine)
    assert "test_flaky_clock" in summary and "2 unrelated branches" in summary
    order = [item.session_id for item in triage(engine)]
    assert order == ["dm-4", "dm-3", "dm-1", "dm-2"]
    text = triage_markdown(engine)
    assert "waiting for permission: Write search.py" in text and "merge it" in text


def test_no_anthropic_import_until_used():
    import subprocess

    code = ("import sys, ao_tui.orchestrator, ao_tui.orchestrator.cli, ao_tui.orchestrator.autopilot;"
            "print('anthropic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_pr_that_blocks_others_is_said_so_and_ranks_first(engine, git_repo):
    (git_repo / "backlog.yaml").write_text(
        "- id: T-1\n  title: Schema\n- id: T-2\n  title: API\n  depends_on: [T-1]\n"
        "- id: T-3\n  title: UI\n  depends_on: [T-1]\n- id: T-4\n  title: Docs\n")
    add(engine, "dm-1", SessionStatus.PR_OPEN, task_id="T-4", task_title="Docs", pr=pr(4, review=ReviewState.PENDING))
    add(engine, "dm-2", SessionStatus.PR_OPEN, task_id="T-1", task_title="Schema", pr=pr(9, review=ReviewState.PENDING))
    summary = fleet_summary(engine)
    assert "PR #9 (dm-2) blocks 2 other tasks: T-2, T-3" in summary
    assert "Backlog demo: 4 open, 0 ready to start" in summary
    items = triage(engine)
    assert [i.session_id for i in items] == ["dm-2", "dm-1"]
    assert items[0].why.endswith("it blocks other tasks")


def test_triage_shows_hostile_titles_as_text(engine, leading):
    add(engine, "dm-1", SessionStatus.NEEDS_INPUT, task_title="[click](http://evil) **bold** \x1b[2J",
        activity=Activity(state=ActivityState.WAITING_INPUT, detail="`rm -rf ~`?"))
    text = triage_markdown(engine)
    assert "\x1b" not in text
    assert r"\[click\]\(http://evil\) \*\*bold\*\*" in text and r"\`rm -rf \~\`?" in text


def test_a_pending_drift_proposal_is_in_the_triage_and_the_fleet_summary(engine):
    from ao_tui.models import Event

    def drift(sid: str, **data) -> None:
        engine.store.add_event(Event(session_id=sid, kind="drift", data={
            "on_track": False, "summary": "rewriting logging", "correction": "Fix dates.py only.", "sent": False,
            **data}))

    add(engine, "dm-1", SessionStatus.WORKING, task_title="Date parser")
    add(engine, "dm-2", SessionStatus.WORKING, task_title="Sent by autopilot")
    add(engine, "dm-3", SessionStatus.WORKING, task_title="Back on track")
    add(engine, "dm-4", SessionStatus.WORKING, task_title="Human stepped in")
    add(engine, "dm-5", SessionStatus.MERGEABLE, task_title="Docs", pr=pr(5))
    drift("dm-1")
    drift("dm-2", sent=True)
    drift("dm-3")
    drift("dm-3", on_track=True, correction="")
    drift("dm-4")
    engine.store.add_event(Event(session_id="dm-4", kind="message", data={"from": "human", "chars": 9}))
    items = triage(engine)
    assert [i.session_id for i in items] == ["dm-1", "dm-5"]
    assert items[0].why == "drifted from its task: rewriting logging"
    assert items[0].action == 'send it the proposed correction: "Fix dates.py only."'
    assert "Fix dates.py only." in triage_markdown(engine)
    summary = fleet_summary(engine)
    assert "Drift proposals" in summary and "dm-1 drifted" in summary and "'Fix dates.py only.'" in summary
    assert "dm-2 drifted" not in summary and "dm-3 drifted" not in summary and "dm-4 drifted" not in summary


async def test_the_spawn_limit_counts_every_spawn_of_one_reply(ao_store, git_repo):
    engine = make_engine(ao_store, git_repo, "orchestrator:\n  max_parallel_spawn: 2\n")
    spawned: list[str] = []

    def fake_spawn(project=None, task_id=None, prompt=None, agent=None):
        spawned.append(prompt)
        return Session(id=f"dm-{len(spawned)}", project="demo", prompt=prompt or "")

    engine.spawn = fake_spawn  # type: ignore[method-assign]
    asked = Asked(False)
    box = ToolBox(engine, asked)
    box.new_reply()
    assert not (await box.dispatch("spawn_sessions", {"sessions": [{"prompt": "a"}, {"prompt": "b"}]})).declined
    outcome = await box.dispatch("spawn_sessions", {"sessions": [{"prompt": "c"}]})
    assert outcome.declined and spawned == ["a", "b"]
    [request] = asked.requests
    assert request.action == "spawn_many" and "3 sessions" in request.title and "2 already" in request.title
    asked.answer = True
    assert not (await box.dispatch("spawn_sessions", {"sessions": [{"prompt": "c"}]})).declined
    assert spawned == ["a", "b", "c"] and len(asked.requests) == 2
    box.new_reply()  # the human's next message: a fresh allowance
    assert not (await box.dispatch("spawn_sessions", {"sessions": [{"prompt": "d"}]})).declined
    assert len(asked.requests) == 2


async def test_the_orchestrator_picks_an_agent_per_session(ao_store, git_repo):
    engine = make_engine(ao_store, git_repo, "")
    calls: list[tuple[str | None, str | None]] = []

    def fake_spawn(project=None, task_id=None, prompt=None, agent=None):
        calls.append((prompt, agent))
        return Session(id=f"dm-{len(calls)}", project="demo", prompt=prompt or "", agent=agent or "claude-code")

    engine.spawn = fake_spawn  # type: ignore[method-assign]
    outcome = await ToolBox(engine).dispatch(
        "spawn_sessions", {"sessions": [{"prompt": "a", "agent": "codex"}, {"prompt": "b"}]})
    assert calls == [("a", "codex"), ("b", None)]
    assert "dm-1 (a, codex)" in outcome.text and "dm-2 (b, claude-code)" in outcome.text
