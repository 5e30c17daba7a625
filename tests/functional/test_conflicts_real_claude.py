"""Issue 13's story with the real Claude Code CLI: two agents edit the same function; ao flags both
before either opens a PR, tells the one that committed later (a user turn in its transcript naming the
other session, the file and both sides of the hunk), and that agent rebases onto the other's branch and
resolves the conflict, after which nothing is left to collide.

The model is scripted (tests/support/anthropic_server.py); the CLI, tmux, git and the engine loop are real.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.claude_project import claude_project, needs_worktree, transcript_of, user_turns
from tests.support.gitrepo import git
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.slow,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(150),
]

CALC = "def add(a, b):\n    return a + b\n"
NONE_SAFE = "def add(a, b):\n    return (a or 0) + (b or 0)\n"
ROUNDED = "def add(a, b):\n    return round(a + b, 2)\n"
BOTH = "def add(a, b):\n    return round((a or 0) + (b or 0), 2)\n"


def commit_calc(content: str, subject: str, tool_id: str, *, after: int = 0) -> object:
    command = (f"sleep {after} && " if after else "") + (
        f"printf %s {shlex.quote(content)} > calc.py && git add calc.py && git commit -q -m {shlex.quote(subject)}")
    return tool_use("Bash", {"command": command, "description": subject}, id=tool_id)


def test_two_real_agents_on_the_same_function_are_flagged_and_the_later_one_resolves_it(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("Make add treat None as 0", text("On it.") + commit_calc(NONE_SAFE, "None-safe add", "toolu_c1"))
        api.script.on_tool_result("toolu_c1", text("Done: add treats None as 0."))
        api.script.on_prompt("Make add round to cents", text("On it.") + commit_calc(ROUNDED, "Round add", "toolu_c2", after=3))
        api.script.on_tool_result("toolu_c2", text("Done: add rounds."))
        resolve = (f"git rebase ao/cf-1 >/dev/null 2>&1 || (printf %s {shlex.quote(BOTH)} > calc.py && git add calc.py"
                   " && GIT_EDITOR=true git rebase --continue)")
        api.script.on_prompt("Heads-up from ao", text("I will rebase onto their branch.")
                             + tool_use("Bash", {"command": resolve, "description": "Rebase onto ao/cf-1"}, id="toolu_c3"))
        api.script.on_tool_result("toolu_c3", text("Rebased onto ao/cf-1 and kept both changes."))

        config = claude_project(git_repo, tmp_path / "home", api.url, monkeypatch, prefix="cf",
                                extra_files={"calc.py": CALC})
        engine = Engine(load_config(str(config)))
        assert engine.start(leader_loop)
        try:
            # Both start at once (like a fleet); the second commits a few seconds after the first.
            first = engine.spawn(prompt="Make add treat None as 0.")
            second = engine.spawn(prompt="Make add round to cents.")
            wait_until(lambda: "None-safe add" in git(git_repo, "log", "--format=%s", first.branch), timeout=60,
                       message=lambda: engine.peek(first.id))
            wait_until(lambda: "Round add" in git(git_repo, "log", "--format=%s", second.branch), timeout=60,
                       message=lambda: engine.peek(second.id))
            # Both rows are marked before either has a PR.
            wait_until(lambda: any(c["conflict"] for c in engine.session(first.id).extra.get("conflicts", [])),
                       timeout=30)
            assert engine.session(first.id).pr is None and engine.session(second.id).pr is None
            # The later one is told, as a user turn in its real transcript.
            told = wait_until(lambda: [t for t in user_turns(transcript_of(engine, second)) if "Heads-up from ao" in t],
                              timeout=40, message=lambda: engine.peek(second.id))[0]
            assert "cf-1" in told and "calc.py" in told and "(a or 0) + (b or 0)" in told and "round(a + b, 2)" in told
            assert not [t for t in user_turns(transcript_of(engine, first)) if "Heads-up from ao" in t]
            # It rebased onto the other branch and resolved: its branch holds the other's work, so nothing
            # is left to collide and both marks go.
            wait_until(lambda: git(git_repo, "show", f"{second.branch}:calc.py") + "\n" == BOTH, timeout=40,
                       message=lambda: engine.peek(second.id))
            wait_until(lambda: not engine.session(second.id).extra.get("conflicts")
                       and not engine.session(first.id).extra.get("conflicts"), timeout=30)
            wait_until(lambda: api.script.pending() == [], timeout=30, message=lambda: engine.peek(second.id))
        finally:
            engine.stop()
        assert api.script.pending() == []
