"""ao on a host: ``python -m ao_tui.hostd STATE_DIR``, started by the engine over the host's SSH connection.

It runs there what runs locally: tmux on its own socket (``STATE_DIR/tmux.sock``), a clone of each
project's repository (``STATE_DIR/repos/NAME``, fetched from ``origin``), worktrees under
``STATE_DIR/worktrees/SESSION``, the agent in a tmux session, and exit watching; it pushes branches.
It speaks JSON lines on stdin/stdout: a request ``{"id": n, "op": ..., ...}`` gets
``{"id": n, "ok": true, "result": ...}`` (or ``"ok": false, "error": ...``); events arrive unasked as
``{"event": "exited", "handle": ..., "code": ...}``. Every command is an argument vector.

Standard library only, so it installs on a host with ``pip install --no-deps`` and no package index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from ao_tui import __version__
from ao_tui import git as ao_git
from ao_tui.names import tmux_word

#: Starts the agent from its argv as JSON. tmux reads an argument ending in ";" as the end of its own
#: command (the next word would be a tmux command) and runs a one-word command through ``sh -c``:
#: neither can happen to these two words, whatever the agent's argv holds.
_EXEC = "import json, os, sys; argv = json.loads(sys.argv[1]); os.execvp(argv[0], argv)"
#: Exits are seen at once through pidfds where the kernel has them; this listing is the fallback (and
#: catches panes started by others). Both are local to the host: they cost no SSH traffic.
POLL = 5.0
#: How often a followed hook events file is looked at (a stat; the file grows only while the agent works).
FOLLOW_EVERY = 0.02
#: How long a dead pane without an exit status is given before its exit is reported with no code.
STATUS_GRACE = 1.0
#: Seconds a git command on the host may take (a first clone of a big project included).
GIT_TIMEOUT = 1800.0
#: A transcript's usage count not asked for this long is dropped (counted afresh if asked again):
#: ao here lives as long as the engine's link, and must not keep a count of every agent it ran.
USAGE_KEPT_SECONDS = 3600.0


class _Counted:
    """What was counted of one transcript file, and up to which byte."""

    def __init__(self, count: Any) -> None:
        self.count = count
        self.offset = 0
        self.model = ""
        self.asked_at = 0.0

    @property
    def totals(self) -> list[float]:
        return list(self.count.totals)


class HostDaemon:
    def __init__(self, state_dir: str) -> None:
        self.state = os.path.abspath(os.path.expanduser(state_dir))
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        self.socket = os.path.join(self.state, "tmux.sock")
        self._out = threading.Lock()
        self._dead: set[str] = set()
        self._alive: set[str] = set()  # panes last seen alive
        self._exits = threading.Lock()
        self._dead_unknown: dict[str, float] = {}  # handle -> when tmux first said dead with no status yet
        #: session -> (its hook events file, the byte streamed next)
        self._follow: dict[str, tuple[str, int]] = {}
        self._tailing = False
        self._usage: dict[str, _Counted] = {}  # transcript path -> what was counted of it
        self.clock = time.monotonic
        self._wake_r, self._wake_w = os.pipe()  # a spawn wakes the watcher to watch the new pane's pid

    # -- plumbing -----------------------------------------------------------------------------

    def emit(self, message: dict[str, Any]) -> None:
        with self._out:
            sys.stdout.write(json.dumps(message) + "\n")
            sys.stdout.flush()

    def tmux(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True)
        if check and out.returncode != 0:
            raise RuntimeError(out.stderr.strip() or f"tmux {args[0]} failed")
        return out.stdout

    @staticmethod
    def git(cwd: str, *args: str) -> str:
        # A clone or fetch of a big project over the network may take minutes; never a prompt for a password.
        return ao_git.out(cwd, *args, timeout=GIT_TIMEOUT, remote=True).strip()

    def _repo(self, name: str) -> str:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad repository name {name!r}")
        return os.path.join(self.state, "repos", name)

    # -- operations ---------------------------------------------------------------------------

    def op_hello(self) -> dict[str, Any]:
        tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip()
        return {"version": __version__, "state_dir": self.state, "tmux": tmux, "pid": os.getpid()}

    def op_clone(self, name: str, url: str, default_branch: str = "main") -> str:
        """The host's own clone of a project, fetched from ``origin`` (made on first use)."""
        path = self._repo(name)
        if not os.path.isdir(os.path.join(path, ".git")):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.git(self.state, "clone", "-q", "--", url, path)
        else:
            self.git(path, "fetch", "-q", "origin")
        return self.git(path, "rev-parse", f"origin/{default_branch}")

    def op_worktree(self, name: str, session: str, branch: str, base: str = "main") -> str:
        if not session or "/" in session or session.startswith("."):
            raise ValueError(f"bad session id {session!r}")
        self.git(self.state, "check-ref-format", "--branch", branch)
        path = os.path.join(self.state, "worktrees", session)
        if not os.path.isdir(path):
            self.git(self._repo(name), "worktree", "add", "-q", "-b", branch, "--", path, f"origin/{base}")
        return path

    def op_spawn(self, handle: str, cwd: str, argv: list[str], env: dict[str, str] | None = None,
                 width: int = 200, height: int = 50) -> dict[str, Any]:
        args = ["new-session", "-d", "-s", handle, "-x", str(width), "-y", str(height), "-c", cwd]
        for key, value in (env or {}).items():
            args += ["-e", tmux_word(f"{key}={value}")]
        if not argv:
            raise ValueError("empty command")
        self.tmux(*args, "--", sys.executable, "-c", _EXEC, json.dumps(list(argv)))
        self.tmux("set-option", "-w", "-t", f"={handle}:", "remain-on-exit", "on")
        os.write(self._wake_w, b"x")
        return self.op_status(handle)

    def op_send(self, handle: str, text: str, submit: bool = True) -> None:
        self.tmux("send-keys", "-t", f"={handle}:", "-l", "--", tmux_word(text))
        if submit:
            time.sleep(0.05)
            self.tmux("send-keys", "-t", f"={handle}:", "Enter")

    def op_keys(self, handle: str, keys: list[str]) -> None:
        self.tmux("send-keys", "-t", f"={handle}:", *map(tmux_word, keys))

    def op_bytes(self, handle: str, hex: str) -> None:
        """Raw bytes typed in the control room's live pane (hex: nothing in them is a tmux word)."""
        data = bytes.fromhex(hex)
        for start in range(0, len(data), 2000):
            self.tmux("send-keys", "-t", f"={handle}:", "-H", *(f"{b:02x}" for b in data[start:start + 2000]))

    def op_resize(self, handle: str, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", f"={handle}:", "-x", str(int(width)), "-y", str(int(height)), check=False)

    def op_capture(self, handle: str, escapes: bool = False, history: int = 0) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []),
                         *(["-S", str(-int(history))] if history else []), "-t", f"={handle}:")

    def op_status(self, handle: str) -> dict[str, Any]:
        return self._panes().get(handle, {"alive": False, "exit_code": None, "pid": None})

    def op_list(self) -> dict[str, dict[str, Any]]:
        return self._panes()

    def op_kill(self, handle: str) -> None:
        with self._exits:
            self._alive.discard(handle)  # ended by ao: not an exit to report
        self.tmux("kill-session", "-t", f"={handle}", check=False)

    def op_remove_worktree(self, name: str, session: str, force: bool = False) -> None:
        """Delete a session's worktree (its branch stays in the host's clone)."""
        if not session or "/" in session or session.startswith("."):
            raise ValueError(f"bad session id {session!r}")
        with self._out:  # the session is over: its hook events are not streamed any more
            self._follow.pop(session, None)
        path = os.path.join(self.state, "worktrees", session)
        if os.path.isdir(path):
            self.git(self._repo(name), "worktree", "remove", *(["--force"] if force else []), "--", path)

    def op_events_file(self, session: str) -> str:
        """Where the session's agent hooks append their events on this host (its directory made)."""
        if not session or "/" in session or session.startswith("."):
            raise ValueError(f"bad session id {session!r}")
        folder = os.path.join(self.state, "sessions", session)
        os.makedirs(folder, mode=0o700, exist_ok=True)
        return os.path.join(folder, "hook-events.jsonl")

    def op_follow(self, session: str, offset: int = 0) -> None:
        """Stream the session's hook events from byte ``offset`` on, as ``{"event": "hook", "session",
        "offset", "data"}`` (whole lines only), until this ao ends. Asked again: from the new offset."""
        path = self.op_events_file(session)
        with self._out:
            self._follow[session] = (path, int(offset))
            start, self._tailing = not self._tailing, True
        if start:
            threading.Thread(target=self._tail, daemon=True).start()

    def _tail(self) -> None:
        """One thread for every followed file: a stat each, every FOLLOW_EVERY; read only what grew."""
        while True:
            with self._out:
                follows = list(self._follow.items())
            for session, (path, offset) in follows:
                try:
                    size = os.stat(path).st_size
                except FileNotFoundError:
                    continue
                if size <= offset:
                    continue
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read(size - offset)
                whole = chunk[:chunk.rfind(b"\n") + 1]  # a line being written waits for its end
                if not whole:
                    continue
                with self._out:
                    if self._follow.get(session) != (path, offset):
                        continue  # asked again meanwhile: from its new offset next time
                    self._follow[session] = (path, offset + len(whole))
                    sys.stdout.write(json.dumps({"event": "hook", "session": session, "offset": offset,
                                                 "data": whole.decode("utf-8", "replace")}) + "\n")
                    sys.stdout.flush()
            time.sleep(FOLLOW_EVERY)

    def op_transcript_usage(self, agent_session: str, config_dir: str = "") -> dict[str, Any] | None:
        """A Claude Code conversation's tokens, cost and model, counted here from its transcript on this
        host (and its subagents') with the local reader's own counter, each file read on from where the
        last ask ended. None while it has no transcript. ``config_dir``: the agent's CLAUDE_CONFIG_DIR."""
        import glob
        import uuid

        name = f"{uuid.UUID(agent_session)}.jsonl"  # a UUID names the file: nothing else is looked for
        projects = os.path.join(os.path.expanduser(config_dir or "~/.claude"), "projects")
        found = glob.glob(os.path.join(glob.escape(projects), "*", name))
        if not found:
            return None
        main = max(found, key=lambda p: os.stat(p).st_mtime)
        files = [main, *sorted(glob.glob(os.path.join(glob.escape(main[:-len(".jsonl")]), "subagents", "*.jsonl")))]
        totals = [0, 0, 0, 0, 0.0]
        model = ""
        now = self.clock()
        for path in [p for p, c in self._usage.items() if now - c.asked_at > USAGE_KEPT_SECONDS]:
            del self._usage[path]
        for path in files:
            counted = self._count_usage(path)
            counted.asked_at = now
            totals = [a + b for a, b in zip(totals, counted.totals)]
            model = model or counted.model
        return {"input_tokens": int(totals[0]), "output_tokens": int(totals[1]),
                "cache_creation_input_tokens": int(totals[2]), "cache_read_input_tokens": int(totals[3]),
                "cost_usd": max(0.0, totals[4]), "model": model}

    def _count_usage(self, path: str) -> _Counted:
        from ao_tui.activity.usage_count import UsageCount, named_model

        counted = self._usage.get(path)
        size = os.stat(path).st_size
        if counted is None or size < counted.offset:  # new, or rewritten shorter: counted again
            counted = self._usage[path] = _Counted(UsageCount())
        if size > counted.offset:
            with open(path, "rb") as f:
                f.seek(counted.offset)
                chunk = f.read(size - counted.offset)
            whole = chunk[:chunk.rfind(b"\n") + 1]  # a line being written waits for its end
            counted.offset += len(whole)
            for line in whole.splitlines():
                if b'"usage"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and record.get("type") == "assistant":
                    counted.model = named_model(record) or counted.model
                    counted.count.account(record, counted.model)
        return counted

    #: What the engine may ask of git in a session's worktree: reading only (its commits, files, diff).
    READ_ONLY_GIT = frozenset({"log", "diff", "ls-files", "merge-base", "rev-parse"})

    def op_git(self, session: str, args: list[str]) -> str:
        """Run a read-only git command in the session's worktree (what the control room shows of it)."""
        if not args or args[0] not in self.READ_ONLY_GIT:
            raise ValueError(f"git {args[:1]} is not a read-only command ao asks a host for")
        if not session or "/" in session or session.startswith("."):
            raise ValueError(f"bad session id {session!r}")
        return ao_git.out(os.path.join(self.state, "worktrees", session), "-c", "core.quotePath=false", *args,
                          timeout=30)

    def op_push(self, worktree: str, branch: str) -> None:
        self.git(worktree, "push", "-q", "origin", f"{branch}:{branch}")

    def op_rev(self, worktree: str, ref: str = "HEAD") -> str:
        return self.git(worktree, "rev-parse", ref)

    # -- exits --------------------------------------------------------------------------------

    def _panes(self) -> dict[str, dict[str, Any]]:
        out = self.tmux("list-panes", "-a", "-F", "#{session_name}\t#{pane_dead}\t#{pane_dead_status}\t#{pane_pid}"
                        "\t#{pane_width}\t#{pane_height}\t#{pane_title}", check=False)
        panes: dict[str, dict[str, Any]] = {}
        for line in out.splitlines():
            name, dead, code, pid, width, height, title = (line.split("\t", 6) + [""] * 6)[:7]
            panes[name] = {"alive": dead != "1", "exit_code": int(code) if dead == "1" and code.isdigit() else None,
                           "pid": int(pid) if pid.isdigit() else None, "title": title,
                           "width": int(width) if width.isdigit() else 0,
                           "height": int(height) if height.isdigit() else 0}
        return panes

    def _report_exits(self) -> dict[str, dict[str, Any]]:
        with self._exits:
            return self._report_exits_locked()

    def _report_exits_locked(self) -> dict[str, dict[str, Any]]:
        panes = self._panes()
        if any(not p["alive"] and p["exit_code"] is None and h not in self._dead for h, p in panes.items()):
            # tmux 3.3a sometimes misses a child's SIGCHLD (the pane is dead, its status never filled in,
            # the child a zombie until another child exits): any job exiting makes it reap every child.
            self.tmux("run-shell", "true", check=False)
            panes = self._panes()
        for handle, pane in panes.items():
            if not pane["alive"] and handle not in self._dead:
                # tmux marks a pane dead when its terminal closes, a moment before it learns the status.
                if pane["exit_code"] is None:
                    first = self._dead_unknown.setdefault(handle, time.monotonic())
                    if time.monotonic() - first < STATUS_GRACE:
                        continue
                self._dead_unknown.pop(handle, None)
                self._dead.add(handle)
                self.emit({"event": "exited", "handle": handle, "code": pane["exit_code"]})
        # A pane seen alive that is gone (its tmux server ended: killed, the host rebooting) ended too.
        for handle in sorted(self._alive - set(panes)):
            if handle not in self._dead:
                self._dead.add(handle)
                self.emit({"event": "exited", "handle": handle, "code": None})
        self._alive = {h for h, p in panes.items() if p["alive"]}
        self._dead -= self._alive  # started again (a restore): its next end is reported too
        self._dead &= set(panes)  # killed: gone for good (one dying under that name again is a new end)
        for handle in [h for h in self._dead_unknown if h not in panes]:
            del self._dead_unknown[handle]
        return panes

    def watch_exits(self) -> None:
        import select

        watched: dict[int, int] = {}  # pid -> pidfd
        while True:
            panes = self._report_exits()
            alive = {p["pid"] for p in panes.values() if p["alive"] and p["pid"]}
            for pid in list(watched):
                if pid not in alive:
                    os.close(watched.pop(pid))
            for pid in alive - set(watched):
                try:
                    watched[pid] = os.pidfd_open(pid)
                except (OSError, AttributeError):
                    pass  # gone already, or no pidfds: the listing finds it
            ready, _, _ = select.select([self._wake_r, *watched.values()], [], [], POLL)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            elif ready:  # a pane's process ended: tmux marks it dead a moment later
                for _ in range(int((STATUS_GRACE + 0.5) / 0.01)):
                    before = len(self._dead)
                    self._report_exits()
                    if len(self._dead) > before:
                        break
                    time.sleep(0.01)

    # -- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        threading.Thread(target=self.watch_exits, daemon=True).start()
        for line in sys.stdin:
            if not line.strip():
                continue
            ident = None
            try:
                request = json.loads(line)
                ident = request.get("id")
                op = getattr(self, f"op_{request['op']}")
                result = op(**{k: v for k, v in request.items() if k not in ("id", "op")})
                self.emit({"id": ident, "ok": True, "result": result})
            except Exception as exc:  # one bad request never ends the host's ao
                self.emit({"id": ident, "ok": False, "error": f"{type(exc).__name__}: {exc}"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--version"]:
        print(__version__)
        return 0
    HostDaemon(args[0] if args else "~/.ao-host").serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
