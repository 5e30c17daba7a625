"""Usage limits (issue 14): a fleet of real Claude Code agents hits its plan's limit at once and is continued.

Each session is the real Claude Code CLI signed in to a plan (``CLAUDE_CODE_OAUTH_TOKEN``)
in tmux against the scripted server (tests/support/anthropic_server.py), which answers
every task with the API's usage-limit 429 (``rate_limit_error`` + ``anthropic-ratelimit-unified-*``).
The engine runs as in ``ao run``; its usage-limit clock is moved to the reset by this script
(the real reset is minutes away, and the CLI shows it only to the minute).

Figures:
- ``detect_ms``: from the synthetic limit record appearing in the agent's transcript (the record's
  own timestamp, written by the CLI on this machine's clock) to the session showing ``rate_limited`` in the store (what ``ao ls``
  and the control room read). Target: under 1 s.
- ``typed_s``: from the reset to each continue message typed into its agent (ao's part);
  ``resume_s``: to each agent's continue request reaching the API (ao's part plus the CLI's).
  Target: all within 5 s, and each agent's continue message sent exactly once (``continues`` per session).

Run: ``python bench/bench_rate_limits.py [--sessions 20]``. Needs tmux, git and the claude CLI
(``scripts/setup`` puts it in .tools/). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

CONTINUE = "Your usage limit has reset. Continue the task where you left off."


def wait(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what() if callable(what) else what}")


def _records(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    n = args.sessions

    from tests.conftest import claude_bin
    from tests.support.anthropic_server import AnthropicServer, MessagesRequest, Reply, text, usage_limit
    from tests.support.claude_env import claude_env
    from tests.support.gitrepo import make_repo

    if claude_bin() is None:
        raise SystemExit("the claude CLI is not installed (scripts/setup)")
    reset_at = math.ceil(time.time() / 60) * 60 + 900
    continues: dict[str, list[float]] = {}
    all_started = threading.Event()
    lock = threading.Lock()

    def respond(req: MessagesRequest) -> Reply:
        if req.is_side_request:  # titles, quota probes, suggestions: not the conversation
            return text("ok")
        first = next((m for m in req.messages if m.get("role") == "user"), {})
        task = next((line for line in json.dumps(first.get("content")).split("\\n") if "Task T-" in line), "")
        if CONTINUE in req.last_user_text:
            with lock:
                continues.setdefault(task, []).append(time.time())
            return text("Back at it.")
        return usage_limit(reset_at).held_until(all_started)  # the whole fleet hits the limit together

    with tempfile.TemporaryDirectory() as tmp, AnthropicServer(respond) as api:
        root = Path(tmp)
        socket = f"ao-bench-{uuid.uuid4().hex[:8]}"
        os.environ.update(AO_HOME=str(root / "ao-home"), AO_TMUX_SOCKET=socket)
        os.environ.pop("AO_CONFIG", None)
        repo = make_repo(root)
        backlog = "".join(f"- id: T-{i}\n  title: Task number {i}\n  body: Do part {i}.\n" for i in range(1, n + 1))
        (repo / "backlog.yaml").write_text(backlog)
        subprocess.run(["git", "-C", str(repo), "add", "backlog.yaml"], check=True)
        subprocess.run(["git", "-C", str(repo), "commit", "-qm", "backlog"], check=True)
        # Every workspace trusted up front: twenty Claude Codes starting at once rewrite ~/.claude.json
        # with their own copy and drop trust entries ao adds meanwhile (seen: 3 of 20 at the trust dialog).
        workspaces = [root / "ao-home" / "workspaces" / "bench" / f"b-{i}" for i in range(1, n + 1)]
        env = claude_env(root / "home", workspaces, api.url, inherit=False, plan=True)
        os.environ.update(env)
        os.environ.pop("ANTHROPIC_API_KEY", None)
        agent_env = {k: v for k, v in env.items() if k != "CLAUDE_CODE_OAUTH_TOKEN"}
        agent_env["IS_SANDBOX"] = "1"
        config = root / "ao.config.yaml"
        config.write_text(json.dumps({"projects": {"bench": {
            "repo": str(repo), "session_prefix": "b", "notifiers": [], "max_sessions": n + 5,
            "agent": {"command": [claude_bin()], "model": "claude-sonnet-4-5",
                      "permission_mode": "default", "env": agent_env},  # no bypass dialog: the agents run no tools
        }}}))

        from ao_tui.config import load_config
        from ao_tui.engine import Engine
        from ao_tui.models import ActivityState, Session
        from ao_tui.orchestrator.loop_hooks import leader_loop

        engine = Engine(load_config(str(config)))
        shown: dict[str, float] = {}

        def on_change(s: Session) -> None:
            if s.activity.state is ActivityState.RATE_LIMITED and s.id not in shown:
                shown[s.id] = time.time()

        engine.subscribe(on_change)
        clock = Clock()
        load_before = os.getloadavg()[0]
        try:
            assert engine.start(leader_loop)
            engine._loop.limits.clock = clock  # noqa: SLF001
            sessions = [engine.spawn(task_id=f"T-{i}") for i in range(1, n + 1)]
            all_started.set()
            def stragglers() -> str:
                out = []
                for x in engine.sessions():
                    if x.id not in shown:
                        try:
                            screen = engine.peek(x.id)
                        except Exception as exc:  # noqa: BLE001
                            screen = repr(exc)
                        out.append(f"--- {x.id} {x.activity}\n{screen[-1500:]}")
                return "\n".join(out)

            wait(lambda: len(shown) == n, 300, lambda: f"{n} sessions rate_limited ({len(shown)} so far)\n"
                 + stragglers())
            load_limited = os.getloadavg()[0]
            detect = []
            for s in sessions:
                path = engine.agent(s).transcript_path(engine.launch_spec(s))  # noqa: SLF001
                written = wait(lambda: next((r["timestamp"] for r in _records(path) if r.get("isApiErrorMessage")),
                                            None), 10, f"the limit record in {path}")
                detect.append((shown[s.id] - datetime.fromisoformat(written).timestamp()) * 1000)
            until = {engine.session(s.id).activity.until for s in sessions}
            assert len(until) == 1, until
            refused = ""
            try:
                engine.spawn(prompt="one more")
            except Exception as exc:  # noqa: BLE001 - the account is limited: refused
                refused = str(exc)
            time.sleep(3)
            assert not continues, "nothing is sent before the reset"
            the_reset = next(iter(until)).timestamp()
            moved = time.time()
            clock.now = the_reset  # the reset comes
            engine._loop.wake()  # noqa: SLF001 - as its 2 s tick would
            wait(lambda: len(continues) == n, 60, f"{n} continues ({len(continues)} so far)")
            time.sleep(5)  # and nothing more
            resume = sorted(v[0] - moved for v in continues.values())
            typed = sorted(e.at.timestamp() - moved for s in sessions for e in engine.events(s.id)
                           if e.kind == "message" and ":usage_limit_continue:" in str(e.data.get("key")))
            result = {
                "sessions": n,
                "detect_ms_median": round(statistics.median(detect), 1),
                "detect_ms_max": round(max(detect), 1),
                "typed_s_first": round(typed[0], 2),  # ao's part: the continue typed into the agent
                "typed_s_last": round(typed[-1], 2),
                "resume_s_first": round(resume[0], 2),  # and the agent's request reaching the API
                "resume_s_last": round(resume[-1], 2),
                "continues_per_session": sorted({len(v) for v in continues.values()}),
                "spawn_while_limited": "refused" if refused else "allowed",
                "load_1m_before": round(load_before, 2),
                "load_1m_limited": round(load_limited, 2),
                "cores": os.cpu_count(),
            }
        finally:
            engine.stop()
            subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
