"""The demo fleet behind ``ao-tui --demo``: a throwaway project and stand-in agents.

``run_demo_setup()`` makes a temporary directory holding a git repository
(with a bare ``origin``), a backlog of fourteen tasks (some depending on
others), a check script used as CI, and an ``ao.config.yaml`` whose agent is
``ao_tui.demo.fake_claude`` (Claude Code's argv, screen, transcript and hooks,
no network). It points ``AO_HOME`` and ``AO_TMUX_SOCKET`` at private places so
the demo never touches real sessions.

``DemoFleet.start(engine)`` spawns the first six sessions through the engine
and runs a director that keeps the fleet alive for as long as the demo runs:
a scripted human answers permission prompts and questions and interrupts a
stuck agent; a scripted reviewer approves PRs or asks for changes and merges
them (one ready PR at a time is left to the human for a minute first: ``M``); the engine retires merged sessions; each freed slot takes the next
ready task, and once the backlog is empty, done tasks are reopened. At most
``MAX_LIVE`` sessions run at once, and every attention zone keeps being
visited. ``pace`` (or ``$AO_DEMO_PACE``) scales every pause.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ao_tui import git

log = logging.getLogger("ao.demo")

PROJECT = "demo"

GREET = 'def greet(name: str) -> str:\n    """A friendly greeting."""\n    return f"Hello, {name}!"\n'
SLUG_BROKEN = 'import re\n\n\ndef slugify(text: str) -> str:\n    return re.sub(r"[^a-z0-9]+", "-", text.lower())\n'
SLUG_FIXED = ('import re\n\n\ndef slugify(text: str) -> str:\n'
              '    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n')
VALIDATE = ('def parse_port(value: str) -> int:\n    port = int(value)\n'
            '    if not 0 < port < 65536:\n        raise ValueError(f"port out of range: {port}")\n    return port\n')
DURATION_BROKEN = 'def format_duration(seconds: int) -> str:\n    return f"{seconds // 60}m{seconds}s"\n'
DURATION_FIXED = 'def format_duration(seconds: int) -> str:\n    return f"{seconds // 60}m{seconds % 60}s"\n'

#: The backlog. Besides the tracker's fields (``BACKLOG_FIELDS``, written to backlog.yaml) each
#: task says what its stand-in agent does (``scenario``, ``file``, ``content``..., read by
#: ``fake_claude``) and what the scripted reviewer makes of its PR (``review``: approve, or
#: ``changes`` with ``comment`` first). The first six need nothing else, so they start at once.
TASKS: list[dict[str, Any]] = [
    {"id": "T-1", "title": "Add a greet() helper",
     "body": "Create greet.py with greet(name) returning 'Hello, <name>!'.", "depends_on": [], "status": "open",
     "scenario": "permission", "file": "greet.py", "content": GREET, "commit": "Add greet() helper"},
    {"id": "T-2", "title": "Add a settings file",
     "body": "The app needs a settings file with its name and a debug flag.", "depends_on": [], "status": "open",
     "scenario": "question", "file": "settings.{fmt}", "answer": "YAML please",
     "question": "The project has no config file yet. Should the settings file be TOML or YAML?"},
    {"id": "T-3", "title": "Fix slugify for punctuation",
     "body": "slugify('  Hello, World!  ') must give 'hello-world'.", "depends_on": [], "status": "open",
     "scenario": "ci_fix", "file": "slug.py", "broken": SLUG_BROKEN, "content": SLUG_FIXED,
     "commit": "Rewrite slugify with a single regex", "fix_commit": "Strip leading and trailing dashes in slugify",
     "claim": "slugify now collapses every run of punctuation into one dash",
     "diagnosis": "The check expects no leading or trailing dashes; I'll strip them."},
    {"id": "T-4", "title": "Document the command line",
     "body": "Add a 'Command line' section to README.md.", "depends_on": [], "status": "open",
     "scenario": "clean", "file": "README.md", "commit": "Document the command line",
     "claim": "Documented the command line in README.md"},
    {"id": "T-5", "title": "Validate the port number",
     "body": "parse_port() must reject ports outside 1-65535.", "depends_on": [], "status": "open",
     "scenario": "clean", "file": "validate.py", "content": VALIDATE, "commit": "Validate the port number",
     "claim": "parse_port() rejects ports outside 1-65535",
     "review": "changes", "comment": "validate.py:3: please add a test for port 0 and 65536."},
    {"id": "T-6", "title": "Run the integration suite",
     "body": "Run the full integration suite and report failures.", "depends_on": [], "status": "open",
     "scenario": "stuck", "command": "python -m integration_suite --all",
     "unstick": "That suite hangs on this machine. Skip it: run the fast checks and note what you saw."},
    {"id": "T-7", "title": "Add a farewell() helper",
     "body": "Next to greet(), farewell(name) returns 'Goodbye, <name>!'.", "depends_on": ["T-1"],
     "status": "open", "scenario": "clean", "file": "farewell.py",
     "content": 'def farewell(name: str) -> str:\n    return f"Goodbye, {name}!"\n', "commit": "Add farewell() helper",
     "claim": "farewell() is in farewell.py", "review": "changes",
     "comment": "farewell.py:1: a docstring, please, and a test for an empty name."},
    {"id": "T-8", "title": "Format durations",
     "body": "format_duration(90) must give '1m30s'.", "depends_on": [], "status": "open",
     "scenario": "ci_fix", "file": "duration.py", "broken": DURATION_BROKEN, "content": DURATION_FIXED,
     "commit": "Add format_duration()", "fix_commit": "format_duration: seconds modulo 60",
     "claim": "format_duration() prints minutes and seconds",
     "diagnosis": "The seconds must wrap at 60; I forgot the modulo."},
    {"id": "T-9", "title": "Read the log level from the settings",
     "body": "loglevel.py: log_level() reads 'log_level' from the settings, default INFO.", "depends_on": ["T-2"],
     "status": "open", "scenario": "permission", "file": "loglevel.py",
     "content": 'def log_level(settings: dict) -> str:\n    return str(settings.get("log_level", "INFO")).upper()\n',
     "commit": "Read the log level from the settings"},
    {"id": "T-10", "title": "Start a changelog",
     "body": "CHANGELOG.md in Keep a Changelog style, with an Unreleased section.", "depends_on": [],
     "status": "open", "scenario": "clean", "file": "CHANGELOG.md",
     "content": "# Changelog\n\n## Unreleased\n\n- greet(), farewell(), slugify fixes.\n",
     "commit": "Start a changelog", "claim": "CHANGELOG.md has an Unreleased section"},
    {"id": "T-11", "title": "Cache parsed settings",
     "body": "Parsing the settings on every call is slow; cache the result.", "depends_on": ["T-2"],
     "status": "open", "scenario": "question", "file": "cache.py", "answer": "In memory is fine.",
     "question": "Should the settings cache live in memory or on disk?",
     "content": "import functools\n\n\n@functools.lru_cache(maxsize=1)\ndef settings() -> dict:\n    return {}\n"},
    {"id": "T-12", "title": "Retry flaky downloads",
     "body": "fetch() should retry a download three times before giving up.", "depends_on": [], "status": "open",
     "scenario": "stuck", "command": "python -m download --url http://mirror.invalid/big.tar --wait",
     "claim": "First, let me reproduce the flaky download.",
     "unstick": "The mirror is down; don't wait for it. Write the retry loop and a note instead."},
    {"id": "T-13", "title": "Add a --name option to the command line",
     "body": "`python -m demo greet --name Ada` greets Ada.", "depends_on": ["T-1", "T-4"], "status": "open",
     "scenario": "clean", "file": "cli.py",
     "content": ("import argparse\n\nfrom greet import greet\n\n\ndef main() -> None:\n"
                 "    parser = argparse.ArgumentParser()\n    parser.add_argument('--name', default='world')\n"
                 "    print(greet(parser.parse_args().name))\n"),
     "commit": "Add a --name option", "claim": "cli.py takes --name", "review": "changes",
     "comment": "cli.py:7: print the usage when --name is empty."},
    {"id": "T-14", "title": "Write a contributing guide",
     "body": "CONTRIBUTING.md: how to run the checks and what a good PR looks like.", "depends_on": ["T-10"],
     "status": "open", "scenario": "clean", "file": "CONTRIBUTING.md",
     "content": "# Contributing\n\nRun `python check.py` before you push. One change a PR.\n",
     "commit": "Write a contributing guide", "claim": "CONTRIBUTING.md explains the checks"},
]
BACKLOG_FIELDS = ("id", "title", "body", "depends_on", "status")
TASK_BY_ID = {task["id"]: task for task in TASKS}

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
duration = load("duration")
if duration is not None and duration.format_duration(90) != "1m30s":
    failures.append(f"format_duration(90) gave {duration.format_duration(90)!r}, expected '1m30s'")
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
    git.run(cwd, "-c", "user.name=ao demo", "-c", "user.email=demo@demo.invalid", "-c", "init.defaultBranch=main",
            "-c", "commit.gpgsign=false", *args, timeout=30)


#: Sessions with a running agent at once (merged ones make room for the next task).
MAX_LIVE = 6
#: Finished sessions left in the list; older ones are removed with their workspace.
KEEP_FINISHED = 4
#: Seconds, at pace 1, that the scripted people and the director wait before acting.
ANSWER_AFTER = 15.0  # the human answers a permission prompt or a question
UNSTICK_AFTER = 10.0  # ... interrupts a stuck agent and tells it what to do instead
REVIEW_AFTER = 11.0  # the reviewer reads a green PR
MERGE_AFTER = 10.0  # an approved, green PR waits this long in "Ready to merge"
HOLD_FOR_HUMAN = 60.0  # ... but one of them at a time waits this long, for the newcomer to press M
SPAWN_AFTER = 5.0  # a freed slot takes the next backlog task
SPAWN_AGAIN_AFTER = 2.0  # ... and the one after it, if more slots are free
RETIRE_AFTER = 8.0  # a merged session's agent and workspace go (the engine's own clean-up)
GIVE_UP_AFTER = 150.0  # a session that stopped moving is killed, so the demo never stalls


def _pace_from_env() -> float:
    try:
        return max(0.05, float(os.environ.get("AO_DEMO_PACE") or 1.0))
    except ValueError:
        return 1.0


@dataclass
class _Watch:
    """What the director remembers about one session."""

    state: tuple[Any, ...] = ()
    since: float = 0.0  # when ``state`` was first seen (monotonic)
    status_since: float = 0.0
    acted: float = 0.0  # when the scripted human last typed into it
    escaped: float = 0.0  # when it was interrupted for being stuck
    unstuck: bool = False
    changes_requested: bool = False
    merge_failures: int = 0


@dataclass
class DemoFleet:
    """A demo's files and environment; ``start`` runs the fleet, ``cleanup`` removes it all.

    The fleet never goes quiet: at most ``max_live`` sessions run at once; the scripted
    people answer prompts, interrupt stuck agents, review, approve or ask for changes, and
    merge; a merged session is retired by the engine after a few seconds and the next backlog
    task (or, once the backlog is empty, a done one reopened) takes its slot. ``pace`` scales
    every pause (the agents' too, through ``AO_DEMO_PACE``): tests run at 0.25.
    """

    root: Path
    repo: Path
    config_path: Path
    ao_home: Path
    tmux_socket: str
    saved_env: dict[str, str | None] = field(default_factory=dict)
    pace: float = 1.0
    max_live: int = MAX_LIVE
    keep_finished: int = KEEP_FINISHED
    session_ids: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    #: The first wave's spawner and the director both spawn: one at a time, or a slow first wave
    #: (a loaded machine) lets the director pick the same task again and run past ``max_live``.
    _spawning: threading.Lock = field(default_factory=threading.Lock)
    _first_wave_done: threading.Event = field(default_factory=threading.Event)
    _watches: dict[str, _Watch] = field(default_factory=dict)
    _finished: list[str] = field(default_factory=list)  # task ids, oldest finish first
    _finished_sessions: set[str] = field(default_factory=set)
    _room_since: float | None = None
    _held: str | None = None  # the ready PR left for the human (HOLD_FOR_HUMAN) before the script merges it
    _cleaned: bool = False

    def start(self, engine: Any, *, wait: bool = False, direct: bool = True) -> list[str]:
        """Spawn the first sessions (one per ready task, up to ``max_live``) and run the director.

        In a background thread unless ``wait`` (the app's first frame must
        not wait for six worktrees). Without ``direct`` nobody answers,
        reviews or merges: the stand-ins alone (tests of their behaviour).
        Returns the session ids spawned so far.
        """
        spawner = threading.Thread(target=self._spawn_first, args=(engine,), name="ao-demo-spawn", daemon=True)
        self._threads.append(spawner)
        spawner.start()
        if wait:
            spawner.join()
        if direct:
            director = threading.Thread(target=self._direct, args=(engine,), name="ao-demo-director", daemon=True)
            self._threads.append(director)
            director.start()
        return list(self.session_ids)

    def make_loop(self, engine: Any) -> Any:
        """The engine loop a demo runs (``engine.start(demo.make_loop)``): ao's own, with merged
        sessions retired by the engine itself after ``RETIRE_AFTER`` seconds (scaled by ``pace``)."""
        from ao_tui.orchestrator.loop_hooks import leader_loop

        loop = leader_loop(engine)
        loop.merged_grace_seconds = RETIRE_AFTER * self.pace
        return loop

    # -- spawning ---------------------------------------------------------------------------

    def _spawn_first(self, engine: Any) -> None:
        # Spawn once the app's engine loop runs, so every session is tracked from its start.
        deadline = time.monotonic() + 3.0
        while not getattr(engine, "is_active", True) and time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(0.05)
        try:
            for _ in range(self.max_live):
                if self._stop.is_set() or not self._spawn_next(engine, reopen=False):
                    return
        finally:
            self._first_wave_done.set()

    def _spawn_next(self, engine: Any, *, reopen: bool = True) -> bool:
        """Spawn the first open task whose dependencies are done; else reopen the longest-done one."""
        with self._spawning:
            return self._spawn_next_locked(engine, reopen=reopen)

    def _spawn_next_locked(self, engine: Any, *, reopen: bool) -> bool:
        live_titles = {s.task_title for s in engine.sessions(PROJECT) if s.status.value not in FINISHED}
        tasks = engine.backlog(PROJECT, include_done=True)
        done = {t.id for t in tasks if t.status == "done"}
        ready = [t for t in tasks if t.status == "open" and t.title not in live_titles
                 and all(d in done for d in t.depends_on)]
        if not ready and reopen:  # the backlog is empty: the demo goes round again
            order = {task_id: n for n, task_id in enumerate(self._finished)}
            again = sorted((t for t in tasks if t.status == "done" and t.title not in live_titles),
                           key=lambda t: order.get(t.id, -1))
            if again:
                engine.tracker(PROJECT).set_status(again[0].id, "open")
                ready = [again[0]]
        if not ready:
            return False
        try:
            # A mixed fleet: every third session runs "Codex" (the same stand-in, started as Codex).
            agent = "codex" if len(self.session_ids) % 3 == 1 else None
            session = engine.spawn(PROJECT, task_id=ready[0].id, agent=agent)
        except Exception as exc:  # one failed spawn must not stop the demo
            log.warning("demo: spawning %s failed: %s", ready[0].id, exc)
            return False
        self.session_ids.append(session.id)
        return True

    # -- the director: scripted people and the fleet's size ------------------------------------

    def _direct(self, engine: Any) -> None:
        every = max(0.5, min(1.0, self.pace * 2))
        while not self._stop.wait(every):
            try:
                self._direct_once(engine)
            except Exception as exc:  # the store or tmux going away under us at exit, a race...
                log.debug("demo director: %s: %s", type(exc).__name__, exc)

    def _direct_once(self, engine: Any) -> None:
        now = time.monotonic()
        # sessions at rest long ago are the user's history: a run that keeps them (the soak) must not
        # make the director read more and more of them each second
        sessions = engine.sessions(PROJECT, include_at_rest=datetime.now(UTC) - timedelta(minutes=10))
        live = [s for s in sessions if s.status.value not in FINISHED]
        self._hold_one(live, now)
        for s in live:
            try:
                self._act(engine, s, now)
            except Exception as exc:
                log.debug("demo: %s on %s: %s", type(exc).__name__, s.id, exc)
        for s in sessions:
            if s.status.value in FINISHED and s.task_id and s.id not in self._finished_sessions:
                self._finished_sessions.add(s.id)
                if s.task_id in self._finished:
                    self._finished.remove(s.task_id)
                self._finished.append(s.task_id)
        self._forget_old(engine, [s for s in sessions if s.status.value in FINISHED])
        if len(live) >= self.max_live or not self._first_wave_done.is_set():
            self._room_since = None
        elif self._room_since is None:
            self._room_since = now
        elif now - self._room_since >= SPAWN_AFTER * self.pace:
            # one at a time; with more room left, the next follows a moment later
            spawned = self._spawn_next(engine)
            self._room_since = now - (SPAWN_AFTER - SPAWN_AGAIN_AFTER) * self.pace if spawned else None

    def _hold_one(self, live: list[Any], now: float) -> None:
        """Keep one approved, green PR waiting for the human: the one ready longest, while it stays ready."""
        ready = [s for s in live if s.pr is not None and _approved_and_green(s.pr)]
        if self._held in {s.id for s in ready}:
            return
        ready.sort(key=lambda s: (self._watches[s.id].since if s.id in self._watches else now, s.id))
        self._held = ready[0].id if ready else None

    def _watch(self, s: Any, now: float) -> _Watch:
        pr = s.pr
        state = (s.status, s.activity.state, pr.head_sha if pr else "", pr.ci if pr else "", pr.review if pr else "")
        watch = self._watches.setdefault(s.id, _Watch(since=now, status_since=now))
        if watch.state[:1] != state[:1]:
            watch.status_since = now
        if watch.state != state:
            watch.state, watch.since = state, now
        return watch

    def _act(self, engine: Any, s: Any, now: float) -> None:
        """The scripted people's next step for one session, if its time has come."""
        watch = self._watch(s, now)
        action = self._due(engine, s, watch, now)
        if action is None:
            return
        if self._human_attached(engine, s):  # someone is at that terminal: they decide, not the script
            watch.since = watch.status_since = now
            return
        action()

    def _due(self, engine: Any, s: Any, watch: _Watch, now: float) -> Callable[[], None] | None:
        from ao_tui.models import ActivityState, CheckState, ReviewState, SessionStatus

        waited = now - watch.since
        spec = next((t for t in TASKS if t["title"] == s.task_title), {})
        if now - watch.status_since >= GIVE_UP_AFTER * self.pace:
            return lambda: self._give_up(engine, s, f"no change for {GIVE_UP_AFTER * self.pace:.0f}s")
        if (s.activity.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT)
                or s.status is SessionStatus.NEEDS_INPUT):
            if waited < ANSWER_AFTER * self.pace or now - watch.acted < ANSWER_AFTER * self.pace:
                return None

            def answer() -> None:
                watch.acted = now
                if "Do you want to" in engine.peek(s.id):
                    engine.send_keys(s.id, "1")
                else:
                    engine.send(s.id, spec.get("answer", "Yes, go ahead."))
            return answer
        if watch.escaped and not watch.unstuck:  # interrupted a moment ago: now say what to do
            if now - watch.escaped < 1.0:
                return None

            def unstick() -> None:
                watch.unstuck = True
                engine.send(s.id, spec.get("unstick", "Stop waiting for it and wrap up what you have."))
            return unstick
        if s.status is SessionStatus.STUCK and not watch.escaped and waited >= UNSTICK_AFTER * self.pace:

            def interrupt() -> None:
                watch.escaped = now
                engine.send_keys(s.id, "Escape")
            return interrupt
        pr = s.pr
        if pr is None or pr.ci is not CheckState.PASSED or pr.has_conflicts:
            return None
        if pr.review is ReviewState.APPROVED:
            after = HOLD_FOR_HUMAN if s.id == self._held else MERGE_AFTER
            if waited < after * self.pace or engine.merge_blockers(s):
                return None

            def merge() -> None:
                try:
                    engine.merge(s.id)
                except Exception as exc:
                    watch.merge_failures += 1
                    log.debug("demo: merging %s failed: %s", s.id, exc)
                    if watch.merge_failures >= 3:
                        self._give_up(engine, s, f"merge failed: {exc}")
            return merge
        if pr.review is ReviewState.CHANGES_REQUESTED or waited < REVIEW_AFTER * self.pace:
            return None

        def review() -> None:
            if spec.get("review") == "changes" and not watch.changes_requested:
                watch.changes_requested = True
                engine.request_changes(s.id, spec.get("comment", "Please add a test."))
            else:
                engine.approve(s.id, "Thanks for the fix." if watch.changes_requested else "Looks good, thank you!")
        return review

    @staticmethod
    def _human_attached(engine: Any, s: Any) -> bool:
        """Whether a human's terminal is attached to the session (runtime ``tmux`` can tell)."""
        try:
            return bool(engine.runtime(s).human_clients(s.runtime_handle))
        except Exception:
            return False

    def _give_up(self, engine: Any, s: Any, why: str) -> None:
        """Kill a session that stopped moving (its task counts as done; it comes round again)."""
        log.info("demo: %s %s", s.id, why)
        engine.kill(s.id, reason=f"the demo moved on ({why})")
        if s.task_id:
            engine.tracker(PROJECT).set_status(s.task_id, "done")

    def _forget_old(self, engine: Any, finished: list[Any]) -> None:
        """Keep the list short: past ``keep_finished`` finished sessions, the oldest retired ones go."""
        from ao_tui.models import SessionStatus

        finished.sort(key=lambda s: s.status_since)
        for s in finished[: max(0, len(finished) - self.keep_finished)]:
            if s.status is SessionStatus.MERGED:
                continue  # the engine retires it first (its agent, its workspace)
            try:
                engine.remove_workspace(s.id, force=True)
            except Exception as exc:
                log.debug("demo: removing %s's workspace: %s", s.id, exc)
            engine.store.delete_session(s.id)
            self._watches.pop(s.id, None)

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


FINISHED = frozenset({"merged", "done", "killed"})


def _approved_and_green(pr: Any) -> bool:
    from ao_tui.models import CheckState, ReviewState

    return pr.review is ReviewState.APPROVED and pr.ci is CheckState.PASSED and not pr.has_conflicts


def run_demo_setup(root: Path | None = None, *, pace: float | None = None, max_live: int = MAX_LIVE) -> DemoFleet:
    """Create the demo project and point this process at it (``AO_HOME``, ``AO_TMUX_SOCKET``).

    ``pace`` scales every pause of the demo (default ``$AO_DEMO_PACE`` or 1).
    """
    pace = _pace_from_env() if pace is None else max(0.05, float(pace))
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
    backlog = [{key: task[key] for key in BACKLOG_FIELDS} for task in TASKS]
    (repo / "backlog.yaml").write_text(yaml.safe_dump(backlog, sort_keys=False, allow_unicode=True), encoding="utf-8")
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
                "stuck_after": f"{max(6, round(25 * pace))}s",
                "max_sessions": max_live + 4,  # merged sessions wait a moment for the engine to retire them
                "agent": {
                    "plugin": "claude-code",
                    "command": [sys.executable, "-m", "ao_tui.demo.fake_claude"],
                    "model": "claude-sonnet-4-5",
                    "env": {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"), "AO_DEMO_PACE": str(pace),
                            **GIT_IDENTITY},
                },
                "agents": {"codex": {
                    "command": [sys.executable, "-m", "ao_tui.demo.fake_claude"],
                    "model": "gpt-5-codex",
                    "env": {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude"), "AO_DEMO_PACE": str(pace),
                            **GIT_IDENTITY},
                }},
                # A named check: the list shows "CI failed: check.py", not the interpreter's path.
                "scm": {"plugin": "local", "ci": {"check.py": shlex.join([sys.executable, "check.py"])},
                        "poll_interval": 1},
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
                     saved_env=saved, pace=pace, max_live=max_live)


__all__ = ["MAX_LIVE", "DemoFleet", "TASKS", "run_demo_setup"]
