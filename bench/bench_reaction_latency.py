"""Issue 5's figure end to end: CI finishing red → the failure message submitted to an idle agent.

Everything is the real engine: ``Engine.start(leader_loop)`` (the loop ``ao run`` runs),
a session in a real git worktree and tmux pane, the real ``LocalSCM`` running a
failing CI command, ``pr_evaluation.evaluate``, ``ReactionRunner``, the SQLite
outbox and the tmux runtime's paste-then-Enter. Each run commits a new head
while the agent sits at its prompt; the clock runs from the CI run's
``finished_at`` (written by the CI thread) to the engine's ``message`` event
(written once the text was pasted and Enter pressed).

The agent is ``--agent stand-in`` (tests/support/hooked_stand_in.py: fires
Claude Code's hooks, so activity comes from them; default) or ``--agent
claude``: the real Claude Code CLI against the scripted server of
tests/support/anthropic_server.py, answering every message with one line.

Run: ``python bench/bench_reaction_latency.py [--runs N] [--agent stand-in|claude]``.
Needs tmux and git (and the ``claude`` CLI for ``--agent claude``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

FAILING_CI = f"{sys.executable} -c \"print('FAILED test_calc.py::test_add - assert -1 == 5'); raise SystemExit(1)\""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def wait(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--agent", choices=["stand-in", "claude"], default="stand-in")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        socket = f"ao-bench-{uuid.uuid4().hex[:8]}"
        os.environ.update(AO_HOME=str(root / "ao-home"), AO_TMUX_SOCKET=socket, AO_STANDIN_DIR=str(root / "standin"))
        os.environ.pop("AO_CONFIG", None)
        from tests.support.gitrepo import make_repo

        repo = make_repo(root)
        agent: dict[str, object] = {"command": [sys.executable, str(ROOT / "tests" / "support" / "hooked_stand_in.py")]}
        api = None
        if args.agent == "claude":
            from tests.conftest import claude_bin
            from tests.support.anthropic_server import AnthropicServer, text
            from tests.support.claude_env import claude_env

            if claude_bin() is None:
                raise SystemExit("the claude CLI is not installed")
            api = AnthropicServer().start()
            api.script.always(text("Noted, looking at it."))
            env = claude_env(root / "home", [], api.url, inherit=False)
            os.environ.update(env)
            agent = {"command": [claude_bin()], "model": "claude-sonnet-4-5", "permission_mode": "bypassPermissions",
                     "env": {**{k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}, "IS_SANDBOX": "1"}}
        config = root / "ao.config.yaml"
        config.write_text(json.dumps({"projects": {"bench": {
            "repo": str(repo), "session_prefix": "b", "agent": agent, "notifiers": [],
            "scm": {"plugin": "local", "ci": [FAILING_CI]},
            "reactions": {"ci_failed": {"action": "send_to_agent"}},
        }}}))

        from ao_tui.config import load_config
        from ao_tui.engine import Engine
        from ao_tui.models import ActivityState
        from ao_tui.orchestrator.loop_hooks import leader_loop

        engine = Engine(load_config(str(config)))
        try:
            assert engine.start(leader_loop)
            s = engine.spawn(prompt="Say hello.")
            ws = Path(s.workspace)
            (root / "standin" / s.id).mkdir(parents=True, exist_ok=True)
            (root / "standin" / s.id / "release").touch()  # the stand-in's first turn ends at once
            wait(lambda: engine.session(s.id).activity.state is ActivityState.IDLE, 60, "the agent at its prompt")
            (ws / "f.txt").write_text("0")
            git(ws, "add", "f.txt")
            git(ws, "commit", "-qm", "c0")
            engine.open_pr(s.id)
            scm = engine.scm("bench")
            latencies = []
            for i in range(args.runs + 1):
                wait(lambda: engine.session(s.id).activity.state is ActivityState.IDLE, 60, "the agent idle")
                if i:
                    (ws / "f.txt").write_text(str(i))
                    git(ws, "commit", "-qam", f"c{i}")
                head = git(ws, "rev-parse", "HEAD")
                key = f"{s.id}:ci_failed:{head}"
                engine._loop.wake()  # noqa: SLF001 - as a new commit's activity would
                sent = wait(lambda: next((e for e in engine.events(s.id)
                                          if e.kind == "message" and e.data.get("key") == key), None),
                            60, f"the message for {head[:10]}")
                status = json.loads((scm.ci.ci_dir(repo, head) / "status.json").read_text())
                if i:  # the first run warms up (imports, first CI)
                    latencies.append(sent.at.timestamp() - datetime.fromisoformat(status["finished_at"]).timestamp())
        finally:
            engine.stop()
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
            if api is not None:
                api.stop()
    print(json.dumps({
        "bench": "reaction_latency_ci_red_to_submitted",
        "agent": args.agent,
        "runs": len(latencies),
        "median_s": round(statistics.median(latencies), 3),
        "max_s": round(max(latencies), 3),
        "target_s": 2.0,
    }))


if __name__ == "__main__":
    main()
