"""ao's one way to git: every git command ao runs goes through ``run`` (or ``out``).

- An argument list, never a shell string: branch names, paths and refs are single arguments.
- A timeout on every call (``TIMEOUT`` unless the caller gives its own); past it, git is stopped
  (with ``remote=True``, what it started too: ssh).
- git never waits for a human: no credential prompt (``GIT_TERMINAL_PROMPT=0``; a command that
  reaches another machine runs in a session of its own, ``remote=True``, so ssh finds no terminal),
  no editor (a rebase or merge takes its message as it is), stdin closed unless ``input`` is given;
  ``LC_ALL=C`` so its words are the ones ao reads; no optional locks (``git status`` must not take
  the index lock from under an agent).
- A failure is one line: ``AoError("git <command> in <dir> failed: <git's last line>")``, or took
  longer than the timeout, or git is not installed.

Plain subprocesses (GitPython was measured and dropped: see the README's dependency table).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Container, Mapping
from pathlib import Path

from ao_tui.errors import AoError

#: Seconds a git command may take unless its caller says otherwise.
TIMEOUT = 120.0
#: Set for every git ao runs (see the module's docstring).
ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_EDITOR": "true",
    "GIT_SEQUENCE_EDITOR": "true",
}


def run(cwd: Path | str | None, *args: str, check: bool | Container[int] = True, timeout: float = TIMEOUT,
        env: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None,
        input: str | None = None, remote: bool = False) -> subprocess.CompletedProcess[str]:
    """``git -C cwd args...`` (no ``-C`` when ``cwd`` is None), its output as text.

    ``check``: True raises on any exit but 0, a container of exit codes raises on any other, False
    never raises for git's exit (the caller reads ``returncode``). ``env``: variables added for this
    call; ``environ``: the environment they are added to (default ``os.environ``). ``remote``: git
    reaches another machine (push, fetch, clone): it runs in a session of its own, so ssh finds no
    terminal to ask on and a time-out stops ssh with it (not the default: such a start costs ~2 ms
    more, and conflict prediction makes hundreds of local calls).
    """
    argv = ["git", *(["-C", str(cwd)] if cwd is not None else []), *args]
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL if input is None else subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=remote,
            env={**(os.environ if environ is None else environ), **ENV, **(env or {})},
        )  # fmt: skip
    except FileNotFoundError:
        raise AoError("git is not installed (or not on PATH)") from None
    except OSError as exc:
        raise AoError(f"{_what(cwd, args)} failed: {exc.strerror or exc}") from None
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc, remote)
        raise AoError(f"{_what(cwd, args)} took longer than {timeout:g}s") from None
    done = subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
    allowed = (0,) if check is True else check
    if allowed is not False and done.returncode not in allowed:
        raise AoError(f"{_what(cwd, args)} failed: {last_line(done)}")
    return done


def out(cwd: Path | str | None, *args: str, check: bool | Container[int] = True, timeout: float = TIMEOUT,
        env: Mapping[str, str] | None = None, input: str | None = None, remote: bool = False) -> str:
    """What ``run`` printed on stdout (a failure raises, as ``run`` with ``check``)."""
    return run(cwd, *args, check=check, timeout=timeout, env=env, input=input, remote=remote).stdout


def commit_of(cwd: Path | str | None, ref: str, timeout: float = TIMEOUT) -> str | None:
    """The commit ``ref`` names (a branch, ``HEAD``, a sha), or None if it names none."""
    done = run(cwd, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False, timeout=timeout)
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def merge_changes_nothing(repo: Path | str, into: str, branch: str, timeout: float = TIMEOUT) -> bool:
    """Whether merging branch ``branch`` into branch ``into`` would leave ``into``'s tree as it is: all
    the branch's work is there already (a squash merge included). False if either is missing or
    the merge has conflicts."""
    base = run(repo, "rev-parse", "--verify", "-q", f"refs/heads/{into}^{{tree}}", check=False, timeout=timeout)
    merged = run(repo, "merge-tree", "--write-tree", f"refs/heads/{into}", f"refs/heads/{branch}",
                 check=False, timeout=timeout)
    if base.returncode != 0 or merged.returncode != 0:
        return False
    return merged.stdout.split("\n", 1)[0].strip() == base.stdout.strip()


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    """git's last word on a failure: its last line on stderr (stdout if none), else the exit status."""
    lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit {done.returncode}"


def _stop(proc: subprocess.Popen[str], group: bool) -> None:
    """End a git that took too long (with ``group``, what it started too: ssh for a push, a hook)."""
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # something it started left the group and holds the pipes
        proc.kill()
        proc.wait()


def _what(cwd: Path | str | None, args: tuple[str, ...]) -> str:
    """``git <command> in <dir>``: the command past the options before it (``-c key=value``...)."""
    command, rest = "", list(args)
    while rest:
        word = rest.pop(0)
        if word == "-c":
            rest = rest[1:]
        elif not word.startswith("-") or not rest:
            command = word
            break
    return f"git {command} in {cwd}" if cwd is not None else f"git {command}"
