"""Gemini CLI as an ao agent: launch, hooks, saved chat, resume and screen.

Facts this relies on (observed with Gemini CLI 0.61.0 in tmux against
tests/support/gemini_server.py; screens in tests/fixtures/screens/gemini/0.61.0/):

- ``gemini --session-id <uuid> -i <prompt>`` starts the interactive CLI on the
  prompt with ao's chosen session id; ``--resume <uuid>`` reopens it.
  ``--skip-trust`` trusts the workspace for that run only (else a "Do you
  trust the files in this folder?" dialog stops it); ``--approval-mode``
  takes default, auto_edit, plan or yolo.
- Hooks run from the user-level ``settings.json`` (``$GEMINI_CLI_HOME/.gemini/``)
  with Claude-like payloads under their own names (BeforeAgent, BeforeTool,
  AfterTool, AfterAgent, a ``ToolPermission`` Notification: translated by
  ao_tui/activity/detector.py). So each session gets its own
  ``GEMINI_CLI_HOME`` in ao's session directory: your ``settings.json`` with
  ao's hooks added, and links to your login files (never copied); your own
  ``~/.gemini`` is never written. Its chats are kept there too, which is
  where ``--resume`` finds them.
- The saved chat (``tmp/<project>/chats/session-*.jsonl``, path in every hook
  event) has tokens per answer (ao_tui/activity/gemini_chat.py).
- The base URL for a proxy or a test server: ``GOOGLE_GEMINI_BASE_URL``
  (passed through from ao's environment with the other GEMINI_/GOOGLE_ variables).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from ao_tui.config import write_atomic
from ao_tui.errors import AoError, PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui.slots.runtime import Runtime
from ao_tui_plugins._agent_common import (
    agent_command,
    events_hook_command,
    exclude_from_git,
    newest_hook_field,
    permission_mode,
)
from ao_tui_plugins.agent_claude_code import PROMPT_ARG_LIMIT, write_ao_file
from ao_tui_plugins.runtime_tmux import strip_paste_markers

MODES = {"default": "default", "acceptEdits": "auto_edit", "plan": "plan", "bypassPermissions": "yolo"}
HOOK_EVENTS = ("SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent", "Notification", "PreCompress",
               "SessionEnd")
_TOOL_EVENTS = {"BeforeTool", "AfterTool"}
#: Files of the user's own Gemini home linked into each session's (their login), never copied.
LOGIN_FILES = ("oauth_creds.json", "google_accounts.json", "installation_id", "user_id")
HOOK_MARKER = "ao_tui/activity/hook.py"
#: Seconds between a paste and its Enter (measured with 0.61.0: 0.3 s joins the paste, 0.6 s submits).
SUBMIT_AFTER = 0.8
#: Times Enter is pressed again while a message stays in the input box (see GeminiAgent.submit).
UNSENT_RETRIES = 3
PASTE_START, PASTE_END = b"\x1b[200~", b"\x1b[201~"


class GeminiAgent(Agent):
    has_transcript = True  # the saved chat: its path comes with every hook event
    has_hooks = True
    watch_dialogs = True  # nothing is written when a prompt is approved, until the tool finishes
    tested_versions = ("0.61.0", "0.61.0")

    def executable(self, spec: LaunchSpec) -> list[str]:
        return agent_command(spec, "AO_GEMINI_BIN", "gemini")

    def _flags(self, spec: LaunchSpec) -> list[str]:
        mode = permission_mode(spec, MODES)
        flags = ["--model", spec.model] if spec.model else []
        return [*flags, "--approval-mode", MODES[mode], "--skip-trust"]

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        prompt = spec.prompt
        if spec.extra_rules.strip():  # Gemini CLI takes no system-prompt addendum on its command line
            prompt = f"{spec.extra_rules.strip()}\n\n{prompt}"
        if len(prompt.encode("utf-8")) > PROMPT_ARG_LIMIT:
            path = write_ao_file(spec.workspace, "task.md", prompt)
            prompt = f"Your task and its rules are in the file {path} (do not commit it). Read all of it, then do it."
        return [*self.executable(spec), "--session-id", _session_uuid(spec), *self._flags(spec),
                "--prompt-interactive", prompt]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), "--resume", _session_uuid(spec), *self._flags(spec)]

    # -- its home ---------------------------------------------------------------------
    def home(self, spec: LaunchSpec) -> Path:
        """The session's GEMINI_CLI_HOME (beside its hook events file)."""
        if spec.events_file is None:
            raise PluginError("no session directory for Gemini CLI's home")
        return Path(spec.events_file).absolute().parent / "gemini-home"

    def user_gemini_dir(self, spec: LaunchSpec) -> Path:
        base = spec.env.get("GEMINI_CLI_HOME") or os.environ.get("GEMINI_CLI_HOME") or os.environ.get("HOME") or "~"
        return Path(base).expanduser() / ".gemini"

    def hook_command(self, spec: LaunchSpec) -> str:
        return events_hook_command(spec)

    def install_hooks(self, spec: LaunchSpec) -> Path:
        """The session home's settings.json: the user's settings plus ao's hooks (theirs kept)."""
        own = self.home(spec) / ".gemini"
        settings = _load(self.user_gemini_dir(spec) / "settings.json")
        hooks: dict[str, Any] = settings["hooks"] if isinstance(settings.get("hooks"), dict) else {}
        command = self.hook_command(spec)
        for event in HOOK_EVENTS:
            groups = [g for g in hooks.get(event) or [] if HOOK_MARKER not in json.dumps(g)]
            group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "name": "ao",
                                                "timeout": 10_000}]}
            if event in _TOOL_EVENTS:
                group = {"matcher": ".*", **group}
            hooks[event] = [*groups, group]
        settings["hooks"] = hooks
        path = own / "settings.json"
        write_atomic(path, json.dumps(settings, indent=2) + "\n")
        return path

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        self.install_hooks(spec)
        own, user = self.home(spec) / ".gemini", self.user_gemini_dir(spec)
        for name in LOGIN_FILES:
            link, target = own / name, user / name
            if target.exists() and not link.exists():
                link.symlink_to(target)
        exclude_from_git(spec.workspace, [".ao/"])

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """GEMINI_*/GOOGLE_* from ao's environment, the session's GEMINI_CLI_HOME, then the config's env."""
        env = {k: v for k, v in os.environ.items() if k.startswith(("GEMINI_", "GOOGLE_"))}
        env.update(spec.env)
        env["GEMINI_CLI_HOME"] = str(self.home(spec))
        return env

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        hooked = newest_hook_field(spec.events_file, "transcript_path")
        if hooked:
            return Path(hooked)
        short = _session_uuid(spec)[:8]
        found = sorted((self.home(spec) / ".gemini" / "tmp").glob(f"*/chats/session-*-{short}.jsonl"))
        return found[-1] if found else None

    def submit(self, runtime: Runtime, handle: str, text: str) -> None:
        """Type ``text`` as one bracketed paste, always, then Enter ``SUBMIT_AFTER`` seconds later.

        Gemini CLI turns bracketed paste on only once its terminal queries are answered, which on a
        loaded machine comes after its prompt is shown (seen in CI after a resume): pasted then, the
        text arrived as keystrokes, a ``?`` among them opened the shortcuts help and the message
        stayed unsent. Its key reader knows the paste markers whatever the mode, so ao sends them
        itself. An Enter within about half a second of a paste joins it (a new line), hence the wait;
        while the message still sits unsent in the input box, Enter is pressed again (an Enter on a
        box already emptied by a sent message does nothing).
        """
        runtime.send_bytes(handle, PASTE_START + strip_paste_markers(text).encode("utf-8") + PASTE_END)
        time.sleep(SUBMIT_AFTER)
        runtime.send_keys(handle, "Enter")
        for _ in range(UNSENT_RETRIES):
            time.sleep(SUBMIT_AFTER / 2)
            if not message_unsent(runtime.capture(handle), text):
                return
            runtime.send_keys(handle, "Enter")

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_gemini_screen(screen)

    def model_trailer(self, model: str) -> str:
        return f"Co-Authored-By: {model or 'Gemini CLI'} <noreply@ao-tui.dev>"


def _session_uuid(spec: LaunchSpec) -> str:
    try:
        return str(uuid.UUID(spec.agent_session_id))
    except (ValueError, TypeError, AttributeError):
        raise PluginError(f"Gemini CLI session id must be a UUID, got {spec.agent_session_id!r}") from None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AoError(f"{path}:1: cannot read Gemini CLI settings ({exc}); fix or remove it") from None
    if not isinstance(data, dict):
        raise AoError(f"{path}:1: expected a JSON object")
    return data


_PERMISSION = re.compile(r"(Allow execution of [^\n?│]{1,120}\?|Apply this change\?|Allow [^\n?│]{1,120}\?)")
_CHOICE = re.compile(r"1\. Allow once|1\. Yes, allow once")
_WORKING = re.compile(r"[⠀-⣿]\s*([^\n│]*?\(esc to cancel[^)\n]*\))")
_IDLE = re.compile(r"^\s*>\s+Type your message")
_ERROR = re.compile(r"✕ \[API Error: ([^\n]+)|(API Error: [^\n]+)")
_TRUST = re.compile(r"Do you trust the files in this folder\?")


def message_unsent(screen: str, text: str) -> bool:
    """Whether ``text`` is still in Gemini CLI's input box: the lowest ``>`` line on screen (the box;
    sent messages sit higher, above the box, which then shows its placeholder) starts with it."""
    head = next((line.strip() for line in text.splitlines() if line.strip()), "")[:20]
    if not head:
        return False
    for line in reversed([line.strip(" │") for line in screen.splitlines() if line.strip()][-8:]):
        if line.startswith(">"):
            return line[1:].strip().startswith(head)
    return False


def read_gemini_screen(screen: str) -> ScreenGuess | None:
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    if not lines:
        return None
    tail = "\n".join(lines[-40:])
    if _TRUST.search(tail):
        return ScreenGuess(ActivityState.WAITING_INPUT, "trust dialog: Do you trust the files in this folder?")
    asked = _PERMISSION.search(tail)
    if asked and _CHOICE.search(tail):
        return ScreenGuess(ActivityState.WAITING_PERMISSION, asked.group(1).strip())
    working = _WORKING.search(tail)
    if working:
        return ScreenGuess(ActivityState.WORKING, working.group(1).strip()[:120])
    idle = any(_IDLE.match(line) for line in lines[-8:])
    error = None
    for found in _ERROR.finditer(tail):
        error = (found.group(1) or found.group(2)).strip()
    if error:
        return ScreenGuess(ActivityState.ERRORED, error[:200])
    return ScreenGuess(ActivityState.IDLE, "") if idle else None
