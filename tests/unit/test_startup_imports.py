"""What `ao ls` and ao-tui's path to its first frame load: heavy modules stay off both.

A structural check, not a timed one (timings are bench/bench_follow.py ls and bench_tui.py startup):
each runs in a fresh interpreter and the test looks at ``sys.modules`` afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ao_tui.config import load_config
from ao_tui.engine import Engine

#: Never needed to list sessions: the watch loop and what only it uses, the other front ends,
#: the event loop and thread pools, and the third-party libraries behind plugins and the chat.
HEAVY = ("asyncio", "concurrent.futures", "ssl", "ao_tui.engine_loop", "ao_tui.budget", "ao_tui.limit_resume",
         "ao_tui.orchestrator", "ao_tui.tui", "ao_tui.bridges", "ao_tui.doctor", "ao_tui.hosts",
         "ao_tui_plugins.pty_supervisor", "anthropic", "github", "git", "libtmux", "textual", "watchfiles",
         "hypothesis", "pyte", "requests", "httpx")
#: Before ao-tui's first frame (Textual and its event loop are its own): the libraries plugins and the chat
#: use only when they act.
HEAVY_BEFORE_FIRST_FRAME = ("anthropic", "github", "git", "libtmux", "watchfiles", "hypothesis", "pyte",
                            "requests", "httpx", "ao_tui.orchestrator", "ao_tui.bridges")


def loaded(names: tuple[str, ...], modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def run_fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_ao_ls_reads_a_live_agent_without_loading_heavy_modules(ao_home: Path, git_repo: Path, tmp_path: Path):
    config = tmp_path / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "im", "notifiers": [],
        "agent": {"command": [sys.executable, "-c", "import time; time.sleep(120)"]},
    }}}))
    engine = Engine(load_config(str(config)))
    session = engine.spawn(prompt="wait")
    line = {"hook_event_name": "PermissionRequest", "session_id": session.id, "cwd": session.workspace,
            "at": time.time(), "tool_name": "Write", "tool_input": {"file_path": "a.py"}}
    engine.events_file(session.id).write_text(json.dumps(line) + "\n")  # as the agent's hook writes it
    engine.store.close()

    got = run_fresh(
        "import contextlib, io, json, sys\n"
        "import ao_tui.cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = ao_tui.cli.main(['--config', {str(config)!r}, 'ls'])\n"
        "print(json.dumps({'code': code, 'out': out.getvalue(), 'modules': sorted(sys.modules)}))\n"
    )
    assert got["code"] == 0
    assert session.id in got["out"] and "waiting_permission" in got["out"]  # read from its files: the whole path ran
    assert loaded(HEAVY, got["modules"]) == []


def test_ao_tui_checks_its_config_without_loading_plugin_libraries(git_repo: Path, tmp_path: Path):
    """The typed-options check loads each configured plugin's module for its options, never the
    library the plugin talks through (PyGithub, Linear's client, ...)."""
    config = tmp_path / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {
        "repo": str(git_repo), "session_prefix": "im",
        "scm": {"plugin": "github", "merge_method": "rebase"}, "tracker": {"plugin": "github"},
    }}}))
    got = run_fresh(
        "import json, sys\n"
        "from ao_tui.config import check_projects, load_config\n"
        "from ao_tui.engine import Engine\n"
        f"config = load_config({str(config)!r})\n"
        "check_projects(config)\n"  # as ao-tui does before its first frame
        "Engine(config)\n"
        "print(json.dumps({'modules': sorted(sys.modules)}))\n"
    )
    assert "ao_tui_plugins.scm_github" in got["modules"]  # its options were checked
    assert loaded(HEAVY_BEFORE_FIRST_FRAME, got["modules"]) == []
