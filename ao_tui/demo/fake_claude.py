"""A stand-in for Claude Code for the demo fleet: no API key, no network.

Takes exactly Claude Code's argv (``--session-id ID | --resume ID``,
``--model``, ``--permission-mode``, ``--append-system-prompt``, ``--``, the
prompt), or Codex's as ao_tui_plugins.agent_codex builds it (hooks and rules
as ``-c``, ``resume ... <thread id>``), and behaves like Claude Code where ao looks: it draws a Claude-like screen
(prompt ``❯`` between rules, a spinner with "esc to interrupt" while working,
permission prompts waiting for a key), sets the pane title (braille spinner
while working, ✳ at rest), writes a transcript in Claude Code's format under
``$CLAUDE_CONFIG_DIR`` (or ``$HOME/.claude``)``/projects/<slug>/<id>.jsonl``,
runs the hooks configured in ``.claude/settings.local.json`` (split into an
argument list, never through a shell), edits files in its workspace and
commits them with the model trailer from its system prompt, and reads new
prompts typed into it (a CI failure, a review comment, an answer).

What it does is scripted per task (the demo backlog's entry for the title in
``Task T-<n>: <title>``) with a little random jitter, so a demo fleet shows every
kind of session at once. ``AO_DEMO_PACE`` scales its pauses.

    python -m ao_tui.demo.fake_claude --session-id UUID --model M -- "Task T-1: ..."
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = "2.1.197"
SPINNER_GLYPHS = "✢✳✶✻✽✻✶✳"
TITLE_SPINNER = "⠂⠐⠒⠓⠋⠙⠹⠸⠼⠴⠦⠧"
VERBS = ("Thinking", "Pondering", "Crunching", "Leavening", "Noodling", "Percolating")
ORANGE = "\x1b[38;5;174m"
GREEN = "\x1b[38;5;114m"
RED = "\x1b[38;5;203m"
DIM = "\x1b[2m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
#: Seconds between spinner frames. Claude Code animates faster; a demo fleet of six redrawing
#: ten times a second kept a core a third busy (tmux and ao-tui redraw every frame too).
FRAME_SECONDS = 0.25
#: The demo's timescale (``AO_DEMO_PACE``): 0.25 makes every pause a quarter as long (tests).
PACE = max(0.05, float(os.environ.get("AO_DEMO_PACE") or 1.0))


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def project_slug(path: Path) -> str:
    """Claude Code's directory name for a project: the absolute path, non-alphanumerics as ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(path.absolute()))


# -- argv ---------------------------------------------------------------------------


class Args:
    def __init__(self, argv: list[str]) -> None:
        self.session_id = ""
        self.resume = False
        self.model = "claude-sonnet-4-5"
        self.permission_mode = "default"
        self.system_prompt = ""
        self.prompt = ""
        values = {"--session-id", "--resume", "--model", "--permission-mode", "--append-system-prompt",
                  "--settings", "--allowedTools",
                  # Codex's (the demo runs this stand-in as Codex too: agent_codex's argv)
                  "-c", "--sandbox", "--ask-for-approval", "--disable", "--enable"}
        #: Codex only: hooks passed as ``-c hooks.<Event>=[...]`` (None: read .claude/settings.local.json).
        self.codex_hooks: dict[str, Any] | None = None
        i = 0
        positional: list[str] = []
        if argv[:1] == ["resume"]:  # codex resume [flags] <thread id>
            argv, self.resume = argv[1:], True
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                positional += argv[i + 1:]
                break
            if arg in values and i + 1 < len(argv):
                value = argv[i + 1]
                if arg == "--session-id":
                    self.session_id = value
                elif arg == "--resume":
                    self.session_id, self.resume = value, True
                elif arg == "--model":
                    self.model = value
                elif arg == "--permission-mode":
                    self.permission_mode = value
                elif arg == "--append-system-prompt":
                    self.system_prompt = value
                elif arg == "-c":
                    self._codex_override(value)
                i += 2
                continue
            if not arg.startswith("-"):
                positional.append(arg)
            i += 1
        self.prompt = positional[-1] if positional else ""
        if self.codex_hooks is not None and self.resume and not self.session_id:
            self.session_id, self.prompt = self.prompt, ""  # codex resume's last word is the thread id
        self.session_id = self.session_id or str(uuid.uuid4())

    def _codex_override(self, value: str) -> None:
        import tomllib

        try:
            parsed = tomllib.loads(value)
        except ValueError:
            return
        hooks = parsed.get("hooks")
        if isinstance(hooks, dict):
            self.codex_hooks = self.codex_hooks or {}
            self.codex_hooks.update({k: v for k, v in hooks.items() if k != "state"})
        if isinstance(parsed.get("developer_instructions"), str):
            self.system_prompt = parsed["developer_instructions"]

    @property
    def trailer(self) -> str:
        found = re.search(r"^\s*(Co-Authored-By: .+)$", self.system_prompt, re.MULTILINE | re.IGNORECASE)
        return found.group(1).strip() if found else f"Co-Authored-By: {self.model} <noreply@ao-tui.dev>"


# -- the transcript ---------------------------------------------------------------------


class Transcript:
    """Appends records shaped like Claude Code 2.1's own."""

    def __init__(self, args: Args, cwd: Path) -> None:
        base = os.environ.get("CLAUDE_CONFIG_DIR") or str(Path(os.environ.get("HOME", "~")).expanduser() / ".claude")
        self.path = Path(base) / "projects" / project_slug(cwd) / f"{args.session_id}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.args = args
        self.cwd = cwd
        self.parent: str | None = None
        if self.path.exists():  # --resume: continue the chain
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    self.parent = json.loads(line).get("uuid") or self.parent
                except ValueError:
                    continue
        self.request = 0
        self.branch: str | None = None
        self.turn_started = time.monotonic()
        self.messages_in_turn = 0

    def _branch(self) -> str:
        """The checked-out branch (a stand-in never switches: asked once, then remembered)."""
        if self.branch is None:
            done = subprocess.run(["git", "-C", str(self.cwd), "symbolic-ref", "--quiet", "--short", "HEAD"],
                                  capture_output=True, text=True, timeout=10)
            self.branch = done.stdout.strip()
        return self.branch

    def _write(self, record: dict[str, Any]) -> dict[str, Any]:
        record.setdefault("uuid", str(uuid.uuid4()))
        full = {
            "parentUuid": self.parent, "isSidechain": False, **record, "timestamp": now_iso(),
            "userType": "external", "entrypoint": "cli", "cwd": str(self.cwd), "sessionId": self.args.session_id,
            "version": VERSION, "gitBranch": self._branch(),
        }
        self.parent = full["uuid"]
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(full, ensure_ascii=False) + "\n")
        self.messages_in_turn += 1
        return full

    def user(self, content: Any, **extra: Any) -> dict[str, Any]:
        if isinstance(content, str):
            self.turn_started = time.monotonic()
            self.messages_in_turn = 0
        return self._write({"type": "user", "message": {"role": "user", "content": content},
                            "permissionMode": self.args.permission_mode, **extra})

    def assistant(self, block: dict[str, Any], stop_reason: str, message_id: str, tokens: int) -> dict[str, Any]:
        self.request += 1
        usage = {"input_tokens": 120 + 40 * self.request, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 2000 + 300 * self.request, "output_tokens": tokens,
                 "service_tier": "standard"}
        return self._write({
            "type": "assistant", "requestId": f"req_{message_id[4:]}",
            "message": {"id": message_id, "type": "message", "role": "assistant", "model": self.args.model,
                        "content": [block], "stop_reason": stop_reason, "stop_sequence": None, "usage": usage},
        })

    def turn_duration(self) -> None:
        self._write({"type": "system", "subtype": "turn_duration",
                     "durationMs": int((time.monotonic() - self.turn_started) * 1000),
                     "messageCount": self.messages_in_turn, "isMeta": False})


# -- hooks --------------------------------------------------------------------------------


class Hooks:
    """Runs the commands of ``.claude/settings.local.json`` like Claude Code, minus the shell."""

    def __init__(self, cwd: Path, args: Args, transcript: Transcript) -> None:
        self.cwd, self.args, self.transcript = cwd, args, transcript

    def fire(self, event: str, **fields: Any) -> None:
        if self.args.codex_hooks is not None:
            settings: Any = {"hooks": self.args.codex_hooks}
        else:
            try:
                settings = json.loads((self.cwd / ".claude" / "settings.local.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return
        groups = settings.get("hooks", {}).get(event, []) if isinstance(settings, dict) else []
        payload = json.dumps({
            "session_id": self.args.session_id, "transcript_path": str(self.transcript.path),
            "cwd": str(self.cwd), "hook_event_name": event, "permission_mode": self.args.permission_mode, **fields,
        })
        for group in groups if isinstance(groups, list) else []:
            matcher = group.get("matcher", "") if isinstance(group, dict) else ""
            tool = fields.get("tool_name")
            if matcher not in ("", "*") and tool is not None and not re.fullmatch(matcher, str(tool)):
                continue
            for hook in group.get("hooks", []) if isinstance(group, dict) else []:
                command = hook.get("command") if isinstance(hook, dict) else None
                if not command:
                    continue
                try:
                    subprocess.run(shlex.split(command), input=payload.encode(), capture_output=True,
                                   timeout=float(hook.get("timeout", 10)), cwd=self.cwd)
                except (OSError, ValueError, subprocess.SubprocessError):
                    pass


# -- the screen ---------------------------------------------------------------------------


class Screen:
    """Ink-style drawing: permanent lines scroll into history, a dynamic area is redrawn below them."""

    def __init__(self) -> None:
        self.out = sys.stdout
        self.drawn = 0  # lines of the dynamic area on screen
        self.width = 100
        self.printed: list[str] = []  # permanent lines, to draw again after a resize
        self.resized = False

    def size(self) -> int:
        try:
            self.width = max(40, os.get_terminal_size(1).columns)
        except OSError:
            self.width = 100
        return self.width

    def title(self, text: str) -> None:
        self.out.write(f"\x1b]0;{text}\x07")

    def _erase_dynamic(self) -> str:
        if self.drawn <= 0:
            return "\r"
        return (f"\x1b[{self.drawn - 1}A" if self.drawn > 1 else "") + "\r\x1b[J"

    def frame(self, permanent: list[str], dynamic: list[str]) -> None:
        """Print ``permanent`` lines for good, then (re)draw ``dynamic`` under them.

        After a resize everything is drawn again from a cleared screen, as
        Claude Code does (the terminal has re-wrapped the old lines).
        """
        self.printed = (self.printed + permanent)[-400:]
        if self.resized:
            self.resized = False
            self.drawn = len(dynamic)
            self.out.write("\x1b[H\x1b[2J\x1b[3J" + "".join(line + "\r\n" for line in self.printed)
                           + "\r\n".join(dynamic))
            self.out.flush()
            return
        parts = [self._erase_dynamic()]
        for line in permanent:
            parts.append(line + "\r\n")
        parts.append("\r\n".join(dynamic))
        self.drawn = len(dynamic)
        self.out.write("".join(parts))
        self.out.flush()

    def rule(self) -> str:
        return DIM + "─" * self.size() + RESET


# -- the agent ----------------------------------------------------------------------------


class Interrupted(Exception):
    """Esc while working."""


class FakeClaude:
    def __init__(self, args: Args, cwd: Path, rng: random.Random) -> None:
        self.args, self.cwd, self.rng = args, cwd, rng
        self.transcript = Transcript(args, cwd)
        self.hooks = Hooks(cwd, args, self.transcript)
        self.screen = Screen()
        self.typed = ""  # what sits in the input box
        self.queued: list[str] = []  # prompts submitted while working
        self.working_since = 0.0
        self.verb = "Thinking"
        self.tokens = 0
        self.mode = "idle"  # idle | working | permission
        self.spinner_frame = 0
        self.pending_permanent: list[str] = []
        self.permission_ask: tuple[dict[str, Any], str, list[str]] = ({}, "", [])
        self.choice: str | None = None
        self.last_frame = 0.0
        self.pasting = False

    # -- drawing ------------------------------------------------------------------------

    def header(self) -> list[str]:
        model = {"opus": "Opus 4.8", "sonnet": "Sonnet 4.5", "haiku": "Haiku 4.5"}
        pretty = next((v for k, v in model.items() if k in self.args.model), self.args.model)
        return [
            f" {ORANGE}▐▛███▜▌{RESET}   {BOLD}Claude Code{RESET} v{VERSION}",
            f"{ORANGE}▝▜█████▛▘{RESET}  {pretty} · API Usage Billing",
            f"  {ORANGE}▘▘ ▝▝{RESET}    {DIM}{self.cwd}{RESET}",
            "",
        ]

    def dynamic(self) -> list[str]:
        lines: list[str] = []
        if self.mode == "permission":
            return [self.screen.rule(), *self.permission_lines()]
        if self.mode == "working":
            elapsed = int(time.monotonic() - self.working_since)
            glyph = SPINNER_GLYPHS[self.spinner_frame % len(SPINNER_GLYPHS)]
            lines += [f"{ORANGE}{glyph} {self.verb}…{RESET} {DIM}({elapsed}s · ↓ {self.tokens} tokens){RESET}", ""]
        shown = self.typed if "\n" not in self.typed else f"[Pasted text +{self.typed.count(chr(10))} lines]"
        lines += [self.screen.rule(), f"❯ {shown[-(self.screen.width - 4):]}", self.screen.rule()]
        if self.mode == "working":
            lines.append(f"  {DIM}esc to interrupt{RESET}")
        else:
            lines.append(f"  {DIM}? for shortcuts{RESET}")
        return lines

    def permission_lines(self) -> list[str]:
        tool_input, question, preview = self.permission_ask
        dashes = DIM + "╌" * self.screen.size() + RESET
        return [
            f" {BOLD}Create file{RESET}", f" {tool_input.get('file_path', '')}", dashes,
            *[f"  {n + 1} {line}" for n, line in enumerate(preview[:8])], dashes,
            f" {question}", f" {ORANGE}❯{RESET} 1. Yes", "   2. Yes, allow all edits during this session (shift+tab)",
            "   3. No", "", f" {DIM}Esc to cancel · Tab to amend{RESET}",
        ]

    def draw(self, *permanent: str) -> None:
        if self.mode == "working":
            self.screen.title(f"{TITLE_SPINNER[self.spinner_frame % len(TITLE_SPINNER)]} Claude Code")
        else:
            self.screen.title("✳ Claude Code")
        self.screen.frame(list(permanent), self.dynamic())

    # -- input --------------------------------------------------------------------------

    def pump(self, timeout: float) -> None:
        """Read what was typed for up to ``timeout`` seconds (animating the spinner)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([0], [], [], min(left, FRAME_SECONDS))
            if ready:
                try:
                    data = os.read(0, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise SystemExit(0)
                self.keys(data.decode("utf-8", "replace"))
            now = time.monotonic()
            frame_due = self.mode == "working" and now - self.last_frame >= FRAME_SECONDS
            if frame_due:
                self.spinner_frame += 1
                self.tokens += self.rng.randint(3, 20)
            if ready or frame_due or self.screen.resized:
                self.last_frame = now
                self.draw()

    def keys(self, text: str) -> None:
        """Keys typed or pasted. A bracketed paste is one prompt, its newlines included (as in
        Claude Code): only an Enter outside a paste submits."""
        i = 0
        while i < len(text):
            if text.startswith(PASTE_START, i) or text.startswith(PASTE_END, i):
                self.pasting = text.startswith(PASTE_START, i)
                i += len(PASTE_START)
                continue
            ch = text[i]
            i += 1
            if self.pasting and self.mode != "permission":
                self.typed += "\n" if ch in "\r\n" else ch if ch >= " " or ch == "\t" else ""
                continue
            if self.mode == "permission":
                if ch in "123":
                    self.choice = ch
                elif ch == "\x1b":
                    self.choice = "esc"
                elif ch == "\r" and self.choice is None:
                    self.choice = "1"
                continue
            if ch == "\x1b":
                if text[i:i + 1] == "[":  # an escape sequence (arrows...): ignore it
                    while i < len(text) and not text[i].isalpha() and text[i] != "~":
                        i += 1
                    i += 1
                    continue
                if self.mode == "working":
                    raise Interrupted()
                continue
            if ch in "\r\n":
                if self.typed.strip():
                    self.queued.append(self.typed.strip())
                self.typed = ""
            elif ch in "\x7f\x08":
                self.typed = self.typed[:-1]
            elif ch == "\x03":
                self.typed = ""
            elif ch == "\x04" and not self.typed:
                raise SystemExit(0)
            elif ch >= " ":
                self.typed += ch

    def next_prompt(self) -> str:
        """Wait at the prompt for the next submitted line."""
        self.mode = "idle"
        self.draw()
        while not self.queued:
            self.pump(0.5)
        return self.queued.pop(0)

    # -- a turn's pieces -------------------------------------------------------------------

    def start_turn(self, prompt: str) -> None:
        self.transcript.user(prompt)
        self.hooks.fire("UserPromptSubmit", prompt=prompt)
        self.mode = "working"
        self.working_since = time.monotonic()
        self.tokens = 0
        self.verb = self.rng.choice(VERBS)
        first = prompt.strip().splitlines()[0] if prompt.strip() else ""
        self.draw(f"{DIM}❯{RESET} {first[: self.screen.size() - 4]}", "")

    def think(self, seconds: float) -> None:
        self.pump(seconds * PACE * self.rng.uniform(0.8, 1.25))

    def say(self, text: str, *, final: bool = False) -> None:
        message_id = f"msg_{uuid.uuid4().hex[:20]}"
        self.transcript.assistant({"type": "text", "text": text}, "end_turn" if final else "tool_use",
                                  message_id, tokens=max(3, len(text) // 4))
        lines = text.splitlines() or [""]
        self.draw(f"{GREEN}●{RESET} {lines[0]}", *[f"  {line}" for line in lines[1:]], "")

    def tool(self, name: str, target: str, tool_input: dict[str, Any], run: Callable[[], str],
             *, ask: str | None = None, preview: list[str] | None = None) -> bool:
        """A tool call: transcript, hooks, maybe a permission prompt, the effect. False if refused."""
        message_id = f"msg_{uuid.uuid4().hex[:20]}"
        tool_id = f"toolu_{uuid.uuid4().hex[:20]}"
        self.transcript.assistant({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input},
                                  "tool_use", message_id, tokens=30)
        self.hooks.fire("PreToolUse", tool_name=name, tool_input=tool_input, tool_use_id=tool_id)
        self.draw(f"{GREEN}●{RESET} {BOLD}{name}{RESET}({target})")
        if ask and self.args.permission_mode not in ("acceptEdits", "bypassPermissions"):
            if not self.permission(name, tool_input, ask, preview or []):
                result = "The user doesn't want to proceed with this tool use."
                self.transcript.user([{"type": "tool_result", "tool_use_id": tool_id, "content": result,
                                       "is_error": True}])
                self.draw(f"  ⎿  {RED}User rejected {name.lower()} of {target}{RESET}", "")
                return False
        self.think(0.6)
        summary = run()
        self.transcript.user([{"tool_use_id": tool_id, "type": "tool_result", "content": summary}],
                             toolUseResult={"type": name.lower(), "summary": summary})
        self.hooks.fire("PostToolUse", tool_name=name, tool_input=tool_input, tool_use_id=tool_id,
                        tool_response={"summary": summary})
        self.draw(f"  ⎿  {summary}", "")
        return True

    def permission(self, name: str, tool_input: dict[str, Any], question: str, preview: list[str]) -> bool:
        self.hooks.fire("PermissionRequest", tool_name=name, tool_input=tool_input)
        self.hooks.fire("Notification", notification_type="permission_prompt",
                        message=f"Claude needs your permission to use {name}")
        self.permission_ask = (tool_input, question, preview)
        self.mode, self.choice = "permission", None
        self.draw()
        while self.choice is None:
            self.pump(0.3)
        choice = self.choice
        if choice == "2":
            self.args.permission_mode = "acceptEdits"
        self.mode = "working"
        return choice in ("1", "2")

    def end_turn(self, text: str) -> None:
        self.say(text, final=True)
        self.transcript.turn_duration()
        self.hooks.fire("Stop", stop_hook_active=False)
        elapsed = int(time.monotonic() - self.transcript.turn_started)
        self.mode = "idle"
        self.draw(f"{DIM}✻ Worked for {elapsed}s{RESET}", "")

    # -- effects in the workspace --------------------------------------------------------

    def write(self, relative: str, content: str) -> Callable[[], str]:
        def run() -> str:
            path = self.cwd / relative
            existed = path.exists()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            lines = content.count("\n") or 1
            return f"{'Updated' if existed else 'Wrote'} {lines} lines to {relative}"
        return run

    def commit(self, message: str) -> None:
        full = f"{message}\n\n{self.args.trailer}\n"

        def run() -> str:
            subprocess.run(["git", "-C", str(self.cwd), "add", "-A"], capture_output=True, timeout=30)
            done = subprocess.run(["git", "-C", str(self.cwd), "commit", "-q", "-m", full],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                return (done.stderr or done.stdout).strip().splitlines()[-1:][0] if (done.stderr or done.stdout).strip() \
                    else "nothing to commit"
            sha = subprocess.run(["git", "-C", str(self.cwd), "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
            return f"[{sha}] {message}"

        self.tool("Bash", f"git commit -m {json.dumps(message)}",
                  {"command": f"git add -A && git commit -m {shlex.quote(message)}", "description": "Commit"}, run)

    def run_tests(self) -> None:
        def run() -> str:
            done = subprocess.run([sys.executable, "check.py"], cwd=self.cwd, capture_output=True, text=True,
                                  timeout=60)
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["ok"]
            return tail[0]

        self.tool("Bash", "python check.py", {"command": "python check.py", "description": "Run the checks"}, run)


# -- scenarios --------------------------------------------------------------------------------
#
# What a stand-in does comes from its task's entry in the demo backlog (``ao_tui.demo.TASKS``),
# found by the title in its prompt: a scenario name and the file it writes. Every write starts
# with a line naming the task and session, so a task done again later still changes something.


def task_spec(prompt: str) -> tuple[str, dict[str, Any]]:
    """The task id in the prompt (``Task T-3: Title``) and the demo's spec for its title."""
    from ao_tui.demo import TASKS

    found = re.search(r"\bTask (\S+): (.+)", prompt)
    if not found:
        return "", {}
    task_id, title = found.group(1), found.group(2).strip()
    spec = next((t for t in TASKS if t["title"] == title), None)
    if spec is None:
        spec = next((t for t in TASKS if t["id"] == task_id), {})
    return task_id, spec


def stamped(agent: FakeClaude, task_id: str, relative: str, content: str) -> str:
    """``content`` under a first line naming the task and session (a comment in that file's syntax)."""
    who = f"{task_id} ({os.environ.get('AO_SESSION_ID') or agent.args.session_id[:8]})"
    if relative.endswith(".md"):
        return f"<!-- {who} -->\n{content}"
    return f"# {who}\n{content}"


def write_file(agent: FakeClaude, task_id: str, relative: str, content: str, *, ask: bool = False) -> bool:
    text = stamped(agent, task_id, relative, content)
    path = agent.cwd / relative
    verb = "Edit" if path.exists() else "Write"
    question = f"Do you want to {'make this edit to' if verb == 'Edit' else 'create'} {relative}?"
    return agent.tool(verb, relative, {"file_path": str(path), "content": text}, agent.write(relative, text),
                      ask=question if ask else None, preview=text.splitlines())


def scenario_permission(agent: FakeClaude, prompt: str, task_id: str, spec: dict[str, Any]) -> None:
    """Asks before creating its file; waits for the key."""
    relative = spec.get("file", "greet.py")
    agent.start_turn(prompt)
    agent.think(2.0)
    agent.say(f"I'll add {relative}.")
    if write_file(agent, task_id, relative, spec.get("content", ""), ask=True):
        agent.run_tests()
        agent.commit(spec.get("commit", f"Add {relative}"))
        agent.end_turn(f"Added {relative} and committed it.\n\nREADY")
    else:
        agent.end_turn(f"Understood, I won't create {relative}. Where should it go instead?")


def scenario_question(agent: FakeClaude, prompt: str, task_id: str, spec: dict[str, Any]) -> None:
    """Asks the human to decide, then does what the answer says."""
    agent.start_turn(prompt)
    agent.think(1.5)
    agent.tool("Read", "README.md", {"file_path": str(agent.cwd / "README.md")},
               lambda: f"Read {len((agent.cwd / 'README.md').read_text().splitlines())} lines")
    agent.think(1.0)
    agent.end_turn(spec.get("question", "Should I go ahead?"))
    answer = agent.next_prompt()
    agent.start_turn(answer)
    agent.think(1.5)
    relative, content = spec.get("file", "answer.md"), spec.get("content", "")
    if "settings.{fmt}" in relative:  # the settings file takes the format the human chose
        fmt = "toml" if "toml" in answer.lower() else "yaml"
        relative = relative.replace("{fmt}", fmt)
        content = 'name = "demo"\ndebug = false\n' if fmt == "toml" else "name: demo\ndebug: false\n"
    write_file(agent, task_id, relative, content)
    agent.commit(f"Add {relative}")
    agent.end_turn(f"Added {relative} as you asked.\n\nREADY")


def scenario_ci_fix(agent: FakeClaude, prompt: str, task_id: str, spec: dict[str, Any]) -> None:
    """Commits a bug that CI catches, fixes it once the failure is reported."""
    relative = spec.get("file", "slug.py")
    agent.start_turn(prompt)
    agent.think(2.5)
    write_file(agent, task_id, relative, spec.get("broken", ""))
    agent.commit(spec.get("commit", f"Rewrite {relative}"))
    agent.end_turn(f"{spec.get('claim', 'Done')}.\n\nREADY")
    while True:
        message = agent.next_prompt()
        agent.start_turn(message)
        agent.think(2.0)
        if re.search(r"\b(ci|check|fail|failed|failing|error)\b", message, re.IGNORECASE):
            agent.say(spec.get("diagnosis", "The check caught a mistake; fixing it."))
            write_file(agent, task_id, relative, spec.get("content", ""))
            agent.run_tests()
            agent.commit(spec.get("fix_commit", f"Fix {relative}"))
            agent.end_turn("Fixed, and the checks pass.\n\nREADY")
        else:
            scenario_followup(agent, message, started=True)


def scenario_clean(agent: FakeClaude, prompt: str, task_id: str, spec: dict[str, Any]) -> None:
    """Does the job and says READY (a review comment later gets a follow-up commit)."""
    relative = spec.get("file", "")
    agent.start_turn(prompt)
    agent.think(3.0)
    if relative == "README.md":  # grows a section
        readme = (agent.cwd / "README.md").read_text(encoding="utf-8")
        text = readme + f"\n## Command line ({task_id})\n\n`python -m demo greet NAME` prints a greeting.\n"
        agent.tool("Edit", "README.md", {"file_path": str(agent.cwd / "README.md"), "old_string": "",
                                         "new_string": "## Command line"}, agent.write("README.md", text))
    else:
        relative = relative or f"notes/{task_id}.md"
        write_file(agent, task_id, relative, spec.get("content", f"Work on {task_id}.\n"))
    agent.run_tests()
    agent.commit(spec.get("commit", f"{task_id}: update {relative}"))
    agent.end_turn(f"{spec.get('claim', f'Updated {relative}')}.\n\nREADY")
    followups(agent)


def scenario_stuck(agent: FakeClaude, prompt: str, task_id: str, spec: dict[str, Any]) -> None:
    """Starts a command that never returns (and so looks stuck); Esc interrupts it."""
    command = spec.get("command", "python -m integration_suite --all")
    agent.start_turn(prompt)
    agent.think(2.0)
    agent.say(spec.get("claim", "Let me run the full integration suite first."))
    message_id = f"msg_{uuid.uuid4().hex[:20]}"
    tool_input = {"command": command, "description": "A long run"}
    agent.transcript.assistant({"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": "Bash",
                                "input": tool_input}, "tool_use", message_id, tokens=25)
    agent.hooks.fire("PreToolUse", tool_name="Bash", tool_input=tool_input)
    agent.draw(f"{GREEN}●{RESET} {BOLD}Bash{RESET}({command})", f"  ⎿  {DIM}Running…{RESET}")
    agent.verb = "Waiting"
    while True:  # never finishes; Esc interrupts
        try:
            agent.pump(3600)
        except Interrupted:
            agent.transcript.user([{"type": "text", "text": "[Request interrupted by user]"}])
            agent.mode = "idle"
            agent.draw(f"  ⎿  {RED}Interrupted by user{RESET}", "")
            followups(agent)


def scenario_followup(agent: FakeClaude, message: str, *, started: bool = False) -> None:
    """Any later prompt (a review comment, a request): make a small change and commit it."""
    if not started:
        agent.start_turn(message)
        agent.think(2.0)
    name = f"notes/{time.strftime('%H%M%S')}-{agent.rng.randint(100, 999)}.md"
    content = f"# Follow-up\n\n{message.strip()[:500]}\n"
    if re.search(r"\b(test|tests)\b", message, re.IGNORECASE):
        name = f"test_{agent.rng.randint(100, 999)}.py"
        content = "def test_followup():\n    assert True\n"
    agent.tool("Write", name, {"file_path": str(agent.cwd / name), "content": content}, agent.write(name, content))
    agent.commit(f"Address feedback ({name})")
    agent.end_turn(f"Done: {name} addresses the comment.\n\nREADY")


def followups(agent: FakeClaude) -> None:
    while True:
        try:
            scenario_followup(agent, agent.next_prompt())
        except Interrupted:
            agent.mode = "idle"
            agent.draw(f"  ⎿  {RED}Interrupted by user{RESET}", "")


Scenario = Callable[[FakeClaude, str, str, dict[str, Any]], None]
SCENARIOS: dict[str, Scenario] = {
    "permission": scenario_permission,
    "question": scenario_question,
    "ci_fix": scenario_ci_fix,
    "clean": scenario_clean,
    "stuck": scenario_stuck,
}


def main(argv: list[str] | None = None) -> int:
    args = Args(list(sys.argv[1:] if argv is None else argv))
    cwd = Path.cwd()
    rng = random.Random(args.session_id)
    agent = FakeClaude(args, cwd, rng)
    attrs = None
    if os.isatty(0):
        import termios
        import tty

        attrs = termios.tcgetattr(0)
        tty.setraw(0)
    signal.signal(signal.SIGWINCH, lambda *_: setattr(agent.screen, "resized", True))
    try:
        agent.screen.out.write("\x1b[?2004h")  # bracketed paste, like Claude Code
        agent.transcript._write({"type": "permission-mode", "permissionMode": args.permission_mode})
        agent.hooks.fire("SessionStart", source="resume" if args.resume else "startup", model=args.model)
        agent.draw(*agent.header())
        if args.resume:
            agent.draw(f"{DIM}Resumed conversation {args.session_id}{RESET}", "")
            followups(agent)
        task_id, spec = task_spec(args.prompt)
        scenario = SCENARIOS.get(spec.get("scenario", ""), scenario_clean)
        try:
            scenario(agent, args.prompt, task_id or "T-0", spec)
        except Interrupted:
            agent.mode = "idle"
            agent.draw(f"  ⎿  {RED}Interrupted by user{RESET}", "")
        followups(agent)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        agent.hooks.fire("SessionEnd", reason="exit")
        if attrs is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, attrs)
        sys.stdout.write("\x1b[?2004l\r\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
