"""A fleet that hits its usage limit waits it out and continues by itself (issue 14), with the real CLI.

Claude Code signed in to a plan (``CLAUDE_CODE_OAUTH_TOKEN``) runs in tmux
against the scripted server, which answers the task with the API's usage-limit
429 (``rate_limit_error`` plus the ``anthropic-ratelimit-unified-*`` headers).
The CLI shows "You've hit your session limit · resets 4:20am (UTC)" and writes
a synthetic assistant record; ao marks the session ``rate_limited`` with that
reset, refuses new sessions on the account, and at the reset (a controllable
clock moved by the test) types the continue message exactly once, even when
the clock jumps back and forward again.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.errors import AoError
from ao_tui.limit_resume import SELF_RESUME_GRACE
from ao_tui.models import ActivityState
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, usage_limit
from tests.support.claude_project import claude_project, needs_worktree, transcript_of, user_turns
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(90),
]

BACKLOG = ("- id: T-1\n  title: Add a greeting\n  body: Write hello.txt.\n"
           "- id: T-2\n  title: Add a farewell\n  body: Write bye.txt.\n")
CONTINUE = "Your usage limit has reset. Continue the task where you left off."


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_limit_seen_waited_out_and_continued_once(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit lifts on a whole minute, ten minutes ahead (the CLI shows it to the minute).
    reset = datetime.fromtimestamp(math.ceil(time.time() / 60) * 60 + 600, UTC)
    with AnthropicServer() as api:
        api.script.on_prompt("Task T-1", usage_limit(reset.timestamp()))
        api.script.on_prompt("usage limit has reset", text("Back at it: hello.txt next."))
        config = claude_project(git_repo, tmp_path / "home", api.url, monkeypatch, backlog=BACKLOG, plan=True)
        engine = Engine(load_config(str(config)))
        clock = Clock()
        try:
            assert engine.start(leader_loop)
            engine._loop.limits.clock = clock
            s = engine.spawn(task_id="T-1")

            def screen() -> str:
                try:
                    return engine.peek(s.id)
                except Exception as exc:  # noqa: BLE001 - only for failure messages
                    return repr(exc)

            # What users see on screen, and ao's reading of it: rate_limited with the reset time.
            wait_until(lambda: "You've hit your" in screen(), timeout=40, message=screen)
            limited = wait_until(lambda: (x := engine.session(s.id)).activity.state is ActivityState.RATE_LIMITED
                                 and x, timeout=10, message=lambda: f"{engine.session(s.id).activity}\n{screen()}")
            assert limited.activity.until == reset + timedelta(minutes=1), limited.activity
            assert limited.activity.detail.startswith("You've hit your")
            assert limited.status.value == "working", "waiting out a limit needs nobody"
            row = next(r for r in json.loads(subprocess.run(
                [sys.executable, "-m", "ao_tui.cli", "--config", str(config), "ls", "--json"],
                capture_output=True, text=True, timeout=30).stdout) if r["id"] == s.id)
            assert (row["activity"], row["activity_until"]) == ("rate_limited", limited.activity.until.isoformat())
            kinds = [e.kind for e in engine.events(s.id)]
            assert "usage_limit" in kinds

            # The account is limited: no new session starts on it until the reset.
            with pytest.raises(AoError, match="usage limit until"):
                engine.spawn(task_id="T-2")
            assert [x.id for x in engine.sessions()] == [s.id]

            # Before the reset nothing is typed; at the reset the continue message, once.
            time.sleep(2.5)  # a loop tick or more
            assert CONTINUE not in user_turns(transcript_of(engine, s))
            # Newer Claude Code says it continues by itself at the reset ("set to continue automatically"):
            # ao then gives it SELF_RESUME_GRACE to do so (its own clock is real time here, so it does not).
            clock.now = limited.activity.until.timestamp() + 0.5
            if "continue automatically" in screen():
                engine._loop.wake()
                time.sleep(2.5)
                assert CONTINUE not in user_turns(transcript_of(engine, s))
                clock.now += SELF_RESUME_GRACE
            engine._loop.wake()
            wait_until(lambda: "Back at it" in screen(), timeout=20,
                       message=lambda: f"{screen()}\n{engine.store.claims(s.id)}\n{engine.store.pending_messages()}"
                       f"\n{user_turns(transcript_of(engine, s))} {len(api.main_requests)} {api.script.unmatched}")
            wait_until(lambda: engine.session(s.id).activity.state is ActivityState.IDLE, timeout=10,
                       message=lambda: str(engine.session(s.id).activity))
            # The clock jumps back an hour and forward again: still one continue.
            clock.now -= 3600
            engine._loop.wake()
            time.sleep(0.5)
            clock.now += 7200
            engine._loop.wake()
            time.sleep(2.5)
            turns = user_turns(transcript_of(engine, s))
            assert turns.count(CONTINUE) == 1, turns
            assert sum(1 for e in engine.events(s.id) if e.kind == "usage_limit_reset") == 1
            # The account took new sessions again once the limit lifted (by the loop's clock).
            s2 = engine.spawn(task_id="T-2")
            assert s2.id != s.id
        finally:
            engine.stop()
