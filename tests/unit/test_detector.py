"""Deciding a session's activity from hooks, transcript, screen and runtime.

The detector is pure logic on an injected clock; the last tests drive the
ActivityMonitor over real files and a real file watcher.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ao_tui.activity.detector import ActivityDetector
from ao_tui.activity.session_file import reader_for
from ao_tui.activity.transcript import TranscriptReader
from ao_tui.activity.watcher import ActivityMonitor
from ao_tui.models import Activity, ActivityState
from ao_tui.slots.agent import ScreenGuess

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
#: Transcripts recorded from each Claude Code version ao is tested with, side by side.
VERSIONS = sorted((p.name for p in FIXTURES.iterdir() if p.is_dir()), key=lambda v: tuple(map(int, v.split("."))))
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def det(clock: Clock) -> ActivityDetector:
    return ActivityDetector(clock=clock, settle=0.15)


def hook(det: ActivityDetector, clock: Clock, name: str, **payload: object) -> Activity | None:
    det.on_hook({"event": name, "at": clock(), **payload})
    return det.update()


def test_hooks_drive_a_whole_turn(det: ActivityDetector, clock: Clock) -> None:
    assert hook(det, clock, "UserPromptSubmit", prompt="Fix the bug\nin foo") is not None
    assert (det.activity.state, det.activity.source, det.activity.detail) == (ActivityState.WORKING, "hook", "Fix the bug")
    started = det.activity.since
    clock.tick(1)
    # working -> running_tool is between busy states: published once it has held
    assert hook(det, clock, "PreToolUse", tool_name="Bash", tool_input={"command": "sleep 3"}) is None
    clock.tick(0.2)
    act = det.update()
    assert act is not None and (act.state, act.tool, act.detail) == (ActivityState.RUNNING_TOOL, "Bash", "Bash sleep 3")
    assert act.since > started
    clock.tick(3)
    hook(det, clock, "PostToolUse", tool_name="Bash")
    clock.tick(0.2)
    det.update()
    assert det.activity.state == ActivityState.WORKING
    clock.tick(1)
    assert hook(det, clock, "Stop", last_assistant_message="All done, tests pass.") is not None
    assert (det.activity.state, det.activity.detail) == (ActivityState.IDLE, "turn finished")


def test_short_tool_blips_are_merged(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="go")
    since = det.activity.since
    published = []
    for i in range(5):  # five quick Reads, 40 ms each, 20 ms apart
        clock.tick(0.02)
        published.append(hook(det, clock, "PreToolUse", tool_name="Read", tool_input={"file_path": f"/f{i}"}))
        clock.tick(0.04)
        published.append(hook(det, clock, "PostToolUse", tool_name="Read"))
    assert published == [None] * 10
    assert det.activity.state == ActivityState.WORKING and det.activity.since == since
    assert det.next_deadline() is None


def test_permission_prompt_is_reported_on_first_appearance(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="write it")
    clock.tick(0.3)
    hook(det, clock, "PreToolUse", tool_name="Write", tool_input={"file_path": "/w/hello.txt", "content": "hi"})
    clock.tick(0.05)  # well inside the settle time of the busy change
    act = hook(det, clock, "PermissionRequest", tool_name="Write", tool_input={"file_path": "/w/hello.txt"})
    assert act is not None
    assert (act.state, act.source, act.tool) == (ActivityState.WAITING_PERMISSION, "hook", "Write")
    assert "hello.txt" in act.detail
    since = act.since
    clock.tick(6)  # Claude Code's own Notification follows seconds later: same prompt, same since
    hook(det, clock, "Notification", notification_type="permission_prompt", message="Claude needs your permission to use Write")
    assert det.activity.state == ActivityState.WAITING_PERMISSION and det.activity.since == since


def test_a_question_dialog_is_waiting_input_not_a_tool(det: ActivityDetector, clock: Clock) -> None:
    """AskUserQuestion: Claude Code shows a multiple-choice dialog (it fires PermissionRequest too)."""
    hook(det, clock, "UserPromptSubmit", prompt="set it up")
    clock.tick(1)
    ask = {"questions": [{"question": "Which database should I use?", "options": [{"label": "Postgres"}]}]}
    act = hook(det, clock, "PreToolUse", tool_name="AskUserQuestion", tool_input=ask)
    assert act is not None and (act.state, act.detail, act.tool) == (ActivityState.WAITING_INPUT, "Which database should I use?",
                                                                     "AskUserQuestion")
    clock.tick(0.2)
    hook(det, clock, "PermissionRequest", tool_name="AskUserQuestion", tool_input=ask)
    clock.tick(6)
    hook(det, clock, "Notification", notification_type="permission_prompt", message="Claude needs your permission")
    assert (det.activity.state, det.activity.since) == (ActivityState.WAITING_INPUT, act.since)
    clock.tick(5)
    assert hook(det, clock, "PostToolUse", tool_name="AskUserQuestion") is not None
    assert det.activity.state == ActivityState.WORKING


def test_plan_approval_is_a_permission(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="plan it")
    act = hook(det, clock, "PreToolUse", tool_name="ExitPlanMode", tool_input={"plan": "1. Add tests\n2. Fix"})
    assert act is not None and (act.state, act.detail) == (ActivityState.WAITING_PERMISSION, "approve the plan: 1. Add tests")


def test_permission_prompt_from_notification_alone(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    act = hook(det, clock, "Notification", notification_type="permission_prompt", message="Claude needs your permission to use Bash")
    assert act is not None and act.state == ActivityState.WAITING_PERMISSION and "Bash" in act.detail


@pytest.mark.parametrize(
    ("last", "state"),
    [("Should I also update the README?", ActivityState.WAITING_INPUT), ("Done.", ActivityState.IDLE),
     ("Pick one?\n1. fast\n2. safe", ActivityState.WAITING_INPUT)],
)
def test_stop_is_idle_or_a_question(det: ActivityDetector, clock: Clock, last: str, state: ActivityState) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    clock.tick(2)
    act = hook(det, clock, "Stop", last_assistant_message=last)
    assert act is not None and act.state == state and act.source == "hook"
    if state == ActivityState.WAITING_INPUT:
        assert act.detail.endswith("?")  # the question itself, not the options below it


def test_api_failure_and_session_end(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    clock.tick(5)
    act = hook(det, clock, "StopFailure", error="server_error", last_assistant_message="API Error: 500 · upstream")
    assert act is not None and act.state == ActivityState.ERRORED and "500" in act.detail
    clock.tick(1)
    # A 429 after the agent's retries is a usage limit: waited out (no reset time given), not an error.
    act = hook(det, clock, "StopFailure", error="rate_limit", last_assistant_message="API Error: Request rejected (429) · slow down")
    assert act is not None and act.state == ActivityState.RATE_LIMITED and "429" in act.detail and act.until is None
    clock.tick(1)
    act = hook(det, clock, "SessionEnd", reason="prompt_input_exit")
    assert act is not None and (act.state, act.source) == (ActivityState.EXITED, "hook")


def test_runtime_exit_is_final_until_the_agent_comes_back(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    clock.tick(1)
    det.on_exit("exit status 137")
    act = det.update()
    assert act is not None and (act.state, act.source, act.detail) == (ActivityState.EXITED, "runtime", "exit status 137")
    clock.tick(0.01)
    assert hook(det, clock, "PostToolUse") is None  # a straggling hook does not revive it
    assert det.activity.state == ActivityState.EXITED
    clock.tick(5)
    det.on_alive()
    assert hook(det, clock, "SessionStart", source="resume") is None  # a fresh start holds a moment
    clock.tick(det.start_hold)
    det.update()
    assert det.activity.state == ActivityState.IDLE


@pytest.mark.parametrize("version", VERSIONS)
def test_transcript_newer_than_hooks_decides(version: str, tmp_path: Path, det: ActivityDetector, clock: Clock) -> None:
    """Permission granted: the tool_result lands in the transcript before PostToolUse runs."""
    lines = (FIXTURES / version / "write_permission_granted.jsonl").read_text().splitlines(keepends=True)
    events = [json.loads(x) for x in (FIXTURES / version / "write_permission_granted.events.jsonl").read_text().splitlines()]
    by_name = {e["event"]: e for e in events}
    path = tmp_path / "t.jsonl"
    cut = next(i for i, ln in enumerate(lines) if '"type":"tool_use"' in ln.replace(" ", ""))
    path.write_text("".join(lines[: cut + 1]))
    reader = TranscriptReader(path)
    reader.poll()
    clock.now = by_name["PermissionRequest"]["at"] + 0.1
    for name in ("UserPromptSubmit", "PreToolUse", "PermissionRequest"):
        det.on_hook(by_name[name])
    det.on_transcript(reader.state)
    det.update()
    assert (det.activity.state, det.activity.source) == (ActivityState.WAITING_PERMISSION, "hook")
    result_line = next(i for i, ln in enumerate(lines) if '"tool_result"' in ln)
    with open(path, "a") as f:
        f.writelines(lines[cut + 1: result_line + 1])
    reader.poll()
    clock.now = by_name["PostToolUse"]["at"]
    det.on_transcript(reader.state)
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "transcript")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_late_hook_does_not_reopen_a_finished_turn(version: str, det: ActivityDetector, clock: Clock, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text((FIXTURES / version / "bash_tool_bypass.jsonl").read_text())
    reader = TranscriptReader(path)
    reader.poll()
    assert reader.state.at is not None
    clock.now = reader.state.at + 0.05
    det.on_transcript(reader.state)
    det.update()
    assert det.activity.state == ActivityState.IDLE
    det.on_hook({"event": "PostToolUse", "at": reader.state.at + 0.08})  # its process started late
    assert det.update() is None
    assert det.activity.state == ActivityState.IDLE


def test_permission_denied_then_a_slow_hook_stays_idle(det: ActivityDetector, clock: Clock, tmp_path: Path) -> None:
    """The human answers "No": Claude Code records the interruption; the failure hook runs late."""
    hook(det, clock, "UserPromptSubmit", prompt="write it")
    clock.tick(0.5)
    hook(det, clock, "PermissionRequest", tool_name="Write", tool_input={"file_path": "/w/a.txt"})
    assert det.activity.state == ActivityState.WAITING_PERMISSION
    clock.tick(4)
    path = tmp_path / "t.jsonl"
    ts = datetime.fromtimestamp(clock(), UTC).isoformat()
    path.write_text(json.dumps({"type": "user", "timestamp": ts, "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "The user doesn't want to proceed"},
        {"type": "text", "text": "[Request interrupted by user for tool use]"}]}}) + "\n")
    reader = TranscriptReader(path)
    reader.poll()
    det.on_transcript(reader.state)
    act = det.update()
    assert act is not None and (act.state, act.source, act.detail) == (ActivityState.IDLE, "transcript", "interrupted")
    clock.tick(0.6)  # a loaded machine: the hook process stamps its line 600 ms later
    assert hook(det, clock, "PostToolUseFailure", tool_name="Write") is None
    assert det.activity.state == ActivityState.IDLE


@pytest.mark.parametrize("version", VERSIONS)
def test_without_hooks_an_open_tool_asks_the_screen(version: str, det: ActivityDetector, clock: Clock, tmp_path: Path) -> None:
    lines = (FIXTURES / version / "write_permission_granted.jsonl").read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"type":"tool_use"' in ln.replace(" ", ""))
    path = tmp_path / "t.jsonl"
    path.write_text("".join(lines[: cut + 1]))
    reader = TranscriptReader(path)
    reader.poll()
    assert reader.state.at is not None
    clock.now = reader.state.at + 0.01
    det.on_transcript(reader.state)
    det.update()
    assert (det.activity.state, det.activity.source) == (ActivityState.RUNNING_TOOL, "transcript")
    due = det.screen_due()
    assert due is not None and due > clock()
    clock.now = due
    det.on_screen(ScreenGuess(ActivityState.WAITING_PERMISSION, "Do you want to create hello.txt?"))
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WAITING_PERMISSION, "screen")
    assert act.detail == "Do you want to create hello.txt?"


def test_with_hooks_the_screen_is_never_needed(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    hook(det, clock, "PreToolUse", tool_name="Bash", tool_input={"command": "sleep 30"})
    clock.tick(10)
    det.update()
    assert det.activity.state == ActivityState.RUNNING_TOOL
    assert det.screen_due() is None


def test_quiet_working_is_checked_on_the_screen(det: ActivityDetector, clock: Clock) -> None:
    """Claude Code retrying an API error writes nothing anywhere: only its screen tells."""
    hook(det, clock, "UserPromptSubmit", prompt="Fix it")
    assert det.screen_due() == pytest.approx(clock() + det.quiet_after)
    clock.tick(1)
    det.on_screen(ScreenGuess(ActivityState.IDLE, ""))  # too early to doubt the files
    assert det.update() is None and det.activity.state == ActivityState.WORKING
    clock.tick(det.quiet_after)
    det.on_screen(ScreenGuess(ActivityState.WORKING, "✻ API error · Retrying in 9s · attempt 5/10"))
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "screen")
    assert "attempt 5/10" in act.detail
    assert det.screen_due() == pytest.approx(clock() + det.quiet_after)
    clock.tick(det.quiet_after)
    det.on_screen(ScreenGuess(ActivityState.WAITING_INPUT, "Would you like to proceed?"))
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WAITING_INPUT, "screen")
    clock.tick(2)
    act = hook(det, clock, "UserPromptSubmit", prompt="yes")  # files speak again: they decide
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "hook")


def test_screen_only_agent(det: ActivityDetector, clock: Clock) -> None:
    det.screen_only = True
    assert det.update() is None and det.activity.state == ActivityState.UNKNOWN
    assert det.screen_due() == clock()
    det.on_screen(ScreenGuess(ActivityState.WORKING, "esc to interrupt"), source="title")
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "title")
    assert det.screen_due() == pytest.approx(clock() + det.screen_every)


def test_a_screen_polled_agent_with_a_transcript_goes_by_the_newer_signal(det: ActivityDetector, clock: Clock,
                                                                          tmp_path: Path) -> None:
    """Rule 7 (Aider): its chat history says a message was sent, its screen that the turn is over."""
    det.screen_only = True
    history = tmp_path / ".aider.chat.history.md"
    history.write_text("#### fix the bug  \n\n")
    reader = reader_for(history)
    reader.poll()
    det.on_transcript(reader.state)
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "transcript")
    assert det.screen_due() == clock()  # read at once, then every screen_every
    clock.tick(2)
    det.on_screen(ScreenGuess(ActivityState.WAITING_INPUT, "Which file?"))
    act = det.update()
    assert act is not None and (act.state, act.source, act.detail) == (ActivityState.WAITING_INPUT, "screen", "Which file?")
    clock.tick(1)
    with history.open("a") as f:
        f.write("#### the second one  \n")
    reader.poll()
    det.on_transcript(reader.state)
    act = det.update()
    assert act is not None and (act.state, act.source) == (ActivityState.WORKING, "transcript")  # no wait for the screen


def test_session_start_idle_waits_for_the_prompt_that_follows(det: ActivityDetector, clock: Clock) -> None:
    assert hook(det, clock, "SessionStart", source="startup") is None  # tentative
    clock.tick(0.05)
    act = hook(det, clock, "UserPromptSubmit", prompt="task")
    assert act is not None and act.state == ActivityState.WORKING  # never showed idle in between


def test_detail_change_keeps_since(det: ActivityDetector, clock: Clock) -> None:
    hook(det, clock, "UserPromptSubmit", prompt="x")
    hook(det, clock, "PreToolUse", tool_name="Read", tool_input={"file_path": "/a"})
    clock.tick(0.2)
    first = det.update()
    assert first is not None
    clock.tick(0.01)
    act = hook(det, clock, "PreToolUse", tool_name="Edit", tool_input={"file_path": "/b"})
    assert act is not None and act.detail == "Edit /b" and act.since == first.since


# -- the monitor over real files -----------------------------------------------


class Updates:
    def __init__(self) -> None:
        self.items: list[tuple[float, str, Activity]] = []
        self.cv = threading.Condition()

    def __call__(self, sid: str, act: Activity, state: object) -> None:
        with self.cv:
            self.items.append((time.monotonic(), sid, act))
            self.cv.notify_all()

    def wait_for(self, sid: str, state: ActivityState, timeout: float = 2.0) -> tuple[float, Activity]:
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for at, s, act in self.items:
                    if s == sid and act.state == state:
                        return at, act
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{sid} never reached {state}: {[(s, a.state) for _, s, a in self.items]}")
                self.cv.wait(left)


def write_event(path: Path, name: str, at: float | None = None, **payload: object) -> float:
    with open(path, "a") as f:
        f.write(json.dumps({"ao_session": "x", "at": at or time.time(), "event": name, **payload}) + "\n")
    return time.monotonic()


def test_monitor_reports_appends_within_the_latency_budget(tmp_path: Path) -> None:
    updates = Updates()
    reads: list[str] = []
    ev = tmp_path / "sessions" / "s1" / "hook-events.jsonl"  # directories appear later
    tr = tmp_path / "claude" / "projects" / "-w" / "abc.jsonl"
    with ActivityMonitor(updates, screen_reader=lambda sid: reads.append(sid) or ("", "")) as mon:
        mon.track("s1", ev, tr)
        time.sleep(0.2)
        ev.parent.mkdir(parents=True)
        time.sleep(0.2)
        t = write_event(ev, "UserPromptSubmit", prompt="go")
        at, act = updates.wait_for("s1", ActivityState.WORKING)
        assert at - t < 0.5 and act.source == "hook"
        t = write_event(ev, "PermissionRequest", tool_name="Bash", tool_input={"command": "rm x"})
        at, act = updates.wait_for("s1", ActivityState.WAITING_PERMISSION)
        assert at - t < 0.5 and act.detail == "permission: Bash rm x"
        tr.parent.mkdir(parents=True)
        time.sleep(0.2)
        with open(tr, "a") as f:
            f.write(json.dumps({"type": "assistant", "timestamp": "2099-01-01T00:00:00Z", "requestId": "r",
                                "message": {"id": "m", "model": "claude-haiku-4-5", "stop_reason": "end_turn",
                                            "content": [{"type": "text", "text": "Merge it now?"}],
                                            "usage": {"input_tokens": 10, "output_tokens": 2}}}) + "\n")
        t = time.monotonic()
        at, act = updates.wait_for("s1", ActivityState.WAITING_INPUT)
        assert at - t < 0.5 and act.source == "transcript"
        snap = mon.snapshot("s1")
        assert snap is not None and snap[1] is not None
        assert snap[1].usage.input_tokens == 10 and snap[1].model == "claude-haiku-4-5"
        mon.runtime_exited("s1", "exit status 0")
        updates.wait_for("s1", ActivityState.EXITED)
        assert reads == []  # hooks made everything unambiguous: the screen was never read
        mon.untrack("s1")
        assert mon.snapshot("s1") is None


@pytest.mark.parametrize("version", VERSIONS)
def test_monitor_learns_the_transcript_from_hooks_and_reads_existing_files(version: str, tmp_path: Path) -> None:
    updates = Updates()
    ev = tmp_path / "hook-events.jsonl"
    tr = tmp_path / "proj" / "t.jsonl"
    tr.parent.mkdir()
    tr.write_text((FIXTURES / version / "api_error_500.jsonl").read_text())
    with ActivityMonitor(updates) as mon:
        mon.track("s2", ev, None)
        # the session started before the failure the transcript records
        write_event(ev, "SessionStart", at=1_700_000_000.0, transcript_path=str(tr))
        _, act = updates.wait_for("s2", ActivityState.ERRORED)
        assert act.source == "transcript" and "500" in act.detail
        with open(tr, "a") as f:
            f.write(json.dumps({"type": "user", "timestamp": "2099-01-01T00:00:00Z",
                                "message": {"role": "user", "content": "again"}}) + "\n")
        _, act = updates.wait_for("s2", ActivityState.WORKING)
        assert act.source == "transcript"


@pytest.mark.parametrize("version", VERSIONS)
def test_monitor_reads_the_screen_only_for_ambiguous_sessions(version: str, tmp_path: Path) -> None:
    updates = Updates()
    reads: list[str] = []
    guesses = {"amb": ScreenGuess(ActivityState.WAITING_PERMISSION, "Do you want to create a.txt?")}

    def reader(sid: str) -> tuple[str, str]:
        reads.append(sid)
        return "screen", "title"

    files = {}
    for sid in ("calm", "amb"):
        files[sid] = tmp_path / f"{sid}.jsonl"
    lines = (FIXTURES / version / "write_permission_granted.jsonl").read_text().splitlines(keepends=True)
    cut = next(i for i, ln in enumerate(lines) if '"type":"tool_use"' in ln.replace(" ", ""))
    files["calm"].write_text("".join(lines))
    with ActivityMonitor(updates, screen_reader=reader) as mon:
        mon.track("calm", None, files["calm"])
        mon.track("amb", None, files["amb"], agent_read_screen=lambda screen, title: guesses["amb"])
        updates.wait_for("calm", ActivityState.IDLE)
        files["amb"].write_text("".join(lines[: cut + 1]))  # a Write left open, no hooks
        _, act = updates.wait_for("amb", ActivityState.WAITING_PERMISSION)
        assert act.source == "screen"
        assert set(reads) == {"amb"}


@pytest.mark.parametrize("version", VERSIONS)
def test_monitor_finds_a_transcript_whose_directories_appear_with_it(version: str, tmp_path: Path) -> None:
    """Claude Code creates ~/.claude/projects/<slug>/ and writes the file at once: nothing is missed."""
    updates = Updates()
    home = tmp_path / "home"
    home.mkdir()
    tr = home / ".claude" / "projects" / "-work-repo" / "abc.jsonl"
    with ActivityMonitor(updates) as mon:
        mon.track("s3", None, tr)
        time.sleep(0.2)
        tr.parent.mkdir(parents=True)
        tr.write_text((FIXTURES / version / "interrupted.jsonl").read_text())
        _, act = updates.wait_for("s3", ActivityState.IDLE)
        assert (act.source, act.detail) == ("transcript", "interrupted")


@pytest.mark.parametrize("version", VERSIONS)
def test_monitor_follows_the_transcript_the_hooks_name(version: str, tmp_path: Path) -> None:
    """A resumed conversation written to another file than the one tracked: the hooks say where."""
    updates = Updates()
    ev = tmp_path / "hook-events.jsonl"
    guessed = tmp_path / "proj" / "guessed.jsonl"
    real = tmp_path / "proj" / "real.jsonl"
    guessed.parent.mkdir()
    guessed.write_text((FIXTURES / version / "interrupted.jsonl").read_text())
    with ActivityMonitor(updates) as mon:
        mon.track("s4", ev, guessed)
        updates.wait_for("s4", ActivityState.IDLE)
        real.write_text((FIXTURES / version / "api_error_429.jsonl").read_text())
        write_event(ev, "SessionStart", at=1_700_000_000.0, transcript_path=str(real))
        _, act = updates.wait_for("s4", ActivityState.RATE_LIMITED)  # a 429 after Claude Code's retries: a usage limit
        assert "429" in act.detail
        with open(real, "a") as f:  # and it is watched from now on
            f.write(json.dumps({"type": "user", "timestamp": "2099-01-01T00:00:00Z",
                                "message": {"role": "user", "content": "retry"}}) + "\n")
        updates.wait_for("s4", ActivityState.WORKING)


def test_a_restored_session_is_not_shown_exited_by_its_previous_run(tmp_path: Path) -> None:
    updates = Updates()
    ev = tmp_path / "hook-events.jsonl"
    old = time.time() - 600
    for i, name in enumerate(("SessionStart", "UserPromptSubmit", "Stop", "SessionEnd")):
        write_event(ev, name, at=old + i, last_assistant_message="Done.", reason="other")
    with ActivityMonitor(updates) as mon:
        mon.track("s5", ev, None)
        _, act = updates.wait_for("s5", ActivityState.IDLE)
        assert act.source == "hook"
        time.sleep(0.3)
        assert [a.state for _, _, a in updates.items] == [ActivityState.IDLE]
        write_event(ev, "SessionEnd", reason="prompt_input_exit")  # the agent exits now: that counts
        updates.wait_for("s5", ActivityState.EXITED)


def test_transcript_only_changes_are_coalesced_but_the_last_one_arrives(tmp_path: Path) -> None:
    seen: list[tuple[float, Activity, object]] = []
    tr = tmp_path / "t.jsonl"
    tr.write_text(json.dumps({"type": "user", "timestamp": "2099-01-01T00:00:00Z",
                              "message": {"role": "user", "content": "go"}}) + "\n")
    with ActivityMonitor(lambda sid, act, st: seen.append((time.monotonic(), act, st)), transcript_interval=0.5) as mon:
        mon.track("s6", None, tr)
        deadline = time.monotonic() + 2
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.monotonic()
        for i in range(20):  # a busy agent: a record every 20 ms, the state stays "working"
            with open(tr, "a") as f:
                f.write(json.dumps({"type": "assistant", "timestamp": "2099-01-01T00:00:01Z", "requestId": f"r{i}",
                                    "message": {"id": f"m{i}", "model": "claude-sonnet-4-5", "stop_reason": "tool_use",
                                                "content": [{"type": "text", "text": f"step {i}"}],
                                                "usage": {"input_tokens": 10, "output_tokens": 1}}}) + "\n")
            time.sleep(0.02)
        time.sleep(0.8)
        during = [x for x in seen if x[0] >= start]
        assert 1 <= len(during) <= 3
        assert all(act.state == ActivityState.WORKING for _, act, _ in during)
        last = during[-1][2]
        assert last is not None and last.usage.input_tokens == 200 and last.last_text == "step 19"


def test_monitor_reads_a_screen_only_agent_periodically(tmp_path: Path) -> None:
    """An agent with neither hooks nor transcript: its screen is read at once, then every couple of seconds."""
    updates = Updates()
    guess = {"now": ScreenGuess(ActivityState.WORKING, "esc to interrupt")}
    with ActivityMonitor(updates, screen_reader=lambda sid: ("screen", "title")) as mon:
        mon.track("aider-1", None, None, agent_read_screen=lambda screen, title: guess["now"])
        _, act = updates.wait_for("aider-1", ActivityState.WORKING, timeout=1.0)
        assert act.source == "screen"
        guess["now"] = ScreenGuess(ActivityState.IDLE, "")
        updates.wait_for("aider-1", ActivityState.IDLE, timeout=3.5)
        assert 2 <= mon.screen_reads <= 4


def test_an_approved_permission_is_seen_on_the_screen(det: ActivityDetector, clock: Clock) -> None:
    """Codex writes nothing when the human approves: the dialog gone and the agent busy means the tool runs."""
    det.watch_dialogs = True
    hook(det, clock, "UserPromptSubmit", prompt="run the check")
    hook(det, clock, "PreToolUse", tool_name="Bash", tool_input={"command": "sleep 3"})
    hook(det, clock, "PermissionRequest", tool_name="Bash", tool_input={"command": "sleep 3"})
    asked = clock()
    assert det.activity.state is ActivityState.WAITING_PERMISSION
    assert det.screen_due() == pytest.approx(asked + det.screen_after)  # the dialog is watched
    clock.tick(0.05)
    det.on_screen(ScreenGuess(ActivityState.WORKING, "Working (0s)"))  # drawn before the dialog: not an answer
    assert det.update() is None and det.activity.state is ActivityState.WAITING_PERMISSION
    clock.tick(0.3)
    det.on_screen(ScreenGuess(ActivityState.WAITING_PERMISSION, "Would you like to run the following command?"))
    assert det.update() is None
    assert det.screen_due() == pytest.approx(clock() + det.dialog_every)
    clock.tick(0.5)
    det.on_screen(ScreenGuess(ActivityState.WORKING, "Working (1s • esc to interrupt)"))
    act = det.update()
    assert act is not None and (act.state, act.source, act.detail, act.tool) == (ActivityState.RUNNING_TOOL, "screen",
                                                                               "Bash sleep 3", "Bash")
    assert det.screen_due() is None  # answered: the files say what comes next
    clock.tick(3)
    hook(det, clock, "PostToolUse", tool_name="Bash")
    assert det.activity.state in (ActivityState.RUNNING_TOOL, ActivityState.WORKING)
