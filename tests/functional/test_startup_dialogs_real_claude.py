"""Several real Claude Code agents started at once in one HOME all reach their first turn.

Agents starting together rewrite ``~/.claude.json`` over each other (not atomically, each from
its own copy) and can drop the trust mark ao wrote for another's workspace; Claude Code 2.1.3xx
also moves the bypass acceptance on first start. Whatever a start-up dialog asks that ao had
already decided (trust for its own worktree, bypass when the config asked for it), ao answers
it once and records that as a "startup_dialog" event. Here no bypass acceptance is on record at
first, so the first agents show that dialog (once answered, Claude Code records the acceptance in
the shared HOME, and an agent starting after that, on a loaded machine, is not asked); trust is
lost or not, depending on the race.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.orchestrator.loop_hooks import leader_loop
from tests.conftest import claude_bin
from tests.support.anthropic_server import AnthropicServer, text
from tests.support.claude_project import claude_project, needs_worktree
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.claude,
    pytest.mark.slow,
    pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed"),
    needs_worktree,
    pytest.mark.timeout(150),
]

AGENTS = 6


def test_six_agents_started_at_once_in_one_home_all_reach_their_first_turn(
    tmp_path: Path, git_repo: Path, ao_home: Path, tmux_socket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    with AnthropicServer() as api:
        for n in range(1, AGENTS + 1):
            api.script.on_prompt(f"Agent {n} says hi", text(f"Hello back to agent {n}."))
        config = claude_project(git_repo, home, api.url, monkeypatch)
        # A user who never accepted bypass mode: each agent asks, and ao answers as its config says.
        claude_json = json.loads((home / ".claude.json").read_text())
        claude_json.pop("bypassPermissionsModeAccepted")
        (home / ".claude.json").write_text(json.dumps(claude_json))
        (home / ".claude" / "settings.json").write_text("{}")
        engine = Engine(load_config(str(config)))
        try:
            assert engine.start(leader_loop)
            sessions = [engine.spawn(prompt=f"Agent {n} says hi") for n in range(1, AGENTS + 1)]

            def screens() -> str:
                out = []
                for s in sessions:
                    try:
                        out.append(f"--- {s.id}\n{engine.peek(s.id)}")
                    except Exception as exc:  # noqa: BLE001 - only for failure messages
                        out.append(f"--- {s.id}: {exc!r}")
                return "\n".join(out)

            wait_until(lambda: api.script.pending() == [], timeout=120, interval=0.5,
                       message=lambda: f"{api.script.pending()}\n{screens()}")
            bypass_answered = 0
            for n, s in enumerate(sessions, 1):
                wait_until(lambda: f"Hello back to agent {n}." in engine.peek(s.id), timeout=20,
                           message=lambda: engine.peek(s.id))
                answered = [e.data["answered"] for e in engine.events(s.id) if e.kind == "startup_dialog"]
                bypass_answered += answered.count("bypass-permissions dialog")
                assert all(a == "bypass-permissions dialog" or a.startswith("trust dialog for ") for a in answered)
            assert bypass_answered >= 1
        finally:
            engine.stop()
