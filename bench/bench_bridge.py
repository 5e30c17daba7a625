"""Chat bridge: from the engine's event to the message at the chat service.

    python bench/bench_bridge.py [--runs 50]

A real engine (SQLite store, a real git repository) with each bridge running as
in ``ao run`` (its own thread and event loop), pointed at the local fakes:
Telegram's Bot API (tests/support/telegram_server.py, long polling) and Slack's
Web API and Socket Mode (tests/support/slack_server.py). Each run escalates a
session (``Engine.escalate``: the session comes to *Needs you*) and measures
until the fake has received the message (``sendMessage`` / ``chat.postMessage``)
carrying the notice and its button. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="ao-bench-bridge-"))
    os.environ["AO_HOME"] = str(home / "ao-home")
    os.environ["AO_TMUX_SOCKET"] = f"ao-bench-{uuid.uuid4().hex[:8]}"
    from ao_tui.bridges import start_bridges
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import Session, SessionStatus
    from tests.support.gitrepo import make_repo
    from tests.support.telegram_server import FakeTelegram

    repo = make_repo(home)
    from tests.support.slack_server import FakeSlack

    with FakeTelegram() as telegram, FakeSlack() as slack:
        os.environ["AO_BENCH_TELEGRAM_TOKEN"] = telegram.token
        os.environ["AO_BENCH_SLACK_BOT"], os.environ["AO_BENCH_SLACK_APP"] = slack.bot_token, slack.app_token
        config = home / "ao.config.yaml"
        config.write_text(json.dumps({
            "projects": {"demo": {"repo": str(repo), "session_prefix": "dm", "notifiers": []}},
            "bridges": {"telegram": {"token_env": "AO_BENCH_TELEGRAM_TOKEN", "base_url": telegram.url,
                                     "allowed_users": [111]},
                        "slack": {"token_env": "AO_BENCH_SLACK_BOT", "app_token_env": "AO_BENCH_SLACK_APP",
                                  "base_url": slack.api_url, "allowed_users": ["U1"], "channel": "C1"}},
        }))
        engine = Engine(load_config(str(config)))
        engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace=str(repo),
                                            runtime_handle="dm-1", task_title="Bench"))
        engine.store.transition("dm-1", SessionStatus.WORKING)
        runner, problems = start_bridges(engine)
        assert runner is not None and not problems, problems
        slack.wait_for(lambda: slack.connections, what="Socket Mode")
        time.sleep(0.5)
        latencies: dict[str, list[float]] = {"telegram": [], "slack": []}
        for n in range(args.runs):
            before = {"telegram": len(telegram.sent), "slack": len(slack.sent)}
            started = time.monotonic()
            engine.escalate("dm-1", f"CI failed 3 times (run {n})")
            for name, fake in (("telegram", telegram), ("slack", slack)):
                message = fake.wait_for(lambda f=fake, b=before[name]: len(f.sent) > b and f.sent[b], 5.0)
                latencies[name].append((message["at"] - started) * 1000)
            time.sleep(0.05)
        runner.stop()
        engine.store.close()
    print(f"load average: {os.getloadavg()[0]:.1f}")
    for name, values in latencies.items():
        ordered = sorted(values)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        print(f"engine event -> {name} message ({len(ordered)} runs): median {statistics.median(ordered):.1f} ms, "
              f"p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms")

if __name__ == "__main__":
    main()
