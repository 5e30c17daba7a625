"""``read_activity``: an agent's activity read once from its files, as ``ao ls`` does with no engine."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ao_tui.activity.snapshot import read_activity
from ao_tui.models import ActivityState
from ao_tui.slots.agent import ScreenGuess


def hooks(path: Path, *events: tuple[str, float, dict]) -> Path:
    path.write_text("".join(json.dumps({"event": name, "at": at, **data}) + "\n" for name, at, data in events))
    return path


def test_the_newest_hook_decides(tmp_path: Path) -> None:
    now = time.time()
    events = hooks(tmp_path / "e.jsonl", ("UserPromptSubmit", now - 60, {"prompt": "Fix the parser"}),
                   ("PreToolUse", now - 50, {"tool_name": "Bash", "tool_input": {"command": "pytest -q"}}),
                   ("PermissionRequest", now - 49, {"tool_name": "Bash", "tool_input": {"command": "pytest -q"}}))
    got = read_activity(events, None)
    assert (got.state, got.source, got.detail) == (ActivityState.WAITING_PERMISSION, "hook", "permission: Bash pytest -q")
    hooks(events, ("UserPromptSubmit", now - 60, {"prompt": "Fix the parser"}),
          ("Stop", now - 40, {"last_assistant_message": "Fixed. Shall I also add a test?"}))
    got = read_activity(events, None)
    assert got.state is ActivityState.WAITING_INPUT and "Shall I also add a test?" in got.detail


def test_with_nothing_to_read_it_says_unknown_and_why(tmp_path: Path) -> None:
    got = read_activity(tmp_path / "missing.jsonl", tmp_path / "missing-transcript.jsonl")
    assert (got.state, got.detail) == (ActivityState.UNKNOWN, "no hook event or transcript yet")
    got = read_activity(None, None, lambda: None, lambda screen, title: None)
    assert (got.state, got.detail) == (ActivityState.UNKNOWN, "its screen could not be read")


def test_an_agent_without_files_is_read_from_its_screen(tmp_path: Path) -> None:
    asked: list[str] = []

    def parse(screen: str, title: str) -> ScreenGuess:
        asked.append(screen)
        return ScreenGuess(ActivityState.WAITING_INPUT, "Add tests too? (y/n)")

    got = read_activity(None, None, lambda: ("Add tests too? (y/n)", "aider"), parse)
    assert (got.state, got.source, got.detail) == (ActivityState.WAITING_INPUT, "screen", "Add tests too? (y/n)")
    assert asked == ["Add tests too? (y/n)"]


def test_files_quiet_while_working_are_checked_on_the_screen(tmp_path: Path) -> None:
    now = time.time()
    events = hooks(tmp_path / "e.jsonl", ("UserPromptSubmit", now - 120, {"prompt": "Refactor"}))
    screens: list[int] = []

    def screen() -> tuple[str, str]:
        screens.append(1)
        return "❯ ", "claude"

    got = read_activity(events, None, screen, lambda s, t: ScreenGuess(ActivityState.IDLE, "at its prompt"))
    assert screens == [1] and (got.state, got.source) == (ActivityState.IDLE, "screen")
    fresh = hooks(tmp_path / "f.jsonl", ("UserPromptSubmit", now - 1, {"prompt": "Refactor"}))
    got = read_activity(fresh, None, screen, lambda s, t: ScreenGuess(ActivityState.IDLE, "at its prompt"))
    assert screens == [1] and (got.state, got.detail) == (ActivityState.WORKING, "Refactor")  # no doubt: no screen read


def test_an_agent_that_just_started_is_starting_not_idle(tmp_path: Path) -> None:
    events = hooks(tmp_path / "e.jsonl", ("SessionStart", time.time() - 0.2, {"source": "startup"}))
    got = read_activity(events, None)
    assert (got.state, got.detail) == (ActivityState.WORKING, "starting")
    hooks(events, ("SessionStart", time.time() - 30, {"source": "startup"}))
    assert read_activity(events, None).state is ActivityState.IDLE
