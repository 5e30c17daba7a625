"""The local CI runner of SCM ``local``: the configured checks, run for a commit.

Each check is an argument list (``CICommand``, from the ``ci`` option by ``parse_ci``), run without a
shell in the session's workspace, once per new head commit, in a background thread, one run at a time
per workspace. A run is owned by whoever holds the ``flock`` on ``ci/<sha>/run.lock`` (under the SCM's
directory for the repository): a crashed engine's run is simply started again. What it found is in
``ci/<sha>/status.json`` (replaced atomically), each check's output in ``ci/<sha>/<check>.log``. A check
taking longer than ``ci_timeout`` is stopped with its whole process group. CI sees ao's environment
without anything that looks like a secret (``ci_environment``) unless named in ``ci_pass_env``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ao_tui.config import write_atomic
from ao_tui.errors import AoError
from ao_tui.models import Check, CheckState
from ao_tui.names import slugify
from ao_tui_plugins._scm_common import now_iso

log = logging.getLogger("ao.scm.local")


class _Cancelled(Exception):
    """The engine is shutting down; a CI result cut short must not count."""


class CICommand:
    """One configured check: its display name and argument list."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        digest = hashlib.sha1(name.encode()).hexdigest()[:6]
        self.log_name = f"{slugify(name, 40)}-{digest}.log"


def parse_ci(option: Any) -> list[CICommand]:
    """``ci`` as a list of command strings (or argv lists), or a name → command mapping."""
    if not option:
        return []
    items: list[tuple[str, Any]]
    if isinstance(option, dict):
        items = [(str(k), v) for k, v in option.items()]
    elif isinstance(option, (list, tuple)):
        items = [(v if isinstance(v, str) else " ".join(map(str, v)), v) for v in option]
    elif isinstance(option, str):
        items = [(option, option)]
    else:
        raise AoError(f"scm local: ci must be a list of commands, not {type(option).__name__}")
    commands = []
    for name, value in items:
        try:
            argv = shlex.split(value) if isinstance(value, str) else [str(a) for a in value]
        except ValueError as exc:
            raise AoError(f"scm local: ci command {name!r} cannot be split: {exc}") from None
        if not argv:
            raise AoError(f"scm local: ci command {name!r} is empty")
        commands.append(CICommand(name, argv))
    return commands


class LocalCI:
    """The checks of one SCM ``local``: started by ``checks``, read back by ``read_checks``.

    ``root(repo)`` is the SCM's directory for a repository; ``head(repo, record)`` the tip of a
    PR record's branch (a run stops early once a newer commit is there).
    """

    def __init__(self, commands: list[CICommand], ci_timeout: float, ci_pass_env: list[str],
                 root: Callable[[Path], Path], head: Callable[[Path, dict[str, Any]], str | None]) -> None:
        self.commands = commands
        self.ci_timeout = ci_timeout
        self.ci_pass_env = ci_pass_env
        self.root = root
        self._head = head
        self._listeners: list[Callable[[str, str], None]] = []
        self._runs: dict[str, threading.Thread] = {}
        # One CI run at a time per workspace; a lock lives while a run holds it (a long run must
        # not keep one per workspace it ever ran CI in).
        self._workspace_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._guard = threading.Lock()
        self._procs: set[subprocess.Popen[Any]] = set()
        self._closing = False

    def ci_dir(self, repo: Path, sha: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
            raise AoError(f"not a commit id: {sha!r}")
        return self.root(repo) / "ci" / sha

    def add_listener(self, callback: Callable[[str, str], None]) -> None:
        """``callback(branch, sha)`` from the CI thread whenever a run finishes
        (the engine wakes its loop with it instead of waiting for the next poll)."""
        self._listeners.append(callback)

    def _status_path(self, repo: Path, sha: str) -> Path:
        return self.ci_dir(repo, sha) / "status.json"

    def _read_status(self, repo: Path, sha: str) -> dict[str, Any] | None:
        try:
            status: dict[str, Any] = json.loads(self._status_path(repo, sha).read_text(encoding="utf-8"))
            return status
        except (FileNotFoundError, ValueError):
            return None

    def read_checks(self, repo: Path, sha: str | None) -> list[Check]:
        status = self._read_status(repo, sha) if sha else None
        return _checks_from(status, sha or "", self.ci_dir(repo, sha)) if status and sha else []

    def checks(self, repo: Path, workspace: Path, branch: str, sha: str) -> list[Check]:
        if not self.commands:
            return []
        status = self._read_status(repo, sha)
        if status and status.get("finished_at"):
            return _checks_from(status, sha, self.ci_dir(repo, sha))
        if not workspace.is_dir():
            return _checks_from(status, sha, self.ci_dir(repo, sha)) if status else [
                Check(name=c.name, state=CheckState.NONE, id=f"{sha}:{c.name}", summary="workspace is gone")
                for c in self.commands
            ]
        self._start_run(repo, workspace, branch, sha)
        status = self._read_status(repo, sha)
        if status:
            return _checks_from(status, sha, self.ci_dir(repo, sha))
        return [Check(name=c.name, state=CheckState.PENDING, id=f"{sha}:{c.name}") for c in self.commands]

    def _start_run(self, repo: Path, workspace: Path, branch: str, sha: str) -> None:
        run_key = f"{self.root(repo)}:{sha}"
        if self._closing:
            return
        with self._guard:
            thread = self._runs.get(run_key)
            if thread is not None and thread.is_alive():
                return
            for key in [k for k, t in self._runs.items() if not t.is_alive()]:
                del self._runs[key]  # finished runs: a long-running engine must not keep one per commit
            directory = self.ci_dir(repo, sha)
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(directory / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)  # another process is running it
                return
            status = self._read_status(repo, sha)
            if status and status.get("finished_at"):
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                return
            self._write_status(repo, sha, {
                "sha": sha, "branch": branch, "owner": os.getpid(), "started_at": now_iso(), "finished_at": None,
                "checks": [{"name": c.name, "state": "pending", "log": c.log_name} for c in self.commands],
            })
            lock = self._workspace_locks.setdefault(str(workspace), threading.Lock())
            thread = threading.Thread(target=self._run, args=(repo, workspace, branch, sha, fd, lock),
                                      name=f"ao-ci-{sha[:8]}", daemon=True)
            self._runs[run_key] = thread
            thread.start()

    def _write_status(self, repo: Path, sha: str, status: dict[str, Any]) -> None:
        write_atomic(self._status_path(repo, sha), json.dumps(status, indent=1))

    def _run(self, repo: Path, workspace: Path, branch: str, sha: str, fd: int, lock: threading.Lock) -> None:
        try:
            with lock:  # one CI run at a time per workspace
                status = self._read_status(repo, sha) or {}
                for i, command in enumerate(self.commands):
                    current = self._head(repo, {"branch": branch, "workspace": str(workspace)})
                    if current is not None and current != sha:
                        status["superseded_by"] = current
                        for rest in status["checks"][i:]:
                            rest.update(state="none", summary=f"not run: {current[:10]} is newer")
                        break
                    status["checks"][i].update(state="running", started_at=now_iso())
                    self._write_status(repo, sha, status)
                    status["checks"][i].update(self._run_check(repo, workspace, sha, command))
                    self._write_status(repo, sha, status)
                status["finished_at"] = now_iso()
                self._write_status(repo, sha, status)
        except _Cancelled:
            return  # left unfinished on purpose: the next poll, here or in another engine, reruns it
        except Exception:
            log.exception("CI run for %s failed", sha)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        for callback in list(self._listeners):
            try:
                callback(branch, sha)
            except Exception:
                log.exception("CI listener failed")

    def _run_check(self, repo: Path, workspace: Path, sha: str, command: CICommand) -> dict[str, Any]:
        log_path = self.ci_dir(repo, sha) / command.log_name
        started = time.monotonic()
        env = ci_environment(os.environ, self.ci_pass_env)
        env.update(CI="true", AO_CI="1", AO_CI_SHA=sha, PYTHONDONTWRITEBYTECODE="1")
        with log_path.open("w", encoding="utf-8") as out:
            out.write(f"$ {shlex.join(command.argv)}\n")
            out.flush()
            try:
                proc = subprocess.Popen(command.argv, cwd=workspace, stdout=out, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
            except OSError as exc:
                out.write(f"cannot run {command.argv[0]!r}: {exc.strerror}\n")
                return {"state": "failed", "exit_code": None, "summary": f"cannot run: {exc.strerror}",
                        "finished_at": now_iso()}
            self._procs.add(proc)
            try:
                code = proc.wait(timeout=self.ci_timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                code, timed_out = proc.wait(), True
            finally:
                self._procs.discard(proc)
            if self._closing:
                raise _Cancelled()
            took = time.monotonic() - started
            if timed_out:
                out.write(f"\n[ao] timed out after {self.ci_timeout:.0f}s and was stopped\n")
                summary = f"timed out after {self.ci_timeout:.0f}s"
            else:
                out.write(f"\n[ao] exit code {code} after {took:.1f}s\n")
                summary = f"exit {code} after {took:.1f}s"
        return {"state": "passed" if code == 0 and not timed_out else "failed", "exit_code": code,
                "summary": summary, "finished_at": now_iso()}
    def log_path(self, repo: Path, check: Check) -> Path | None:
        """The full log file of ``check`` (for the TUI's "open log")."""
        sha, _, name = check.id.partition(":")
        status = self._read_status(repo, sha) if sha else None
        entry = next((c for c in (status or {}).get("checks", []) if c["name"] == name), None)
        return self.ci_dir(repo, sha) / entry["log"] if entry else None

    def prune(self, repo: Path, keep_branches: set[str], before: float) -> int:
        """Delete the ``ci/<sha>/`` dirs of branches not in ``keep_branches`` untouched since ``before``
        (a time), unless a run holds them; how many went."""
        folder = self.root(repo) / "ci"
        removed = 0
        for directory in sorted(folder.iterdir()) if folder.is_dir() else []:
            if not directory.is_dir() or not re.fullmatch(r"[0-9a-f]{7,64}", directory.name):
                continue
            status = self._read_status(repo, directory.name)
            if status is not None and status.get("branch") in keep_branches:
                continue
            try:
                if max([p.stat().st_mtime for p in directory.iterdir()] + [directory.stat().st_mtime]) >= before:
                    continue
                fd = os.open(directory / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:
                continue  # removed meanwhile (another process's upkeep)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(directory, ignore_errors=True)
                removed += 1
            except BlockingIOError:
                continue  # a run holds it
            finally:
                os.close(fd)
        return removed

    def close(self) -> None:
        """Stop this process's running CI commands (engine shutdown). The runs are
        left unfinished, so whichever engine polls next starts them again."""
        self._closing = True
        for proc in list(self._procs):
            _kill_group(proc)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait for this process's CI runs to finish (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._runs.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._runs.values())


_SECRET_NAME = re.compile(r"TOKEN|API_KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)


def ci_environment(environ: Any, keep: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """ao's environment minus its secrets: CI runs code an agent wrote.

    Names listed in the ``ci_pass_env`` option are kept even if they look secret.
    """
    return {k: v for k, v in environ.items() if k in keep or not _SECRET_NAME.search(k)}


def _checks_from(status: dict[str, Any], sha: str, directory: Path) -> list[Check]:
    """Checks as the status file records them; ``url`` is the log file."""
    states = {"pending": CheckState.PENDING, "running": CheckState.RUNNING, "passed": CheckState.PASSED,
              "failed": CheckState.FAILED, "none": CheckState.NONE}
    return [
        Check(name=c["name"], state=states.get(c.get("state", "pending"), CheckState.PENDING),
              id=f"{sha}:{c['name']}", summary=c.get("summary", ""),
              url=(directory / c["log"]).as_uri() if c.get("log") else "")
        for c in status.get("checks", [])
    ]


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
