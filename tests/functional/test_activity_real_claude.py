"""Activity detection on the real Claude Code CLI in tmux, against the scripted API server.

ao's hooks are installed by ClaudeCodeAgent.prepare_workspace (they run
``ao_tui.activity.hook``); an ActivityMonitor follows the hook events file and
the transcript. Each scenario checks that the monitor reports the state a
user sees on the screen, says which signal decided it, and is at most 500 ms
behind the screen (sampled every 50 ms by a poller thread, so the screen time
is itself up to 50 ms late).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ao_tui.activity.watcher import ActivityMonitor
from ao_tui.models import Activity, ActivityState
from ao_tui.slots.agent import LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.agent_claude_code import ClaudeCodeAgent
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, error, rate_limited, text, tool_use
from tests.support.claude_env import claude_env

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
]

BUDGET = 0.5  # seconds the monitor may lag what the screen shows


class Screens(threading.Thread):
    """Samples the pane (screen and title) every 50 ms; a gone pane is a ``None`` screen."""

    def __init__(self, socket: str, name: str) -> None:
        super().__init__(daemon=True)
        self.socket, self.name = socket, name
        self.frames: list[tuple[float, str | None, str]] = []
        self.stopping = threading.Event()

    def grab(self) -> tuple[str | None, str]:
        out = subprocess.run(
            ["tmux", "-L", self.socket, "capture-pane", "-p", "-t", self.name, ";",
             "display-message", "-p", "-t", self.name, "#{pane_title}"],
            capture_output=True, text=True, timeout=5,
        )
        if out.returncode != 0:
            return None, ""
        screen, _, title = out.stdout.rstrip("\n").rpartition("\n")
        return screen, title

    def run(self) -> None:
        while not self.stopping.is_set():
            t = time.monotonic()
            screen, title = self.grab()
            self.frames.append((t, screen, title))
            self.stopping.wait(0.05)

    def first(self, pred: Callable[[str | None, str], bool], after: float, timeout: float = 20) -> float:
        deadline = time.monotonic() + timeout
        while True:
            for t, screen, title in list(self.frames):
                if t >= after and pred(screen, title):
                    return t
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed it; last screen:\n{self.last()}")
            time.sleep(0.02)

    def last(self) -> str:
        return self.frames[-1][1] or "<no pane>" if self.frames else "<none>"


class Reports:
    """What the monitor reported for the session, with monotonic times."""

    def __init__(self) -> None:
        self.items: list[tuple[float, Activity]] = []
        self.cv = threading.Condition()

    def __call__(self, sid: str, act: Activity, state: object) -> None:
        with self.cv:
            self.items.append((time.monotonic(), act))
            self.cv.notify_all()

    def first(self, state: ActivityState, after: float, timeout: float = 30, detail: str = "") -> tuple[float, Activity]:
        """The first change into ``state`` reported after ``after`` (not a detail update within it);
        with ``detail``, the first report of ``state`` about it (a new question while one was open)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                prev = None
                for t, act in self.items:
                    if t >= after and act.state == state and (detail in act.detail if detail else prev != state):
                        return t, act
                    prev = act.state
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never reported {state}; reports: {self.summary(after)}")
                self.cv.wait(left)

    def summary(self, after: float = 0) -> list[tuple[float, str, str, str]]:
        return [(round(t - after, 3), a.state.value, a.source, a.detail[:50]) for t, a in self.items if t >= after]


class Session:
    def __init__(self, socket: str, spec: LaunchSpec, agent: ClaudeCodeAgent, monitor: ActivityMonitor,
                 reports: Reports, screens: Screens) -> None:
        self.socket, self.spec, self.agent = socket, spec, agent
        self.monitor, self.reports, self.screens = monitor, reports, screens
        self.lags: dict[str, float] = {}

    def type(self, text: str) -> None:
        """Type literally, wait for it to show, then submit (never a typed-but-unsent prompt)."""
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "act", "-l", text], check=True, timeout=5)
        deadline = time.monotonic() + 5
        while text[-12:] not in (self.screens.grab()[0] or "") and time.monotonic() < deadline:
            time.sleep(0.03)
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "act", "Enter"], check=True, timeout=5)

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", "-t", "act", *keys], check=True, timeout=5)

    def hook_ran(self, event: str) -> float:
        """When Claude Code ran ao's hook for ``event`` (its first), on the monotonic clock."""
        for line in self.spec.events_file.read_text().splitlines():
            record = json.loads(line)
            if record.get("event") == event:
                return record["at"] - (time.time() - time.monotonic())
        raise AssertionError(f"no {event} hook ran")

    def expect(self, label: str, state: ActivityState, sources: set[str], shown: Callable[[str, str], bool] | None,
               after: float, detail: str = "", signalled: str = "") -> Activity:
        """``state`` reported, by one of ``sources``, < BUDGET after ``shown`` held (None: the pane is gone)
        or, with ``signalled``, after that hook ran if it ran later (nothing can be known before)."""
        t_report, act = self.reports.first(state, after, detail=detail)
        if shown is None:
            t_screen = self.screens.first(lambda s, ti: s is None, after)
        else:
            t_screen = self.screens.first(lambda s, ti: s is not None and shown(s, ti), after)
        if signalled:
            t_screen = max(t_screen, self.hook_ran(signalled))
        assert act.source in sources, f"{label}: decided by {act.source}, expected {sources}"
        assert detail in act.detail, f"{label}: detail {act.detail!r}"
        lag = t_report - t_screen
        self.lags[label] = lag
        assert lag < BUDGET, f"{label}: reported {lag:.3f}s after the screen showed it ({self.reports.summary(after)})"
        return act

    def still(self, state: ActivityState) -> None:
        snap = self.monitor.snapshot("act")
        assert snap is not None and snap[0].state == state, f"state moved on to {snap and snap[0]}"


@pytest.fixture
def api() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@contextmanager
def launched(tmp_path: Path, repo: Path, socket: str, api: AnthropicServer, prompt: str, *,
             retries: int = 1, quiet_after: float = 15.0, expect_screen_reads: bool = False) -> Iterator[Session]:
    """Claude Code in tmux on ``prompt``, with ao's hooks and an ActivityMonitor following it."""
    reports = Reports()
    env = claude_env(tmp_path / "home", [], api.url, inherit=False)
    env["CLAUDE_CODE_MAX_RETRIES"] = str(retries)  # Claude Code retries API errors up to 10 times by default
    spec = LaunchSpec(session_id="act", agent_session_id=str(uuid.uuid4()), workspace=repo, prompt=prompt,
                      model="claude-sonnet-4-5", permission_mode="default",
                      events_file=tmp_path / "ao" / "sessions" / "act" / "hook-events.jsonl", env=env,
                      command=[claude_bin()])
    spec.events_file.parent.mkdir(parents=True)
    # the slow command runs without a prompt; Write still asks (default mode)
    (repo / ".claude").mkdir(exist_ok=True)
    (repo / ".claude" / "settings.json").write_text(json.dumps({"permissions": {"allow": ["Bash(sleep:*)"]}}))
    agent = ClaudeCodeAgent(PluginContext(ao_home=tmp_path / "ao"))
    agent.prepare_workspace(spec)
    screen_reads: list[str] = []
    screens = Screens(socket, "act")

    def read_screen(sid: str) -> tuple[str, str] | None:
        screen_reads.append(sid)
        screen, title = screens.grab()
        return None if screen is None else (screen, title)

    monitor = ActivityMonitor(reports, screen_reader=read_screen, quiet_after=quiet_after)
    monitor.track("act", spec.events_file, agent.transcript_path(spec), agent_read_screen=agent.read_screen)
    monitor.start()
    cmd = ["tmux", "-L", socket, "new-session", "-d", "-s", "act", "-x", "120", "-y", "40", "-c", str(repo)]
    for key, value in agent.environment(spec).items():
        cmd += ["-e", f"{key}={value}"]
    subprocess.run([*cmd, "--", *agent.launch_argv(spec)], check=True, timeout=10)
    screens.start()
    session = Session(socket, spec, agent, monitor, reports, screens)
    try:
        yield session
        if not expect_screen_reads:
            assert screen_reads == [], "hooks and transcript were enough: the screen should never have been read"
        print("lag behind the screen (s):", {k: round(v, 3) for k, v in session.lags.items()})
    finally:
        screens.stopping.set()
        monitor.stop()


def working_screen(agent: ClaudeCodeAgent) -> Callable[[str, str], bool]:
    def shown(screen: str, title: str) -> bool:
        guess = agent.read_screen(screen, title)
        return guess is not None and guess.state == ActivityState.WORKING
    return shown


def at_prompt(agent: ClaudeCodeAgent, words: str) -> Callable[[str, str], bool]:
    def shown(screen: str, title: str) -> bool:
        guess = agent.read_screen(screen, title)
        return words in screen and guess is not None and guess.state in (ActivityState.IDLE, ActivityState.ERRORED)
    return shown


def test_a_session_thinking_running_a_tool_asking_permission_and_a_question_then_exiting(
    tmp_path: Path, git_repo: Path, tmux_socket: str, api: AnthropicServer
) -> None:
    hello = git_repo / "hello.txt"
    api.script.on_prompt("Plan the work", text("Let me think about the plan carefully. " * 6).with_delay(1.0).slowly(0.25))
    api.script.on_prompt("slow command", tool_use("Bash", {"command": "sleep 3", "description": "Wait"}, id="toolu_sleep"))
    api.script.on_tool_result("toolu_sleep", text("Slept well."))
    api.script.on_prompt("create hello.txt", text("Creating it.")
                         + tool_use("Write", {"file_path": str(hello), "content": "hi\n"}, id="toolu_write"))
    api.script.on_tool_result("toolu_write", text("Created hello.txt."))
    api.script.on_prompt("which file", text("I can change either. Which file should I edit, a.py or b.py?"))
    api.script.on_prompt("pick a database", tool_use("AskUserQuestion", {"questions": [{
        "question": "Which database should I use?", "header": "DB", "multiSelect": False,
        "options": [{"label": "Postgres", "description": "robust"}, {"label": "SQLite", "description": "simple"}]}]},
        id="toolu_ask"))
    api.script.on_tool_result("toolu_ask", text("Postgres it is."))
    api.script.on_prompt("create bye.txt", tool_use("Write", {"file_path": str(hello.parent / "bye.txt"), "content": "x\n"},
                                                    id="toolu_bye"))
    start = time.monotonic()
    with launched(tmp_path, git_repo, tmux_socket, api, "Plan the work, please.") as s:
        _play_session(s, hello, start, api)


def _play_session(s: Session, hello: Path, start: float, api: AnthropicServer) -> None:
    # 1. prompt submitted, model thinking (delayed, slow stream)
    # Claude Code 2.1.3xx draws its spinner before it runs the UserPromptSubmit hook (and writes the
    # prompt to its transcript after): the first sign of the turn ao can have is that hook.
    act = s.expect("thinking", ActivityState.WORKING, {"hook", "transcript"}, working_screen(s.agent), start, "Plan the work",
                   signalled="UserPromptSubmit")
    s.expect("thinking done", ActivityState.IDLE, {"hook", "transcript"}, at_prompt(s.agent, "Let me think"), start)

    # 2. a slow shell command runs (allowed without a prompt)
    t = time.monotonic()
    s.type("Run the slow command now.")
    act = s.expect("tool running", ActivityState.RUNNING_TOOL, {"hook", "transcript"},
                   lambda sc, ti: "sleep 3" in sc and "esc to interrupt" in sc, t)
    assert act.tool == "Bash" and act.detail == "Bash sleep 3"
    s.expect("tool done", ActivityState.IDLE, {"hook", "transcript"}, at_prompt(s.agent, "Slept well."), t)

    # 3. a permission prompt (Write in default mode), reported on first appearance
    t = time.monotonic()
    s.type("Please create hello.txt for me.")
    act = s.expect("permission", ActivityState.WAITING_PERMISSION, {"hook"}, lambda sc, ti: "Do you want to create" in sc, t,
                   "hello.txt")
    assert act.tool == "Write"
    time.sleep(1.0)
    s.still(ActivityState.WAITING_PERMISSION)
    assert not hello.exists()

    # 4. permission granted, the turn finishes
    t = time.monotonic()
    s.keys("1")
    s.expect("granted, finished", ActivityState.IDLE, {"hook", "transcript"}, at_prompt(s.agent, "Created hello.txt."), t)
    assert hello.read_text() == "hi\n"

    # 5. the model asks the human a question
    t = time.monotonic()
    s.type("Tell me which file to edit.")
    act = s.expect("question", ActivityState.WAITING_INPUT, {"hook", "transcript"}, at_prompt(s.agent, "a.py or b.py?"), t)
    assert act.detail.endswith("a.py or b.py?")

    # 6. the model asks through Claude Code's question dialog (a tool that waits for the human)
    t = time.monotonic()
    s.type("Please pick a database with me.")
    act = s.expect("question dialog", ActivityState.WAITING_INPUT, {"hook", "transcript"},
                   lambda sc, ti: "Which database should I use?" in sc and "Enter to select" in sc, t,
                   "Which database should I use?")
    assert act.tool == "AskUserQuestion"
    # Answered as a person does, once it has been read: newer Claude Code (2.1.3xx) ignores keys
    # pressed within ~0.2 s of a dialog appearing, so a keystroke racing the dialog answers nothing.
    time.sleep(1.0)
    s.still(ActivityState.WAITING_INPUT)
    t = time.monotonic()
    s.keys("Enter")  # the first option
    s.expect("answered", ActivityState.IDLE, {"hook", "transcript"}, at_prompt(s.agent, "Postgres it is."), t)

    # 7. a permission refused: the agent stops and waits at its prompt
    t = time.monotonic()
    s.type("Now create bye.txt.")
    s.expect("permission again", ActivityState.WAITING_PERMISSION, {"hook"}, lambda sc, ti: "Do you want to create" in sc, t,
             "bye.txt")
    time.sleep(1.0)  # read before answered (2.1.3xx ignores a key pressed as the dialog appears)
    t = time.monotonic()
    s.keys("3")
    act = s.expect("refused", ActivityState.IDLE, {"hook", "transcript"},
                   lambda sc, ti: "Do you want to create" not in sc and "esc to interrupt" not in sc, t)
    assert not (hello.parent / "bye.txt").exists()
    assert (act.source, act.detail) == ("transcript", "interrupted")  # no hook reports a refusal

    # 8. the agent process exits
    t = time.monotonic()
    s.type("/exit")
    s.expect("exited", ActivityState.EXITED, {"hook"}, None, t)

    snap = s.monitor.snapshot("act")
    assert snap is not None and snap[1] is not None
    state = snap[1]
    assert state.model == "claude-sonnet-4-5"
    assert state.usage.input_tokens > 0 and state.usage.output_tokens > 0 and state.usage.cost_usd > 0
    assert api.script.pending() == []


@pytest.mark.parametrize(
    ("status", "reply", "shown", "state"),
    [
        (500, error(500, "api_error", "Internal server error"), "500", ActivityState.ERRORED),
        (529, error(529, "overloaded_error", "Overloaded"), "529", ActivityState.ERRORED),
        # a 429 that outlasts the retries is a usage limit: waited out, then continued (issue 14)
        (429, rate_limited(retry_after=0), "429", ActivityState.RATE_LIMITED),
    ],
)
def test_api_errors_after_retries_are_errored(
    tmp_path: Path, git_repo: Path, tmux_socket: str, api: AnthropicServer, status: int, reply: object, shown: str,
    state: ActivityState,
) -> None:
    api.script.on_prompt("Do the task", reply, times=None)  # every attempt fails
    start = time.monotonic()
    with launched(tmp_path, git_repo, tmux_socket, api, "Do the task, please.") as s:
        s.reports.first(ActivityState.WORKING, start)
        act = s.expect(f"api {status}", state, {"hook", "transcript"},
                       lambda sc, ti: "API Error" in sc and shown in sc and "Retrying" not in sc, start, shown)
        assert len(api.main_requests) == 2  # the first attempt and one retry (CLAUDE_CODE_MAX_RETRIES=1)
        time.sleep(0.5)
        s.still(state)
        print(f"api {status}: {act.detail!r}")


def test_api_retries_show_on_the_screen_while_they_last(
    tmp_path: Path, git_repo: Path, tmux_socket: str, api: AnthropicServer
) -> None:
    """Nothing is written while Claude Code retries: after a quiet spell the screen is read and tells."""
    api.script.on_prompt("Do the task", error(529, "overloaded_error", "Overloaded"), times=3)
    api.script.on_prompt("Do the task", text("Finally done."))
    start = time.monotonic()
    with launched(tmp_path, git_repo, tmux_socket, api, "Do the task, please.", retries=4, quiet_after=1.0,
                  expect_screen_reads=True) as s:
        s.reports.first(ActivityState.WORKING, start)

        def retrying() -> Activity | None:
            for _, act in list(s.reports.items):
                if act.state == ActivityState.WORKING and act.source == "screen" and "attempt" in act.detail:
                    return act
            return None

        deadline = time.monotonic() + 20
        while retrying() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        act = retrying()
        assert act is not None, f"no retry seen: {s.reports.summary(start)}"
        assert "Retrying" in act.detail or "retry" in act.detail.lower()
        s.expect("recovered", ActivityState.IDLE, {"hook", "transcript"}, at_prompt(s.agent, "Finally done."), start)
        print("while retrying:", act.detail)
