"""Issue 5's local-SCM story with the engine loop running and the real Claude Code CLI.

Two agents work at once against one scripted model:

* rc-1 commits a change that breaks the project's tests and says READY; ao
  opens its PR, CI goes red, the ``ci_failed`` reaction sends the failing log
  to that agent (it arrives as a user turn in its transcript, naming the
  failing test); the model fixes it; CI goes green; a change request with a
  comment reaches the agent and leads to a change; the human approves and
  merges; the merge lands on main.
* rc-2 breaks the tests, is told once (``retries: 0``), "fixes" it wrongly,
  and is escalated: *Needs you*, with the reason; the human's hint leads to a
  fix, CI goes green and the session leaves *Needs you*.

It also measures the issue's figure: from the CI run finishing red to the
message being submitted to the idle agent (target < 2 s).
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime
from pathlib import Path

import pytest

from ao_tui.attention import Zone, zone_of
from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import CheckState, Session, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.claude_project import claude_project, needs_worktree, transcript_of, user_turns
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(120),
]

CALC = "def add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
BROKEN = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
DOCUMENTED = 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    """a minus b."""\n    return a - b\n'
BROKEN_MUL = "def add(a, b):\n    return a * b\n\n\ndef mul(a, b):\n    return a * b\n"
FIXED_MUL = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
STILL_BROKEN = "def add(a, b):\n    return b * a\n\n\ndef mul(a, b):\n    return a * b\n"


def write_and_commit(content: str, subject: str, tool_id: str) -> object:
    """One Bash call: replace calc.py and commit it (cwd is the session's worktree)."""
    command = f"printf %s {shlex.quote(content)} > calc.py && git add calc.py && git commit -q -m {shlex.quote(subject)}"
    return tool_use("Bash", {"command": command, "description": subject}, id=tool_id)


def turn(api: AnthropicServer, prompt: str, content: str, subject: str, tool_id: str, done: str) -> None:
    api.script.on_prompt(prompt, text("On it.") + write_and_commit(content, subject, tool_id))
    api.script.on_tool_result(tool_id, text(done))


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def test_ci_failure_fix_review_merge_and_escalation(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AnthropicServer() as api:
        # rc-1: break, fix after the CI message, change after the review, merged.
        turn(api, "Add a sub function", BROKEN, "Add sub", "toolu_a1", "Added sub.\n\nREADY")
        turn(api, "CI failed on your branch ao/rc-1", FIXED, "Fix add", "toolu_a2", "Fixed add.\n\nREADY")
        turn(api, "sub needs a docstring", DOCUMENTED, "Document sub", "toolu_a3", "Documented.\n\nREADY")
        # rc-2: break, a wrong fix, escalated.
        turn(api, "Add a mul function", BROKEN_MUL, "Add mul", "toolu_b1", "Added mul.\n\nREADY")
        turn(api, "CI failed on your branch ao/rc-2", STILL_BROKEN, "Fix add?", "toolu_b2", "Fixed, I think.\n\nREADY")
        turn(api, "add must return a + b", FIXED_MUL, "Fix add", "toolu_b3", "Fixed.\n\nREADY")

        config = claude_project(
            git_repo, tmp_path / "home", api.url, monkeypatch,
            extra_files={"calc.py": CALC, "test_calc.py": TESTS},
            scm={"plugin": "local", "ci": [f"{sys.executable} -m pytest -q -p no:cacheprovider"]},
            reactions={"ci_failed": {"action": "send_to_agent", "retries": 0},
                       "changes_requested": {"action": "send_to_agent"}},
        )
        # CI inherits ao's environment: the project's tiny suite needs none of the pytest plugins
        # installed here, whose loading takes seconds on a busy machine.
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        engine = Engine(load_config(str(config)))
        assert engine.start(leader_loop)
        try:
            a = engine.spawn(prompt="Add a sub function to calc.py.")
            b = engine.spawn(prompt="Add a mul function to calc.py.")
            transcript_a = transcript_of(engine, a)

            def show(s: Session) -> str:
                cur = engine.session(s.id)
                return (f"{cur.id} {cur.status} {cur.activity} pr={cur.pr and (cur.pr.ci, cur.pr.review)}"
                        f" pending={api.script.pending()}\n{engine.peek(s.id)}")

            def turns_with(s: Session, needle: str) -> list[str]:
                return [t for t in user_turns(transcript_of(engine, s)) if needle in t]

            # CI goes red and the failing log reaches rc-1 as a user turn naming the failing test.
            failure = wait_until(lambda: turns_with(a, "CI failed on your branch ao/rc-1"), timeout=40,
                                 message=lambda: show(a))[0]
            assert "test_add" in failure and "assert -1 == 5" in failure
            red = engine.session(a.id)
            assert red.pr is not None and red.pr.number is not None
            commits = dict(line.split(" ", 1)[::-1] for line in git(git_repo, "log", "--format=%H %s", "ao/rc-1").splitlines())
            broken_sha = commits["Add sub"]
            assert broken_sha[:10] in failure
            assert git(git_repo, "show", f"{broken_sha}:calc.py") + "\n" == BROKEN

            # The figure: CI finished red → message submitted to the idle agent.
            scm = engine.scm("demo")
            finished = json.loads((scm.ci.ci_dir(git_repo, broken_sha) / "status.json").read_text())["finished_at"]
            sent = next(e for e in engine.events(a.id)
                        if e.kind == "message" and e.data.get("key") == f"rc-1:ci_failed:{broken_sha}")
            latency = sent.at.timestamp() - ts(finished)
            print(f"\nCI red -> message submitted to the idle agent: {latency * 1000:.0f} ms")
            (tmp_path / "latency.txt").write_text(f"{latency:.3f}\n")
            assert latency < 2.0

            # The model fixed it; CI is green on the fix; the PR waits for review.
            def green_on_tip() -> Session | None:
                cur = engine.session(a.id)
                tip = git(git_repo, "rev-parse", "ao/rc-1")
                ok = (cur.pr is not None and cur.pr.head_sha == tip and cur.pr.ci is CheckState.PASSED
                      and cur.status is SessionStatus.REVIEW_PENDING)
                return cur if ok else None

            wait_until(green_on_tip, timeout=30, message=lambda: show(a))
            assert git(git_repo, "log", "-1", "--format=%s", "ao/rc-1") == "Fix add"

            # A change request with a comment reaches the agent and leads to a change.
            requested = engine.request_changes(a.id, "calc.py:5: sub needs a docstring")
            assert requested.status is SessionStatus.CHANGES_REQUESTED
            review = wait_until(lambda: turns_with(a, "sub needs a docstring"), timeout=20,
                                message=lambda: show(a))[0]
            assert "calc.py:5" in review
            wait_until(lambda: git(git_repo, "log", "-1", "--format=%s", "ao/rc-1") == "Document sub", timeout=20,
                       message=lambda: show(a))
            wait_until(green_on_tip, timeout=30, message=lambda: show(a))

            # The human approves and merges; the merge lands on main.
            approved = engine.approve(a.id)
            assert approved.status is SessionStatus.MERGEABLE and zone_of(approved) is Zone.READY_TO_MERGE
            merged = engine.merge(a.id)
            assert merged.status is SessionStatus.MERGED
            assert git(git_repo, "show", "main:calc.py") + "\n" == DOCUMENTED
            assert len(turns_with(a, "CI failed")) == 1, "one failure, one message"

            # rc-2: told once, failed again: escalated to the human with the reason.
            escalated = wait_until(lambda: (cur := engine.session(b.id)).escalation and cur, timeout=40,
                                   message=lambda: show(b))
            assert escalated.status is SessionStatus.CI_FAILED and zone_of(escalated) is Zone.NEEDS_YOU
            assert "retries exhausted" in escalated.escalation
            assert len(turns_with(b, "CI failed on your branch ao/rc-2")) == 1
            assert any(e.kind == "escalated" for e in engine.events(b.id))
            # The human helps; once CI is green the session leaves *Needs you*.
            engine.send(b.id, "Hint: add must return a + b.")
            helped = wait_until(lambda: (cur := engine.session(b.id)).status is SessionStatus.REVIEW_PENDING and cur, timeout=30,
                                message=lambda: show(b))
            assert helped.escalation == "" and zone_of(helped) is Zone.IN_REVIEW
            assert helped.pr is not None and helped.pr.ci is CheckState.PASSED
            assert transcript_a is not None
        finally:
            engine.stop()
        assert api.script.pending() == []
