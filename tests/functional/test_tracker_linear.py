"""The ``linear`` tracker, selected through the registry as a config would, against the local fake Linear."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ao_tui import registry
from ao_tui.errors import AoError, NotFound, PluginError
from ao_tui.models import Task
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.tracker_linear import LinearError, LinearRateLimited, LinearTracker
from tests.support.github_server import guard_loopback_only
from tests.support.linear_server import FakeLinear

KEY = "lin_api_TEST_k3y_never_to_be_seen_0123456789"
HOSTILE = "Quote 'this' \"and\" $(touch /tmp/pwned-linear) `id`; rm -rf ~\n} mutation { x }\n<b>**bold**</b> \x1b[31m"
ROOT = Path(__file__).resolve().parents[2]
STAND_IN = ROOT / "tests" / "support" / "stand_in_agent.py"


@pytest.fixture
def linear(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLinear]:
    seen = guard_loopback_only(monkeypatch)
    monkeypatch.setenv("LINEAR_API_KEY", KEY)
    with FakeLinear(key=KEY) as fake:
        fake.add_team("ENG", "Engineering")
        fake.add_team("OPS", "Operations")
        yield fake
    assert all(r.host.startswith("127.0.0.1:") for r in fake.requests)
    assert all(a[0] == "127.0.0.1" for a in seen if isinstance(a, tuple))


def tracker(fake: FakeLinear, tmp_path: Path, **options: Any) -> LinearTracker:
    """Through the entry point, exactly as ``tracker: {plugin: linear, ...}`` selects it."""
    made = registry.create("tracker", "linear", PluginContext(ao_home=tmp_path),
                           **{"team": "ENG", "api_url": fake.url, **options})
    assert isinstance(made, LinearTracker) and made.name == "linear"
    return made


def test_ao_plugins_lists_linear(capsys: pytest.CaptureFixture[str]) -> None:
    from ao_tui.cli import main

    assert main(["plugins"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("tracker"))
    assert "linear" in line.split(None, 1)[1].replace(",", " ").split()


def test_backlog_is_the_team_issues_in_backlog_states(linear: FakeLinear, tmp_path: Path) -> None:
    todo = linear.add_issue("ENG", "Add a greeting", "Write hello.txt.", labels=["ao", "small"])
    later = linear.add_issue("ENG", "Someday", None, state="Backlog")
    working = linear.add_issue("ENG", "Being done", state="In Progress")
    done = linear.add_issue("ENG", "Old work", state="Done")
    dropped = linear.add_issue("ENG", "Dropped", state="Canceled")
    urgent = linear.add_issue("ENG", "Fix prod", priority=1)
    linear.add_issue("OPS", "Another team's")

    t = tracker(linear, tmp_path)
    tasks = t.list_tasks()
    assert [(x.id, x.status) for x in tasks] == [(urgent, "open"), (todo, "open"), (later, "open"),
                                                 (working, "in_progress")]  # urgent first, then oldest
    first = tasks[1]
    assert (first.title, first.body, first.labels) == ("Add a greeting", "Write hello.txt.", ["ao", "small"])
    assert first.url == f"https://linear.invalid/acme/issue/{todo}/add-a-greeting"
    assert tasks[2].body == ""  # Linear's null description
    everything = {x.id: x.status for x in t.list_tasks(include_done=True)}
    assert everything[done] == everything[dropped] == "done" and len(everything) == 6
    assert linear.operations() == ["AoTeam", "AoIssues", "AoIssues"]  # the team is looked up once


def test_label_and_state_filters(linear: FakeLinear, tmp_path: Path) -> None:
    tagged = linear.add_issue("ENG", "For agents", labels=["ao"])
    linear.add_issue("ENG", "For humans", labels=["design"])
    queued = linear.add_issue("ENG", "Queued for agents", state="Backlog", labels=["agents"])
    assert [x.id for x in tracker(linear, tmp_path, label="ao").list_tasks()] == [tagged]
    assert [x.id for x in tracker(linear, tmp_path, label=["ao", "agents"]).list_tasks()] == [tagged, queued]
    assert [x.id for x in tracker(linear, tmp_path, label="agents", state_types=["unstarted"]).list_tasks()] == []
    assert [x.id for x in tracker(linear, tmp_path, states=["Backlog"]).list_tasks()] == [queued]
    sent = [r.variables["filter"] for r in linear.requests if r.operation == "AoIssues"]
    assert sent[0]["labels"] == {"some": {"name": {"in": ["ao"]}}}


def test_a_backlog_longer_than_one_page_is_read_whole(linear: FakeLinear, tmp_path: Path) -> None:
    for i in range(130):
        linear.add_issue("ENG", f"Task {i}")
    assert [x.title for x in tracker(linear, tmp_path).list_tasks()] == [f"Task {i}" for i in range(130)]
    pages = [r.variables for r in linear.requests if r.operation == "AoIssues"]
    assert len(pages) == 2 and pages[0]["after"] is None and pages[1]["after"]


def test_get_task_by_identifier(linear: FakeLinear, tmp_path: Path) -> None:
    ident = linear.add_issue("ENG", "Add a greeting", "Body")
    t = tracker(linear, tmp_path)
    assert t.get_task(ident).title == "Add a greeting"
    assert t.get_task(ident.lower()).id == ident
    with pytest.raises(NotFound, match="no Linear issue ENG-404"):
        t.get_task("ENG-404")
    before = len(linear.requests)
    for bad in ("12", "#3", 'ENG-1") { viewer { id } } #', "ENG-1 OR 1=1"):
        with pytest.raises(NotFound, match="not a Linear issue identifier"):
            t.get_task(bad)
    assert len(linear.requests) == before  # refused before any request


def test_session_life_moves_the_issue_and_comments(linear: FakeLinear, tmp_path: Path) -> None:
    ident = linear.add_issue("ENG", "Add a greeting")
    t = tracker(linear, tmp_path)
    task = t.get_task(ident)

    t.set_status(task.id, "in_progress")
    t.on_session_started(task, "ao-3", "ao/ao-3")
    assert linear.state_of(ident) == ("In Progress", "started")
    assert linear.comments_on(ident) == ["ao session ao-3 started on branch `ao/ao-3`."]
    assert t.get_task(ident).status == "in_progress"
    assert [x.status for x in t.list_tasks()] == ["in_progress"]

    t.set_status(task.id, "done")
    t.on_merged(task, "ao-3", "https://github.invalid/acme/widgets/pull/9")
    assert linear.state_of(ident) == ("Done", "completed")
    assert linear.comments_on(ident)[-1] == "Merged in https://github.invalid/acme/widgets/pull/9 (ao session ao-3)."
    assert [r.operation for r in linear.requests].count("AoIssueUpdate") == 2  # on_merged found it done
    assert t.list_tasks() == []

    t.set_status(task.id, "open")  # given back: ready again
    assert linear.state_of(ident) == ("Todo", "unstarted")
    with pytest.raises(AoError, match="unknown task status"):
        t.set_status(task.id, "blocked")


def test_on_merged_completes_an_issue_left_open_and_named_states(linear: FakeLinear, tmp_path: Path) -> None:
    ident = linear.add_issue("ENG", "Fix it")
    tracker(linear, tmp_path).on_merged(Task(id=ident, title="Fix it"), "ao-1", "https://github.invalid/pr/1")
    assert linear.state_of(ident) == ("Done", "completed")

    other = linear.add_issue("ENG", "Review me", state="Backlog")
    named = tracker(linear, tmp_path, started_state="In Review", states=["Backlog"])
    named.set_status(other, "in_progress")
    assert linear.state_of(other) == ("In Review", "started")
    named.set_status(other, "open")
    assert linear.state_of(other) == ("Backlog", "backlog")
    with pytest.raises(PluginError, match="option `done_state`: the team has no workflow state named 'Shipped'"):
        tracker(linear, tmp_path, done_state="Shipped").set_status(other, "done")


def test_depends_on_lists_unfinished_blockers(linear: FakeLinear, tmp_path: Path) -> None:
    base = linear.add_issue("ENG", "Base")
    elsewhere = linear.add_issue("OPS", "Infra first")
    top = linear.add_issue("ENG", "On top")
    linear.block(base, top)
    linear.block(elsewhere, top)
    t = tracker(linear, tmp_path)
    assert sorted(t.get_task(top).depends_on) == sorted([base, elsewhere])
    linear.move(elsewhere, "Done")  # a finished blocker outside the backlog no longer holds it back
    assert t.get_task(top).depends_on == [base]


def test_create_task_and_hostile_text_travel_as_data(linear: FakeLinear, tmp_path: Path) -> None:
    linear.add_label("ao", "ENG")
    base = linear.add_issue("ENG", "Base")
    t = tracker(linear, tmp_path, label="ao")
    created = t.create_task(HOSTILE, HOSTILE + "\nbody", depends_on=[base], labels=["nonexistent"])
    issue = linear.issue(created.id)
    assert issue["title"] == HOSTILE.strip() and issue["description"] == HOSTILE + "\nbody"
    assert created.labels == ["ao"] and created.depends_on == [base]
    assert linear.state_of(created.id) == ("Todo", "unstarted")
    assert [x.title for x in t.list_tasks() if x.id == created.id] == [HOSTILE.strip()]
    t.on_session_started(created, HOSTILE, HOSTILE)
    assert linear.comments_on(created.id) == [f"ao session {HOSTILE} started on branch `{HOSTILE}`."]
    assert not Path("/tmp/pwned-linear").exists()
    # every value went as a variable: the query texts are a handful of constants holding none of it
    queries = {r.query for r in linear.requests}
    assert len(queries) == len({r.operation for r in linear.requests})
    assert not any(frag in q for q in queries for frag in ("pwned", "rm -rf", "bold", base, "ENG\"", KEY))
    with pytest.raises(AoError, match="needs a title"):
        t.create_task("  ")
    with pytest.raises(NotFound):
        t.create_task("Blocked by nothing", depends_on=["ENG-999"])
    assert not any(i["title"] == "Blocked by nothing" for i in linear.issues.values())


def test_option_errors_name_the_option(linear: FakeLinear, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"team": None}, "tracker linear: team: is required"),
        ({"team": "ENG; drop"}, "tracker linear: team: 'ENG; drop' is not a team key"),
        ({"lable": "ao"}, "tracker linear: lable: unknown option (did you mean label?)"),
        ({"label": 3}, "tracker linear: label: must be a name"),
        ({"state_types": ["started"]}, "tracker linear: state_types: takes triage, backlog, unstarted"),
        ({"states": [""]}, "tracker linear: states: must be a name"),
        ({"api_url": "file:///etc/passwd"}, "tracker linear: api_url: must be an http(s) URL"),
        ({"timeout": "soon"}, "tracker linear: timeout: not a duration: 'soon'"),
        ({"timeout": 0}, "tracker linear: timeout: must be more than 0s"),
        ({"started_state": 5}, "tracker linear: started_state: must be a workflow state name"),
    ]
    for options, message in cases:
        with pytest.raises(PluginError) as caught:
            tracker(linear, tmp_path, **options)
        assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(PluginError, match="option `team`: no Linear team with key 'NOPE'"):
        tracker(linear, tmp_path, team="nope").list_tasks()
    assert linear.operations() == ["AoTeam"]


def test_missing_or_unusable_key_is_one_clear_line(linear: FakeLinear, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    t = tracker(linear, tmp_path)  # creating the plugin needs no key: `ao plugins`, config checks
    monkeypatch.delenv("LINEAR_API_KEY")
    with pytest.raises(LinearError, match="set LINEAR_API_KEY to a Linear API key") as caught:
        t.list_tasks()
    assert "\n" not in str(caught.value)
    monkeypatch.setenv("LINEAR_API_KEY", KEY + "\nX-Injected: 1")
    with pytest.raises(LinearError, match="LINEAR_API_KEY holds characters an HTTP header cannot carry") as caught:
        t.list_tasks()
    assert KEY not in _everything(caught.value)
    assert linear.requests == []
    monkeypatch.setenv("LINEAR_API_KEY", "lin_api_wrong")
    with pytest.raises(LinearError, match="Linear refused the key in LINEAR_API_KEY"):
        t.list_tasks()


@pytest.mark.parametrize("status", [429, 400])
def test_rate_limit_names_the_reset_and_waits_for_nothing(linear: FakeLinear, tmp_path: Path, status: int) -> None:
    from datetime import datetime

    ident = linear.add_issue("ENG", "One")
    t = tracker(linear, tmp_path)
    reset = linear.rate_limit(status=status, reset_in=600)
    with pytest.raises(LinearRateLimited) as caught:
        t.get_task(ident)
    assert str(caught.value) == f"Linear rate limit: resets at {datetime.fromtimestamp(reset).strftime('%H:%M:%S')}"
    sent = len(linear.requests)
    with pytest.raises(LinearRateLimited):
        t.list_tasks()  # known to be spent: refused at once, no request
    assert len(linear.requests) == sent
    t.clock = lambda: reset + 1
    assert t.get_task(ident).title == "One"


def test_http_and_graphql_errors_are_one_line(linear: FakeLinear, tmp_path: Path) -> None:
    t = tracker(linear, tmp_path)
    linear.fail_next("Something broke\non two lines", code="INTERNAL_SERVER_ERROR")
    with pytest.raises(LinearError, match="^Linear: reading team ENG failed: Something broke on two lines$"):
        t.list_tasks()
    linear.fail_next(status=502, raw=b"<html><h1>502 Bad Gateway</h1></html>")
    with pytest.raises(LinearError, match="^Linear: reading team ENG failed: HTTP 502$") as caught:
        t.list_tasks()
    assert caught.value.status == 502
    linear.fail_next(status=302, raw=b"", headers={"Location": linear.url.replace("/graphql", "/elsewhere")})
    sent = len(linear.requests)
    with pytest.raises(LinearError, match=r"HTTP 302 \(redirects are not followed\)"):
        t.list_tasks()
    assert len(linear.requests) == sent + 1  # the key went nowhere else
    unreachable = tracker(linear, tmp_path, api_url="http://127.0.0.1:9/graphql", timeout="2s")
    with pytest.raises(LinearError, match=r"cannot reach 127.0.0.1:9 \(Connection refused\)"):
        unreachable.list_tasks()


def _everything(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc.args)


def test_the_key_never_shows_in_errors_logs_or_files(linear: FakeLinear, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ident = linear.add_issue("ENG", "One")
    t = tracker(linear, tmp_path, label=["ao", "missing"])
    failures: list[BaseException] = []

    def attempt(call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 (collected for inspection)
            failures.append(exc)

    attempt(t.list_tasks)
    linear.fail_next("Invalid token {authorization} for this workspace", code="AUTHENTICATION_ERROR")
    attempt(t.list_tasks)
    linear.fail_next("no access with {authorization}", code="FORBIDDEN")
    attempt(lambda: t.get_task(ident))
    linear.rate_limit(status=429)
    attempt(lambda: t.set_status(ident, "in_progress"))
    t.clock = lambda: 2e10
    attempt(lambda: t.create_task("New"))  # the label "ao" is not in the team
    assert len(failures) == 4 and all(isinstance(e, AoError) for e in failures)
    assert "[LINEAR_API_KEY]" in str(failures[0])  # the echoed key was scrubbed
    for exc in failures:
        assert KEY not in _everything(exc)
        assert "\n" not in str(exc)
    assert any(r.name == "ao.tracker.linear" for r in caplog.records)
    for record in caplog.records:
        assert KEY not in record.getMessage() and KEY not in (record.exc_text or "")
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert all(r.authorized for r in linear.requests)


@pytest.fixture
def standin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "standin"
    path.mkdir()
    monkeypatch.setenv("AO_STANDIN_DIR", str(path))
    return path


def test_engine_spawn_takes_the_task_from_linear(linear: FakeLinear, git_repo: Path, ao_home: Path,
                                                 standin_dir: Path) -> None:
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from tests.support.waiting import wait_until

    ident = linear.add_issue("ENG", "Add a greeting", "Write hello.txt saying hi.", labels=["ao"])
    linear.add_issue("ENG", "Not for agents")
    (git_repo / "ao.config.yaml").write_text(
        "projects:\n"
        "  demo:\n"
        "    repo: .\n"
        "    session_prefix: dm\n"
        f"    tracker: {{plugin: linear, team: ENG, label: ao, api_url: {json.dumps(linear.url)}}}\n"
        "    agent:\n"
        f"      command: [{json.dumps(sys.executable)}, {json.dumps(str(STAND_IN))}]\n"
    )
    engine = Engine(load_config(str(git_repo / "ao.config.yaml")))
    assert [t.id for t in engine.backlog("demo")] == [ident]
    session = engine.spawn(task_id=ident)
    assert session.task_id == ident and session.task_title == "Add a greeting"
    prompt_file = standin_dir / session.id / "prompt.txt"
    prompt = wait_until(lambda: prompt_file.exists() and prompt_file.read_text())
    assert f"Task {ident}: Add a greeting" in prompt and "Write hello.txt saying hi." in prompt
    assert linear.state_of(ident) == ("In Progress", "started")
    assert linear.comments_on(ident) == [f"ao session {session.id} started on branch `{session.branch}`."]
    assert [t.status for t in engine.backlog("demo")] == ["in_progress"]
    engine.kill(session.id)
    for root in (ao_home, Path(session.workspace)):
        assert not [p for p in root.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
