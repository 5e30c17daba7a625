"""Local SCM: from a CI run finishing red to the failure message in the agent's outbox.

Issue 5's target is "under 2 s to an idle agent". This measures ao's part of
it with real git and a real (failing) CI command: the CI thread finishes, its
listener wakes the watcher (as the engine loop should: ``LocalSCM.add_listener``),
which runs ``pr_status`` -> ``pr_evaluation.evaluate`` -> ``ReactionRunner.handle``
-> ``store.enqueue_message``. Typing the message into an idle agent is the
engine's outbox delivery and is measured with the engine.

Run: ``python bench/bench_reactions_local.py [--runs N]``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from ao_tui.config import ReactionConfig, default_reactions  # noqa: E402
from ao_tui.models import Session, SessionStatus  # noqa: E402
from ao_tui.pr_evaluation import evaluate  # noqa: E402
from ao_tui.reaction_runner import ReactionRunner  # noqa: E402
from ao_tui.registry import create  # noqa: E402
from ao_tui.slots.base import PluginContext  # noqa: E402
from ao_tui.store import Store  # noqa: E402
from ao_tui_plugins.scm_local import LocalSCM  # noqa: E402


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class OutboxHost:
    def __init__(self, store: Store) -> None:
        self.store = store

    def send_to_agent(self, session_id: str, text: str, key: str | None = None) -> None:
        self.store.enqueue_message(session_id, text, key=key)

    def notify(self, *args, **kwargs) -> None: ...
    def merge(self, *args, **kwargs) -> None: ...
    def spawn(self, *args, **kwargs) -> str: return ""
    def escalate(self, *args, **kwargs) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "ao-home"
        os.environ["AO_HOME"] = str(home)
        repo = root / "repo"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        for key, value in (("user.email", "b@example.invalid"), ("user.name", "Bench"), ("commit.gpgsign", "false")):
            git(repo, "config", key, value)
        (repo / "check.py").write_text("import sys\nprint('FAILED tests/test_x.py::test_y - boom')\nsys.exit(1)\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "init")
        ws = home / "workspaces" / "b-1"
        git(repo, "worktree", "add", "-q", "-b", "ao/b-1", str(ws), "main")

        store = Store(home / "ao.sqlite3")
        scm = LocalSCM(PluginContext(ao_home=home, options={"ci": [f"{shlex.quote(sys.executable)} check.py"]}))
        reactions = {**default_reactions(), "ci_failed": ReactionConfig(action="send_to_agent")}
        runner = ReactionRunner(store, lambda p: reactions, OutboxHost(store),
                                lambda name: create("reactions", name, PluginContext(ao_home=home)),
                                ci_logs=lambda s, c: scm.ci_logs(repo, s.pr, c))
        store.insert_session(Session(id="b-1", project="bench", branch="ao/b-1", workspace=str(ws),
                                     status=SessionStatus.WORKING))
        (ws / "f.txt").write_text("0")
        git(ws, "add", "-A")
        git(ws, "commit", "-q", "-m", "c0")
        pr = scm.open_pr(repo, ws, "ao/b-1", "main", "bench", "")
        store.transition("b-1", SessionStatus.PR_OPEN, pr=pr)

        finished = threading.Event()
        finished_at: dict[str, float] = {}

        def on_ci_finished(branch: str, sha: str) -> None:
            finished_at[sha] = time.perf_counter()
            finished.set()

        scm.add_listener(on_ci_finished)
        latencies, processing = [], []
        for i in range(args.runs):
            (ws / "f.txt").write_text(str(i + 1))
            git(ws, "commit", "-q", "-am", f"c{i + 1}")
            head = git(ws, "rev-parse", "HEAD")
            finished.clear()
            scm.pr_status(repo, ws, store.get_session("b-1").pr)  # starts CI for the new head
            if not finished.wait(60):
                raise SystemExit("CI did not finish")
            t0 = time.perf_counter()
            session = store.get_session("b-1")
            fresh = scm.pr_status(repo, ws, session.pr)
            decision = evaluate(session, fresh)
            store.mutate("b-1", lambda s: setattr(s, "pr", fresh), status=decision.status, reason=decision.reason)
            for trigger in decision.triggers:
                runner.handle(trigger)
            done = time.perf_counter()
            assert any(m["key"] == f"b-1:ci_failed:{head}" for m in store.pending_messages("b-1"))
            latencies.append(done - finished_at[head])
            processing.append(done - t0)
        pr_now = store.get_session("b-1").pr
        t0 = time.perf_counter()
        for _ in range(50):
            scm.pr_status(repo, ws, pr_now)  # nothing changed: what each poll costs
        steady_ms = (time.perf_counter() - t0) / 50 * 1000
        store.close()
    print(json.dumps({
        "bench": "reactions_local_ci_red_to_outbox",
        "runs": args.runs,
        "median_s": round(statistics.median(latencies), 4),
        "max_s": round(max(latencies), 4),
        "median_processing_s": round(statistics.median(processing), 4),
        "target_s": 2.0,
        "pr_status_unchanged_ms": round(steady_ms, 2),
    }))


if __name__ == "__main__":
    main()
