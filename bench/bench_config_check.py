"""What checking the config costs at start-up, and how long ``ao doctor`` takes.

    python bench/bench_config_check.py

``check_projects`` (run by ``ao config check``, ``ao spawn``, ``ao run`` and ``ao-tui`` before
its first frame) now loads each configured plugin's class to check its options against its
``Options`` model: the figure is its time in a fresh interpreter that has already imported
what ``ao-tui`` imports first (config, engine, the Textual app), so it is what the check adds.
``ao doctor`` is timed end to end as a subprocess (its agent check runs ``claude --version``
when the Claude Code CLI is installed). Before typed plugin options the check read only the
entry points (measured the same way on f7ae949: 3-45 ms at load 13-16). Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7

CHILD = """
import json, sys, time
import ao_tui.tui.app, ao_tui.engine
from ao_tui.config import check_projects, load_config
config = load_config(sys.argv[1])
started = time.perf_counter()
check_projects(config)
print(json.dumps({"check_s": time.perf_counter() - started}))
"""


def _project(tmp: Path) -> Path:
    repo = tmp / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    config = tmp / "ao.config.yaml"
    config.write_text("projects:\n  app:\n    repo: app\n    scm: {plugin: local, ci: [pytest], poll_interval: 3s}\n"
                      "    workspace: {plugin: worktree, setup: make}\n    notifiers: [terminal, desktop]\n")
    return config


def main() -> int:
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: modules load from bytecode, not compiled each run
    claude = ROOT / ".tools" / "node_modules" / ".bin" / "claude"
    if claude.exists():
        env.setdefault("AO_CLAUDE_BIN", str(claude))
    with tempfile.TemporaryDirectory() as tmp:
        config = _project(Path(tmp))
        env["AO_HOME"] = str(Path(tmp) / "ao-home")
        checks, doctors = [], []
        for _ in range(RUNS):
            out = subprocess.run([sys.executable, "-c", CHILD, str(config)], capture_output=True, text=True,
                                 env=env, cwd=ROOT, check=True).stdout
            checks.append(json.loads(out.splitlines()[-1])["check_s"])
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "doctor"],
                           capture_output=True, env=env, cwd=tmp)
            doctors.append(time.perf_counter() - started)
    print(json.dumps({
        "runs": RUNS,
        "check_projects_median_ms": round(1000 * statistics.median(checks), 1),
        "check_projects_max_ms": round(1000 * max(checks), 1),
        "doctor_median_s": round(statistics.median(doctors), 2),
        "doctor_max_s": round(max(doctors), 2),
        "load_average": os.getloadavg()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
