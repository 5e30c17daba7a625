"""The demo fleet behind ``ao-tui --demo``: a throwaway project and stand-in agents.

``run_demo_setup()`` makes a temporary directory holding a git repository
(with a bare ``origin``), a backlog of six tasks, a check script used as CI,
and an ``ao.config.yaml`` whose agent is ``ao_tui.demo.fake_claude`` (Claude
Code's argv, screen, transcript and hooks, no network). It points ``AO_HOME``
and ``AO_TMUX_SOCKET`` at private places so the demo never touches real
sessions. ``DemoFleet.start(engine)`` spawns one session per task through the
engine and runs a scripted reviewer (approves one PR, asks for changes on
another, merges it once fixed), so every attention zone fills within seconds.
``DemoFleet.cleanup()`` kills the private tmux server, removes the directory
and restores the environment.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("ao.demo")

PROJECT = "demo"

TASKS: list[dict[str, Any]] = [
    {"id": "T-1", "title": "Add a greet() helper",
     "body": "Create greet.py with greet(name) returning 'Hello, <name>!'.", "depends_on": [], "status": "open"},
    {"id": "T-2", "title": "Add a settings file",
     "body": "The app needs a settings file with its name and a debug flag.", "depends_on": [], "status": "open"},
    {"id": "T-3", "title": "Fix slugify for punctuation",
     "body": "slugify('  Hello, World!  ') must give 'hello-world'.", "depends_on": [], "status": "open"},
    {"id": "T-4", "title": "Document the command line",
     "body": "Add a 'Command line' section to README.md.", "depends_on": [], "status": "open"},
    {"id": "T-5", "title": "Validate the port number",
     "body": "parse_port() must reject ports outside 1-65535.", "depends_on": [], "status": "open"},
    {"id": "T-6", "title": "Run the integration suite",
     "body": "Run the full integration suite and report failures.", "depends_on": ["T-3"], "status": "open"},
]

CHECK_PY = '''"""The demo project's CI: imports every module it knows and checks it."""

import importlib.util
import sys
from pathlib import Path

failures = []


def load(name):
    path = Path(__file__).with_name(name + ".py")
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


slug = load("slug")
if slug is not None:
    got = slug.slugify("  Hello, World!  ")
    if got != "hello-world":
        failures.append(f"slugify('  Hello, World!  ') gave {got!r}, expected 'hello-world'")
greet = load("greet")
if greet is not None and greet.greet("Ada") != "Hello, Ada!":
    failures.append("greet('Ada') is wrong")
validate = load("validate")
if validate is not None:
    try:
        validate.parse_port("70000")
        failures.append("parse_port('70000') did not raise")
    except ValueError:
        pass

for failure in failures:
    print("FAIL:", failure)
print(f"{len(failures)} failed" if failures else "all checks passed")
sys.exit(1 if failures else 0)
'''

README = "# Demo project\n\nA tiny project worked on by a fleet of stand-in agents.\n"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Demo Agent", "GIT_AUTHOR_EMAIL": "agent@demo.invalid",
    "GIT_COMMITTER_NAME": "Demo Agent", "GIT_COMMITTER_EMAIL": "agent@demo.invalid",
}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), "-c", "user.name=ao demo", "-c", "user.email=demo@demo.invalid",
                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                   check=True, capture_output=True, timeout=30)


@dataclass
class DemoFleet:
    """A demo's files and environment; ``start`` spawns its agents, ``cleanup`` removes it all."""

    root: Path
    repo: Path
    config_path: Path
    ao_home: Path
    tmux_socket: str
    saved_env: dict[str, str | None] = field(default_factory=dict)
    session_ids: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _cleaned: bool = False

    def start(self, engine: Any, *, wait: bool = False) -> list[str]:
        """Spawn one session per backlog task and start the scripted reviewer.

        In a background thread unless ``wait`` (the app's first frame must
        not wait for six worktrees). Returns the session ids spawned so far.
        """
        spawner = threading.Thread(target=self._spawn_all, args=(engine,), name="ao-demo-spawn", daemon=True)
        reviewer = threading.Thread(target=self._review_loop, args=(engine,), name="ao-demo-reviewer", daemon=True)
        self._threads += [spawner, reviewer]
        spawner.start()
        if wait:
            spawner.join()
        reviewer.start()
        return list(self.session_ids)

    def _spawn_all(self, engine: Any) -> None:
        # Spawn once the app's engine loop runs, so every session is tracked from its start.
        deadline = time.monotonic() + 3.0
        while not getattr(engine, "is_active", True) and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.05)
        for task in TASKS:
            if self._stop.is_set():
                return
            try:
                session = engine.spawn(PROJECT, task_id=task["id"])
                self.session_ids.append(session.id)
            except Exception as exc:  # one failed spawn must not stop the demo
                log.warning("demo: spawning %s failed: %s", task["id"], exc)

    def _review_loop(self, engine: Any) -> None:
        """A reviewer with opinions: approves T-4, wants a test on T-5, then merges it."""
        from ao_tui.models import CheckState, ReviewState

        done: set[str] = set()
        while not self._stop.wait(1.0):
            try:
                sessions = {s.task_id: s for s in engine.sessions(PROJECT) if s.task_id}
            except Exception:
                continue
            for task_id, session in sessions.items():
                pr = session.pr
                if pr is None or pr.ci is not CheckState.PASSED:
                    continue
                try:
                    if task_id == "T-4" and pr.review is not ReviewState.APPROVED and "T-4" not in done:
                        engine.approve(session.id, "Clear and short. Thank you!")
                        done.add("T-4")
                    elif task_id == "T-5" and "T-5 changes" not in done:
                        engine.request_changes(session.id, "validate.py:3: please add a test for port 0 and 65536.")
                        done.add("T-5 changes")
                        done.add(f"T-5 head {pr.head_sha}")
                    elif (task_id == "T-5" and "T-5 merged" not in done
                          and f"T-5 head {pr.head_sha}" not in done):
                        if pr.review is not ReviewState.APPROVED:
                            engine.approve(session.id, "Thanks for the test.")
                        elif not engine.merge_blockers(session):
                            engine.merge(session.id)
                            done.add("T-5 merged")
                except Exception as exc:
                    log.debug("demo reviewer: %s on %s: %s", type(exc).__name__, session.id, exc)

    def cleanup(self) -> None:
        """Kill the demo's tmux server, delete its directory, restore the environment. Idempotent."""
        if self._cleaned:
            return
        self._cleaned = True
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        subprocess.run(["tmux", "-L", self.tmux_socket, "kill-server"], capture_output=True, timeout=10)
        socket_file = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.tmux_socket
        socket_file.unlink(missing_ok=True)  # tmux leaves it behind after kill-server
        shutil.rmtree(self.root, ignore_errors=True)
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_demo_setup(root: Path | None = None) -> DemoFleet:
    """Create the demo project and point this process at it (``AO_HOME``, ``AO_TMUX_SOCKET``)."""
    root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="ao-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    origin, repo, home, ao_home = root / "origin.git", root / "repo", root / "home", root / "ao-home"
    for path in (repo, home, ao_home):
        path.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "--bare", str(origin))
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text(README, encoding="utf-8")
    (repo / "check.py").write_text(CHECK_PY, encoding="utf-8")
    (repo / "backlog.yaml").write_text(yaml.safe_dump(TASKS, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (repo / ".gitignore").write_text("__pycache__/\n", encoding="utf-8")
    _git(repo, "add", "README.md", "check.py", "backlog.yaml", ".gitignore")
    _git(repo, "commit", "-q", "-m", "Demo project")
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "push", "-q", "origin", "main")
    socket = f"ao-demo-{uuid.uuid4().hex[:8]}"
    config = {
        "projects": {
            PROJECT: {
                "repo": str(repo),
                "session_prefix": "demo",
                "stuck_after": "25s",
                "agent": {
                    "plugin": "claude-code",
                    "command": [sys.executable, "-m", "ao_tui.demo.fake_claude"],
                    "model": "claude-sonnet-4-5",
                    "env": {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"), **GIT_IDENTITY},
                },
                "scm": {"plugin": "local", "ci": [shlex.join([sys.executable, "check.py"])], "poll_interval": 1},
                "notifiers": [],
            }
        }
    }
    config_path = root / "ao.config.yaml"
    config_path.write_text("# The ao-tui demo fleet (deleted when the demo quits).\n"
                           + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    (home / ".claude" / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True}), encoding="utf-8")
    saved = {key: os.environ.get(key) for key in ("AO_HOME", "AO_TMUX_SOCKET", "AO_CONFIG")}
    os.environ["AO_HOME"] = str(ao_home)
    os.environ["AO_TMUX_SOCKET"] = socket
    os.environ.pop("AO_CONFIG", None)
    return DemoFleet(root=root, repo=repo, config_path=config_path, ao_home=ao_home, tmux_socket=socket,
                     saved_env=saved)


__all__ = ["DemoFleet", "TASKS", "run_demo_setup"]
