"""Chat bridge: from the engine's event to the message at the chat service.

    python bench/bench_bridge.py [--runs 50]

A real engine (SQLite store, a real git repository) with the Telegram bridge
running as in ``ao run`` (its own thread and event loop, long polling), pointed
at the local Bot API fake (tests/support/telegram_server.py). Each run escalates
a session (``Engine.escalate``: the session comes to *Needs you*) and measures
until the fake has received the ``sendMessage`` carrying the notice and its
button. Prints figures; asserts nothing.
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
    from ao_tui.models import Session
    from ao_tui.models import SessionStatus as S
    from tests.support.gitrepo import make_repo
    from tests.support.telegram_server import FakeTelegram

    repo = make_repo(home)
    with FakeTelegram() as telegram:
        os.environ["AO_BENCH_TELEGRAM_TOKEN"] = telegram.token
        config = home / "ao.config.yaml"
        config.write_text(json.dumps({
            "projects": {"demo": {"repo": str(repo), "session_prefix": "dm", "notifiers": []}},
            "bridges": {"telegram": {"token_env": "AO_BENCH_TELEGRAM_TOKEN", "base_url": telegram.url,
                                     "allowed_users": [111]}},
        }))
        engine = Engine(load_config(str(config)))
        engine.store.insert_session(Session(id="dm-1", project="demo", branch="ao/dm-1", workspace=str(repo),
                                            runtime_handle="dm-1", task_title="Bench"))
        engine.store.transition("dm-1", S.WORKING)
        runner, problems = start_bridges(engine)
        assert runner is not None, problems
        time.sleep(0.5)
        latencies = []
        for n in range(args.runs):
            before = len(telegram.sent)
            started = time.monotonic()
            engine.escalate("dm-1", f"CI failed 3 times (run {n})")
            message = telegram.wait_for(lambda b=before: len(telegram.sent) > b and telegram.sent[b], 5.0)
            latencies.append((message["at"] - started) * 1000)
            time.sleep(0.05)
        runner.stop()
        engine.store.close()
    ordered = sorted(latencies)
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(f"engine event -> Telegram sendMessage ({len(ordered)} runs): median {statistics.median(ordered):.1f} ms, "
          f"p99 {ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]:.1f} ms, max {ordered[-1]:.1f} ms")


if __name__ == "__main__":
    main()
