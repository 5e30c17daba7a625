"""The orchestrator against the scripted Anthropic server, a real engine, tmux and git.

Each test scripts what the model says, runs the real turn loop (streaming,
tools over the engine, confirmations) and checks what the human relies on:
the message reached the right pane, a declined merge did nothing, a plan
became tasks and sessions, errors are one clear line, Esc stops, and the
conversation survives a restart.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import CheckState, PullRequest, ReviewState, Session, SessionStatus
from ao_tui.orchestrator import ChatError, ConfirmRequest, Orchestrator, ReplyReset, TextDelta, ToolDone
from ao_tui.orchestrator.autopilot import Autopilot, AutopilotReport
from ao_tui.orchestrator.client import ModelClient
from ao_tui.store import open_store
from tests.support.anthropic_server import AnthropicServer, error, overloaded, rate_limited, text, tool_use

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


#: The one Autopilot a leading loop owns, per engine (what it remembers carries from pass to pass).
_PILOTS: weakref.WeakKeyDictionary[Engine, Autopilot] = weakref.WeakKeyDictionary()


def run_autopilot(engine: Engine, *, force: bool = False) -> AutopilotReport:
    """One autopilot pass, as the leader's loop runs it."""
    return _PILOTS.setdefault(engine, Autopilot(engine)).run(force=force)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@pytest.fixture
def api(monkeypatch):
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-secret")
        yield server


@pytest.fixture
def engine(git_repo: Path, ao_home: Path) -> Engine:
    (git_repo / "ao.config.yaml").write_text(
        "projects:\n"
        "  demo:\n"
        "    repo: .\n"
        "    session_prefix: dm\n"
        "    agent:\n"
        f"      command: {json.dumps(SLEEPER)}\n"
        "orchestrator:\n"
        "  model: claude-test-model\n"
    )
    eng = Engine(load_config(str(git_repo / "ao.config.yaml")))
    yield eng
    eng.store.close()


def fast_client(engine: Engine, **kw) -> ModelClient:
    """The configured model with retries quick enough for a test."""
    opts = {"sdk_retries": 1, "attempts": 2, "backoff": 0.01, "timeout": 5.0, **kw}
    return ModelClient(engine.config.orchestrator.model, **opts)


def ask(orch: Orchestrator, text: str, on_event=None) -> str:
    """One turn in a fresh event loop, closing the HTTP client after it."""

    async def turn() -> str:
        try:
            return await orch.ask(text, on_event)
        finally:
            await orch.aclose()

    return asyncio.run(turn())


class Human:
    """Answers confirmations and remembers what it was shown."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow
        self.asked: list[ConfirmRequest] = []

    async def __call__(self, request: ConfirmRequest) -> bool:
        self.asked.append(request)
        return self.allow


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=10)


def test_tool_loop_lists_sessions_and_message_reaches_the_right_pane(api, engine, tmux_socket, tmp_path):
    # Two agents in tmux: line-reading programs that append what they get to their own file.
    outputs = {}
    for sid in ("dm-1", "dm-2"):
        out = tmp_path / f"{sid}.txt"
        outputs[sid] = out
        reader = f"import sys\nfor line in sys.stdin:\n    open({str(out)!r}, 'a').write(line)\n"
        assert tmux(tmux_socket, "new-session", "-d", "-s", sid, "-x", "120", "-y", "30",
                    sys.executable, "-c", reader).returncode == 0
        session = Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=str(tmp_path),
                          runtime="tmux", runtime_handle=sid, task_title=f"task of {sid}")
        engine.store.insert_session(session)
        engine.store.transition(sid, SessionStatus.WORKING)
    api.script.on_prompt("tell the cache agent", text("Let me look.") + tool_use("list_sessions", {}, id="toolu_ls"))
    api.script.on_tool_result("toolu_ls", tool_use(
        "send_message", {"session_id": "dm-2", "text": "Use the LRU cache from utils, not a new one."}, id="toolu_send"))
    api.script.on_tool_result("toolu_send", text("Told **dm-2** to reuse the LRU cache."))

    orch = Orchestrator(engine, Human(False), client=fast_client(engine))
    seen = []
    answer = ask(orch, "tell the cache agent to reuse the LRU cache", seen.append)

    sent = [e for e in seen if isinstance(e, ToolDone) and e.name == "send_message"]
    assert sent and not sent[0].outcome.is_error, sent and sent[0].outcome.text
    assert answer == "Told **dm-2** to reuse the LRU cache."
    assert wait_until(lambda: outputs["dm-2"].exists() and outputs["dm-2"].read_text()) == \
        "Use the LRU cache from utils, not a new one.\n"
    assert not outputs["dm-1"].exists()
    # The model saw the fleet: list_sessions' result named both sessions.
    listed = api.main_requests[1].tool_results[0]
    assert "dm-1" in str(listed["content"]) and "dm-2" in str(listed["content"])
    # Every request carried the compact fleet summary and the configured model.
    assert all("dm-2 [working]" in r.system_text for r in api.main_requests)
    assert {r["model"] for r in api.main_requests} == {"claude-test-model"}
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)).startswith("Let me look.")
    assert api.script.pending() == [] and api.script.unmatched == []


def test_merge_asks_first_and_does_nothing_when_declined(api, engine):
    pr = PullRequest(number=12, url="local://12", title="Add cache", branch="ao/dm-1", base="main",
                     ci=CheckState.PASSED, review=ReviewState.APPROVED)
    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", task_title="Add cache"))
    for status in (SessionStatus.WORKING, SessionStatus.PR_OPEN, SessionStatus.MERGEABLE):
        engine.store.transition("dm-1", status, pr=pr)
    api.script.on_prompt("merge", tool_use("merge", {"session_id": "dm-1", "method": "squash"}, id="toolu_m"))
    api.script.on_tool_result("toolu_m", text("Understood, I left PR #12 alone."), contains="declined by the human")

    human = Human(False)
    orch = Orchestrator(engine, human, client=fast_client(engine))
    events = []
    ask(orch, "merge dm-1 please", events.append)

    [request] = human.asked
    assert request.action == "merge" and "#12" in request.title
    assert "merge PR #12 'Add cache'" in request.details[0]
    assert request.details[1] == "ao/dm-1 into main of demo by squash"
    [done] = [e for e in events if isinstance(e, ToolDone)]
    assert done.outcome.declined
    assert engine.session("dm-1").status is SessionStatus.MERGEABLE
    assert engine.session("dm-1").merged_at is None
    assert api.script.pending() == []


def test_plan_of_three_tasks_spawns_two_at_once_and_the_third_after_they_merge(api, engine, tmux_socket):
    plan = {
        "goal": "Export reports as CSV",
        "tasks": [
            {"key": "model", "title": "Report rows as a dataclass", "body": "In reports/model.py"},
            {"key": "csv", "title": "CSV writer", "body": "In reports/csv.py"},
            {"key": "cli", "title": "ao report --csv", "depends_on": ["model", "csv"]},
        ],
    }
    api.script.on_prompt("CSV", text("Here is a plan.") + tool_use("propose_plan", plan, id="toolu_plan"))
    api.script.on_tool_result("toolu_plan", text("Two agents started; the CLI waits for both."))

    human = Human(True)
    orch = Orchestrator(engine, human, client=fast_client(engine))
    ask(orch, "Build CSV export for reports")

    [request] = human.asked
    assert request.action == "plan"
    assert any("[cli] ao report --csv — after model, csv" in line for line in request.details)
    tasks = {t.title: t for t in engine.backlog("demo")}
    assert set(tasks) == {"Report rows as a dataclass", "CSV writer", "ao report --csv"}
    cli = tasks["ao report --csv"]
    assert set(cli.depends_on) == {tasks["Report rows as a dataclass"].id, tasks["CSV writer"].id}
    sessions = engine.sessions("demo")
    assert sorted(s.task_id for s in sessions) == sorted([tasks["Report rows as a dataclass"].id, tasks["CSV writer"].id])
    assert all(s.status is SessionStatus.WORKING for s in sessions)
    panes = tmux(tmux_socket, "list-sessions", "-F", "#{session_name}").stdout.split()
    assert sorted(panes) == sorted(s.runtime_handle for s in sessions)
    result = api.main_requests[-1].tool_results[0]
    assert "spawned" in str(result["content"]) and cli.id in str(result["content"])

    # Nothing more starts while the dependencies are open, and nothing twice.
    assert run_autopilot(engine, force=True).released == []
    tracker = engine.tracker("demo")
    for s in sessions:
        tracker.set_status(s.task_id, "done")  # what engine.merge does when a PR merges
    released = run_autopilot(engine, force=True).released
    assert [s.task_id for s in released] == [cli.id]
    assert run_autopilot(engine, force=True).released == []
    assert len(engine.sessions("demo")) == 3


@pytest.mark.parametrize("reply,line,requests", [
    (rate_limited(0.01), "rate limiting this key (429)", 4),
    (error(500, "api_error", "Internal server error", retry_after=0.01), "server error (500)", 4),
    (overloaded(0.01), "overloaded (529)", 4),
    # An error event inside a stream is beyond the SDK's retries: only ours apply.
    (error(529, "overloaded_error", "Overloaded", mid_stream=True), "overloaded (529)", 2),
])
def test_api_errors_are_retried_then_reported_in_one_line(api, engine, reply, line, requests):
    api.script.on_prompt("status?", reply, times=None)
    orch = Orchestrator(engine, client=fast_client(engine))
    events = []
    with pytest.raises(ChatError) as caught:
        ask(orch, "status?", events.append)
    message = str(caught.value)
    assert line in message and "\n" not in message
    assert len(api.main_requests) == requests  # the SDK's retry, then ours, each retried by the SDK
    assert any(isinstance(e, ReplyReset) for e in events)
    # Nothing was stored: the human's text stays theirs to send again.
    assert orch.conversation.history() == []


def test_a_transient_error_is_retried_transparently(api, engine):
    api.script.on_prompt("status?", overloaded(0.01))
    api.script.on_prompt("status?", error(529, "overloaded_error", "Overloaded", mid_stream=True))
    api.script.on_prompt("status?", text("All quiet."))
    orch = Orchestrator(engine, client=fast_client(engine))
    assert ask(orch, "status?") == "All quiet."
    assert [m["role"] for m in orch.conversation.history()] == ["user", "assistant"]


def test_a_timeout_is_one_clear_line(api, engine):
    api.script.on_prompt("slow", text("too late").with_delay(12), times=None)
    orch = Orchestrator(engine, client=fast_client(engine, timeout=0.3, sdk_retries=0))
    started = time.monotonic()
    with pytest.raises(ChatError, match="did not answer in time"):
        ask(orch, "slow?")
    assert time.monotonic() - started < 10  # given up long before the answer (a loaded machine is slow)


def test_cancelling_a_reply_keeps_what_was_said_and_the_chat_goes_on(api, engine):
    long = " ".join(f"word{i}" for i in range(40))
    api.script.on_prompt("essay", text(long).slowly(0.15))
    api.script.on_prompt("short", text("Short answer."))
    orch = Orchestrator(engine, client=fast_client(engine))

    async def scenario() -> None:
        got: list[str] = []
        task = asyncio.ensure_future(orch.ask("write an essay", lambda e: got.append(e.text) if isinstance(e, TextDelta) else None))
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert got, "no text streamed"
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 1
        assert await orch.ask("now a short one") == "Short answer."
        await orch.aclose()

    asyncio.run(scenario())
    history = orch.conversation.history()
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    stopped = history[1]["content"][0]["text"]
    assert stopped.startswith("word0") and stopped.endswith("*(stopped)*") and "word39" not in stopped
    # The next request carried the stopped reply, so the model knows where it was cut.
    assert "*(stopped)*" in json.dumps(api.main_requests[-1].messages)


def test_a_restart_keeps_the_conversation(api, engine, git_repo):
    api.script.on_prompt("codename", text("Noted: the codename is **heron**."))
    api.script.on_prompt("which codename", text("It is heron."))
    first = Orchestrator(engine, client=fast_client(engine))
    ask(first, "the release codename is heron")
    engine.store.close()

    # A new process: new store connection, new engine, new orchestrator.
    again = Engine(load_config(str(git_repo / "ao.config.yaml")), store=open_store())
    second = Orchestrator(again, client=fast_client(again))
    assert [m["role"] for m in second.conversation.history()] == ["user", "assistant"]
    assert ask(second, "which codename did I give?") == "It is heron."
    sent = api.main_requests[-1].messages
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert "the release codename is heron" in json.dumps(sent[0])
    again.store.close()


def test_without_a_key_the_chat_says_how_to_set_it_up(engine, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    orch = Orchestrator(engine)
    with pytest.raises(ChatError, match="export ANTHROPIC_API_KEY=") as caught:
        ask(orch, "hello")
    assert "\n" not in str(caught.value)
    assert orch.conversation.history() == []


def test_drift_check_reports_and_autopilot_queues_the_correction(api, engine):
    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", prompt="Fix the date parser in dates.py",
                                        last_message="I am rewriting the logging framework first."))
    engine.store.transition("dm-1", SessionStatus.WORKING)
    api.script.add("drift check", lambda req: "Fix the date parser" in req.last_user_text,
                   tool_use("report_drift", {"on_track": False, "summary": "rewriting logging, not the parser",
                                             "correction": "Stop the logging rewrite; fix dates.py only."}),
                   times=2)
    from ao_tui.orchestrator.drift import check_drift

    async def both():
        client = fast_client(engine)
        try:
            proposed = await check_drift(engine, "dm-1", client)
            sent = await check_drift(engine, "dm-1", client, autopilot=True)
        finally:
            await client.aclose()
        return proposed, sent

    proposed, sent = asyncio.run(both())
    assert not proposed.on_track and proposed.correction == "Stop the logging rewrite; fix dates.py only."
    assert not proposed.sent and "Proposed correction" in proposed.text()
    request = api.main_requests[0]
    assert request["tool_choice"] == {"type": "tool", "name": "report_drift"}
    assert "I am rewriting the logging framework first." in request.last_user_text
    assert sent.sent
    assert [m["text"] for m in engine.store.pending_messages("dm-1")] == ["Stop the logging rewrite; fix dates.py only."]
    drift_events = [e for e in engine.events("dm-1") if e.kind == "drift"]
    assert [e.data["sent"] for e in drift_events] == [False, True]


def test_ao_chat_in_the_shell_streams_and_asks_y_n(api, engine, git_repo, ao_home):
    mergeable_pr = PullRequest(number=3, url="local://3", title="Docs", branch="ao/dm-1", base="main",
                               ci=CheckState.PASSED, review=ReviewState.APPROVED)
    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", task_title="Docs"))
    for status in (SessionStatus.WORKING, SessionStatus.PR_OPEN, SessionStatus.MERGEABLE):
        engine.store.transition("dm-1", status, pr=mergeable_pr)
    api.script.on_prompt("merge", text("Merging.") + tool_use("merge", {"session_id": "dm-1"}, id="toolu_m"))
    api.script.on_tool_result("toolu_m", text("Not merged, as you wish."))
    env = {**os.environ, "AO_CONFIG": str(git_repo / "ao.config.yaml")}
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "chat", "merge", "dm-1"], input="n\n", env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "Merging." in out.stdout and "Merge PR #3 of dm-1?" in out.stdout
    assert "ao/dm-1 into main of demo" in out.stdout
    assert "merge declined" in out.stdout and "Not merged, as you wish." in out.stdout
    assert engine.session("dm-1").status is SessionStatus.MERGEABLE
    # Without a key: one line on how to set it up, exit status 2.
    env.pop("ANTHROPIC_API_KEY")
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "chat", "hi"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and out.stderr.strip().startswith("The orchestrator needs an Anthropic API key")
    assert len(out.stderr.strip().splitlines()) == 1


def test_autopilot_keeps_n_sessions_busy_from_the_backlog(engine, git_repo, tmux_socket):
    (git_repo / "backlog.yaml").write_text(
        "- id: T-1\n  title: One\n- id: T-2\n  title: Two\n- id: T-3\n  title: Three\n"
        "- id: T-4\n  title: Four, after one\n  depends_on: [T-1]\n")
    config = engine.config
    config.orchestrator.autopilot_max_sessions = 2
    assert run_autopilot(engine).autopilot == []  # off by default
    config.projects["demo"].autopilot = True
    started = run_autopilot(engine).autopilot
    assert [s.task_id for s in started] == ["T-1", "T-2"]
    assert run_autopilot(engine).autopilot == []  # two busy: nothing more
    engine.kill(started[0].id)
    assert [s.task_id for s in run_autopilot(engine).autopilot] == ["T-3"]  # T-4 waits for T-1, T-1 is not redone
    assert sorted(s.task_id for s in engine.sessions("demo")) == ["T-1", "T-2", "T-3"]


def test_ao_autopilot_turns_it_on_and_off_without_a_config_edit(engine, git_repo, tmux_socket):
    """`ao autopilot on` in a shell is what the running engine's next pass follows; `default` hands
    the say back to the config."""
    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n- id: T-2\n  title: Two\n")
    engine.config.orchestrator.autopilot_max_sessions = 1
    config = str(git_repo / "ao.config.yaml")
    with open(config, "a") as f:  # as the engine has it: the command says so
        f.write("  autopilot_max_sessions: 1\n")

    def ao(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", config, "autopilot", *args],
                              capture_output=True, text=True, timeout=60)

    assert ao().stdout.strip() == "demo: autopilot off (from the config)"
    assert run_autopilot(engine).autopilot == []
    out = ao("on")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("demo: autopilot on (set by `ao autopilot`; the config says off), "
                                  "keeps up to 1 session busy from the backlog")
    assert [s.task_id for s in run_autopilot(engine).autopilot] == ["T-1"]
    assert ao("off").stdout.strip() == "demo: autopilot off (set by `ao autopilot`; the config says off)"
    engine.kill(engine.sessions("demo")[0].id)
    assert run_autopilot(engine).autopilot == []  # off: the free slot stays free
    assert json.loads(ao("default", "--json").stdout) == [
        {"project": "demo", "on": False, "config": False, "set_by": "config", "max_sessions": 1}]
    wrong = ao("on", "--project", "nope")
    assert wrong.returncode == 3 and len(wrong.stderr.strip().splitlines()) == 1 and "nope" in wrong.stderr


def test_allowed_actions_skip_the_question(api, engine, tmux_socket):
    engine.config.orchestrator.allow_without_confirmation = ["kill"]
    session = engine.spawn("demo", prompt="sleep")
    api.script.on_prompt("stop", tool_use("kill", {"session_id": session.id, "reason": "not needed"}, id="toolu_k"))
    api.script.on_tool_result("toolu_k", text("Killed."))
    human = Human(False)
    ask(Orchestrator(engine, human, client=fast_client(engine)), f"stop {session.id}")
    assert human.asked == []
    assert engine.session(session.id).status is SessionStatus.KILLED
    assert session.runtime_handle not in tmux(tmux_socket, "list-sessions", "-F", "#{session_name}").stdout.split()


def test_periodic_drift_checks_run_in_the_background_when_enabled(api, engine):
    from datetime import timedelta

    from ao_tui.models import utcnow

    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", prompt="Fix the date parser",
                                        created_at=utcnow() - timedelta(minutes=5)))
    engine.store.transition("dm-1", SessionStatus.WORKING)
    api.script.add("drift", lambda req: "Fix the date parser" in req.last_user_text,
                   tool_use("report_drift", {"on_track": True, "summary": "editing dates.py"}), times=None)
    assert run_autopilot(engine, force=True).drift_started is False  # off by default
    engine.config.orchestrator.drift_check_minutes = 1
    assert run_autopilot(engine, force=True).drift_started is True
    events = wait_until(lambda: [e for e in engine.events("dm-1") if e.kind == "drift"])
    assert events[0].data == {"on_track": True, "summary": "editing dates.py", "correction": "", "sent": False}
    time.sleep(0.2)
    assert run_autopilot(engine, force=True).drift_started is False  # checked a moment ago: not due
    assert len(api.main_requests) == 1


def test_ao_chat_ctrl_c_stops_a_reply_then_leaves_at_the_prompt(api, engine, git_repo):
    import pty
    import select

    def read_until(fd: int, needle: bytes, timeout: float = 15) -> bytes:
        buf, end = b"", time.monotonic() + timeout
        while time.monotonic() < end and needle not in buf:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
        return buf

    api.script.on_prompt("essay", text(" ".join(f"w{i}" for i in range(100))).slowly(0.1))
    api.script.on_prompt("short", text("Short."))
    env = {**os.environ, "AO_CONFIG": str(git_repo / "ao.config.yaml")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: ao chat on a terminal
        os.execve(sys.executable, [sys.executable, "-m", "ao_tui.cli", "chat"], env)
    try:
        assert read_until(fd, b"you> ").endswith(b"you> ")
        os.write(fd, b"write an essay\r")
        assert b"w3 " in read_until(fd, b"w3 ")
        os.write(fd, b"\x03")
        assert b"(stopped)" in read_until(fd, b"you> ")
        os.write(fd, b"a short one\r")
        assert b"Short." in read_until(fd, b"you> ")
        os.write(fd, b"\x03")
        deadline = time.monotonic() + 5
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            read_until(fd, b"\x00", timeout=0.1)
        assert done[0] == pid, "ao chat did not leave on Ctrl-C at the prompt"
        assert os.waitstatus_to_exitcode(done[1]) == 0
    finally:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        except ChildProcessError:  # already reaped above
            pass
        os.close(fd)
    history = Orchestrator(engine).conversation.history()
    assert history[1]["content"][0]["text"].endswith("*(stopped)*")
    assert history[-1]["content"][0]["text"] == "Short."


def test_ci_logs_of_a_failed_check_reach_the_model(api, git_repo, ao_home, tmux_socket):
    failing = [sys.executable, "-c",
               "print('collected 3 items'); print('FAILED tests/test_clock.py::test_tick - AssertionError');"
               " raise SystemExit(1)"]
    (git_repo / "ao.config.yaml").write_text(
        "projects:\n  demo:\n    repo: .\n    session_prefix: dm\n"
        f"    agent:\n      command: {json.dumps(SLEEPER)}\n"
        f"    scm:\n      plugin: local\n      ci:\n        unit: {json.dumps(failing)}\n")
    engine = Engine(load_config(str(git_repo / "ao.config.yaml")))
    try:
        session = engine.spawn("demo", prompt="make the clock tick")
        workspace = Path(session.workspace)
        (workspace / "clock.py").write_text("TICK = 1\n")
        subprocess.run(["git", "add", "clock.py"], cwd=workspace, check=True, capture_output=True)
        subprocess.run(["git", "commit", "-qm", "clock"], cwd=workspace, check=True, capture_output=True)
        engine.open_pr(session.id)
        pr = wait_until(lambda: (p := engine.refresh_pr(session.id)) and p.ci is CheckState.FAILED and p, timeout=20)
        api.script.on_prompt("why", tool_use("ci_logs", {"session_id": session.id}, id="toolu_ci"))
        api.script.on_tool_result("toolu_ci", text("`test_tick` fails: the clock never ticks."),
                                  contains="FAILED tests/test_clock.py::test_tick")
        answer = ask(Orchestrator(engine, client=fast_client(engine)), f"why is {session.id} red?")
        assert answer == "`test_tick` fails: the clock never ticks."
        result = api.main_requests[-1].tool_results[0]
        assert str(result["content"]).startswith("check unit (failed)")
        assert pr.checks[0].name == "unit"
    finally:
        engine.stop()
        engine.store.close()


def test_session_detail_shows_the_last_screen_lines(engine, tmux_socket, tmp_path):
    from ao_tui.orchestrator.tools import ToolBox

    program = "print('Running tests: 41 passed, 1 failed'); print('Waiting for your answer?'); input()"
    assert tmux(tmux_socket, "new-session", "-d", "-s", "dm-1", "-x", "100", "-y", "20",
                sys.executable, "-c", program).returncode == 0
    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace=str(tmp_path),
                                        runtime_handle="dm-1", prompt="Fix the flaky test"))
    engine.store.transition("dm-1", SessionStatus.WORKING)
    wait_until(lambda: "Waiting for your answer?" in engine.peek("dm-1"))
    detail = asyncio.run(ToolBox(engine).dispatch("session_detail", {"session_id": "dm-1"}))
    assert not detail.is_error
    screen = detail.text.split("last screen lines:\n", 1)[1]
    assert screen.splitlines()[:2] == ["Running tests: 41 passed, 1 failed", "Waiting for your answer?"]
    assert "task prompt: Fix the flaky test" in detail.text


def test_a_plan_task_whose_spawn_fails_waits_and_starts_once_a_slot_frees(engine, tmux_socket):
    from ao_tui.orchestrator.decompose import apply_plan, parse_plan, waiting_tasks

    engine.config.projects["demo"].max_sessions = 1
    occupying = engine.spawn("demo", prompt="sleep")
    plan = parse_plan({"goal": "g", "tasks": [{"key": "a", "title": "A"}, {"key": "b", "title": "B",
                                                                           "depends_on": ["a"]}]}, "demo")
    result = apply_plan(engine, plan)
    a, b = result.tasks["a"].id, result.tasks["b"].id
    assert result.spawned == [] and "max_sessions" in result.errors[0] and "starts later" in result.errors[0]
    assert {w["task_id"] for w in waiting_tasks(engine)} == {a, b}
    assert run_autopilot(engine, force=True).released == []  # still full: nothing lost, nothing started
    assert {w["task_id"] for w in waiting_tasks(engine)} == {a, b}
    engine.kill(occupying.id)
    [started] = run_autopilot(engine, force=True).released
    assert started.task_id == a and [w["task_id"] for w in waiting_tasks(engine)] == [b]
    # b's dependency merges while the project is full again: b waits for the slot, then starts once.
    engine.tracker("demo").set_status(a, "done")
    assert run_autopilot(engine, force=True).released == [] and [w["task_id"] for w in waiting_tasks(engine)] == [b]
    engine.kill(started.id)
    assert [s.task_id for s in run_autopilot(engine, force=True).released] == [b]
    assert run_autopilot(engine, force=True).released == [] and waiting_tasks(engine) == []
    assert sorted(s.task_id or "" for s in engine.sessions("demo")) == sorted(["", a, b])


def test_a_waiting_task_whose_session_errors_at_start_is_not_spawned_again(engine, tmux_socket):
    from ao_tui.orchestrator.decompose import _update_waiting, waiting_tasks

    tracker = engine.tracker("demo")
    dep = tracker.create_task("Schema", "", [])
    task = tracker.create_task("API", "", [dep.id])
    _update_waiting(engine, lambda w: [*w, {"project": "demo", "task_id": task.id}])
    tracker.set_status(dep.id, "done")
    engine.config.projects["demo"].agent.command = ["/nonexistent/agent-program"]
    assert run_autopilot(engine, force=True).released == []
    [errored] = engine.sessions("demo")
    assert errored.task_id == task.id and errored.status is SessionStatus.ERRORED
    assert waiting_tasks(engine) == []  # the errored session is there to restore
    assert run_autopilot(engine, force=True).released == [] and len(engine.sessions("demo")) == 1


def test_autopilot_tries_a_failed_spawn_again_later(engine, git_repo, tmux_socket, monkeypatch):
    from ao_tui.errors import AoError
    from ao_tui.orchestrator import autopilot

    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n")
    engine.config.projects["demo"].autopilot = True
    real_spawn, calls = engine.spawn, []

    def flaky_spawn(*args, **kwargs):
        calls.append(kwargs.get("task_id"))
        if len(calls) == 1:
            raise AoError("the tracker is unreachable")
        return real_spawn(*args, **kwargs)

    monkeypatch.setattr(engine, "spawn", flaky_spawn)
    assert run_autopilot(engine).autopilot == []
    assert run_autopilot(engine).autopilot == [] and calls == ["T-1"]  # not retried on every pass
    monkeypatch.setattr(autopilot, "RECHECK_SECONDS", 0.0)
    assert [s.task_id for s in run_autopilot(engine).autopilot] == ["T-1"]
    assert run_autopilot(engine).autopilot == [] and [s.task_id for s in engine.sessions("demo")] == ["T-1"]


def test_autopilot_stays_within_the_projects_max_sessions(engine, git_repo, tmux_socket):
    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n- id: T-2\n  title: Two\n")
    engine.config.projects["demo"].autopilot = True
    engine.config.projects["demo"].max_sessions = 1
    assert [s.task_id for s in run_autopilot(engine).autopilot] == ["T-1"]
    assert run_autopilot(engine).autopilot == []
    assert all("T-2" not in c["key"] for c in engine.store.claims())  # T-2 was not tried, so not lost


def test_the_engine_ao_run_starts_runs_autopilot(engine, git_repo, tmux_socket):
    """The loop knows nothing of autopilot: `ao run` and ao-tui start it with the orchestrator's hooks."""
    from ao_tui.orchestrator.loop_hooks import leader_loop

    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n")
    engine.config.projects["demo"].autopilot = True
    assert engine.start(leader_loop)
    try:
        [started] = wait_until(lambda: engine.sessions("demo"), timeout=30)
        assert started.task_id == "T-1"
    finally:
        engine.stop()


def test_a_failing_autopilot_is_told_to_the_human_once_and_the_loop_goes_on(engine, git_repo, monkeypatch):
    from ao_tui.orchestrator import context
    from ao_tui.orchestrator.loop_hooks import leader_loop

    (git_repo / "backlog.yaml").write_text("- id: T-1\n  title: One\n")
    engine.config.projects["demo"].autopilot = True

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(context, "ready_tasks", broken)
    monkeypatch.setattr("ao_tui.orchestrator.autopilot.ready_tasks", broken)
    notices = []
    engine.subscribe_notifications(notices.append)
    loop = leader_loop(engine)
    loop._run_tick_hooks()
    loop._run_tick_hooks()  # the same failure on the next pass: not said again
    assert [n.title for n in notices] == ["autopilot failed: autopilot for demo: KeyError: 'a bug'"]
    assert notices[0].urgency == "critical"


def _pr_for_task(engine: Engine, task_id: str) -> Session:
    """A session on ``task_id`` with one commit and an open local PR."""
    s = engine.spawn("demo", task_id=task_id)
    ws = Path(s.workspace)
    (ws / f"{task_id}.txt").write_text(f"{task_id}\n")
    subprocess.run(["git", "add", f"{task_id}.txt"], cwd=ws, check=True, capture_output=True)
    subprocess.run(["git", "commit", "-qm", task_id], cwd=ws, check=True, capture_output=True)
    engine.open_pr(s.id)
    return engine.session(s.id)


def _count_tracker_closes(engine: Engine, monkeypatch) -> list[str]:
    tracker, closed = engine.tracker("demo"), []
    real = tracker.on_merged

    def on_merged(task, session_id, pr_url):
        closed.append(task.id)
        return real(task, session_id, pr_url)

    monkeypatch.setattr(tracker, "on_merged", on_merged)
    return closed


def test_a_pr_merged_outside_ao_marks_its_task_done_once_and_its_dependents_start(engine, git_repo, tmux_socket,
                                                                                   monkeypatch):
    from ao_tui.engine_loop import EngineLoop
    from ao_tui.orchestrator.decompose import _update_waiting

    tracker = engine.tracker("demo")
    schema = tracker.create_task("Schema", "", [])
    api_task = tracker.create_task("API", "", [schema.id])
    _update_waiting(engine, lambda w: [*w, {"project": "demo", "task_id": api_task.id}])
    s = _pr_for_task(engine, schema.id)
    loop = EngineLoop(engine)  # the engine loop, not started: its merged-by-polling path is driven by hand
    engine._loop = loop
    closed = _count_tracker_closes(engine, monkeypatch)
    subprocess.run(["git", "merge", "-q", "--ff-only", s.branch], cwd=git_repo, check=True, capture_output=True)

    engine.refresh_pr(s.id)  # a poll finds it merged
    assert engine.session(s.id).status is SessionStatus.MERGED
    assert tracker.get_task(schema.id).status == "done" and closed == [schema.id]
    loop._check_merged()  # seen again after a restart or by the periodic pass: not closed twice
    loop.on_merged(engine.session(s.id))
    assert closed == [schema.id]
    assert [s.task_id for s in run_autopilot(engine, force=True).released] == [api_task.id]


def test_a_merge_by_ao_closes_its_task_once_with_the_engine_loop_running(engine, git_repo, tmux_socket, monkeypatch):
    from ao_tui.engine_loop import EngineLoop

    task = engine.tracker("demo").create_task("Docs", "", [])
    s = _pr_for_task(engine, task.id)
    loop = EngineLoop(engine)
    engine._loop = loop
    closed = _count_tracker_closes(engine, monkeypatch)
    engine.merge(s.id, force=True)
    loop._check_merged()
    assert engine.tracker("demo").get_task(task.id).status == "done" and closed == [task.id]


def test_a_periodic_drift_proposal_notifies_once_and_reaches_triage_and_chat(api, engine):
    from datetime import timedelta

    from ao_tui.models import utcnow
    from ao_tui.orchestrator.context import fleet_summary, triage_markdown

    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", prompt="Fix the date parser",
                                        created_at=utcnow() - timedelta(minutes=5)))
    engine.store.transition("dm-1", SessionStatus.WORKING)
    api.script.add("drift", lambda req: "Fix the date parser" in req.last_user_text,
                   tool_use("report_drift", {"on_track": False, "summary": "rewriting logging",
                                             "correction": "Stop; fix dates.py only."}), times=None)
    notices = []
    engine.subscribe_notifications(notices.append)
    engine.config.orchestrator.drift_check_minutes = 1
    assert run_autopilot(engine, force=True).drift_started is True
    wait_until(lambda: notices)
    time.sleep(0.2)
    assert run_autopilot(engine, force=True).drift_started is False  # checked a moment ago
    [notice] = notices
    assert notice.title == "dm-1 drifted from its task" and notice.session_id == "dm-1"
    assert "Stop; fix dates.py only." in notice.body
    assert "Stop; fix dates.py only." in triage_markdown(engine)
    assert "dm-1 drifted" in fleet_summary(engine)
    assert engine.store.pending_messages("dm-1") == []  # proposed, not sent: autopilot is off
    # The chat's next request carries it, so the model can tell the human.
    api.script.on_prompt("anything new", text("dm-1 drifted; want me to send the correction?"))
    ask(Orchestrator(engine, client=fast_client(engine)), "anything new?")
    assert "Stop; fix dates.py only." in api.main_requests[-1].system_text


def test_a_failed_drift_check_is_recorded_and_retried_after_a_back_off(api, engine, monkeypatch):
    from datetime import timedelta

    from ao_tui.models import utcnow
    from ao_tui.orchestrator import drift
    from tests.support.anthropic_server import error

    engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace="/nonexistent",
                                        runtime_handle="dm-1", prompt="Fix the date parser",
                                        created_at=utcnow() - timedelta(minutes=60)))
    engine.store.transition("dm-1", SessionStatus.WORKING)
    api.script.add("refused", lambda req: "Fix the date parser" in req.last_user_text,
                   error(400, "invalid_request_error", "prompt is too long"), times=1)
    engine.config.orchestrator.drift_check_minutes = 30
    assert run_autopilot(engine, force=True).drift_started is True
    [failed] = wait_until(lambda: [e for e in engine.events("dm-1") if e.kind == "drift_failed"])
    assert "400" in failed.data["error"] or "too long" in failed.data["error"]
    assert "test-key-not-secret" not in failed.data["error"]
    time.sleep(0.2)
    requests = len(api.main_requests)
    assert run_autopilot(engine, force=True).drift_started is False  # not retried at once (was: every pass)
    assert len(api.main_requests) == requests
    # After the back-off it is tried again, and a good answer clears it.
    api.script.add("ok", lambda req: "Fix the date parser" in req.last_user_text,
                   tool_use("report_drift", {"on_track": True, "summary": "editing dates.py"}), times=1)
    monkeypatch.setattr(drift, "_retry_minutes", lambda failures, interval: 0.0)
    assert run_autopilot(engine, force=True).drift_started is True
    wait_until(lambda: [e for e in engine.events("dm-1") if e.kind == "drift"])
    assert drift.due_sessions(engine) == []


def test_spawns_split_over_several_calls_of_one_reply_still_ask_past_the_limit(api, engine, tmux_socket):
    engine.config.orchestrator.max_parallel_spawn = 2
    api.script.on_prompt("three agents", tool_use("spawn_sessions", {"sessions": [{"prompt": "a"}, {"prompt": "b"}]},
                                                  id="toolu_s1"))
    api.script.on_tool_result("toolu_s1", tool_use("spawn_sessions", {"sessions": [{"prompt": "c"}]}, id="toolu_s2"))
    api.script.on_tool_result("toolu_s2", text("Two started; you declined the third."), contains="declined")
    human = Human(False)
    ask(Orchestrator(engine, human, client=fast_client(engine)), "start three agents")
    [request] = human.asked
    assert request.action == "spawn_many" and "3 sessions at once" in request.title
    assert sorted(s.prompt for s in engine.sessions("demo")) == ["a", "b"]
    api.script.on_prompt("one more", tool_use("spawn_sessions", {"sessions": [{"prompt": "d"}]}, id="toolu_s3"))
    api.script.on_tool_result("toolu_s3", text("Started."))
    ask(Orchestrator(engine, human, client=fast_client(engine)), "one more please")  # a new reply: within the limit
    assert len(human.asked) == 1 and len(engine.sessions("demo")) == 3


def test_the_chats_fleet_summary_counts_the_history_it_does_not_read(engine):
    """Every request carries the fleet's state: the live sessions listed, every finished one counted
    (a month of them in the store)."""
    from ao_tui.orchestrator.context import fleet_summary

    for n in range(300):
        engine.store.insert_session(Session(id=f"dm-{n + 100}", project="demo", task_id=f"T-{n}",
                                            status=SessionStatus.DONE if n % 3 else SessionStatus.KILLED))
    engine.store.insert_session(Session(id="dm-1", project="demo", status=SessionStatus.MERGED))
    engine.store.insert_session(Session(id="dm-2", project="demo", status=SessionStatus.WORKING, task_title="Live one"))
    summary = fleet_summary(engine)
    assert "Sessions: 1 active (" in summary and "), 301 finished." in summary
    assert "dm-2" in summary and "dm-150" not in summary
