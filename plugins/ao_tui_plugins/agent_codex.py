"""OpenAI Codex CLI as an ao agent: launch, hooks, rollout, resume and screen.

Facts this relies on (observed with Codex 0.171.0 in tmux against
tests/support/openai_server.py; screens in tests/fixtures/screens/codex/0.171.0/,
events in tests/fixtures/events/codex/0.171.0/):

- ``codex [flags] -- <prompt>`` starts the interactive TUI on the prompt; the
  project's rules go in ``developer_instructions`` (``-c``), Codex's own
  system-prompt addendum.
- Codex runs hooks in Claude Code's format (``SessionStart``,
  ``UserPromptSubmit``, ``PreToolUse``, ``PermissionRequest``,
  ``PostToolUse``, ``Stop``; the payload names ``session_id`` and
  ``transcript_path``), so ao's own hook script and detector read them as
  they are. Hooks are passed with ``-c hooks.<Event>=[...]`` (nothing is
  written to the user's ``~/.codex``), and marked trusted for this launch with
  ``hooks.state``: Codex keys a hook's trust by
  ``/<session-flags>/config.toml:<event>:<group>:<handler>`` and hashes its
  normalised identity (sha256 of its sorted, compact JSON), otherwise it stops
  at a "Hooks need review" dialog.
- Codex picks its own session (thread) id; ao learns it from the first hook
  event (or the rollout's ``session_meta``) and ``codex resume <id>`` reopens
  that conversation.
- The session rollout (``$CODEX_HOME/sessions/.../rollout-*-<id>.jsonl``,
  read by ao_tui/activity/codex_rollout.py) has the turns, tool calls, API
  errors after Codex's retries, and token totals.
- ``--disable daemon_auto_start``: otherwise Codex starts a background
  app-server daemon per ``CODEX_HOME`` that outlives the session.
- Screens: approvals read "Would you like to run the following command?" with
  "› 1. Yes, proceed (y)" and "Press enter to confirm or esc to cancel"; work
  shows "• Working (1s • esc to interrupt)" (a retried API error:
  "• Reconnecting... 2/5 (8s • esc to interrupt)"); a failed turn "■ <error>";
  at rest the composer line starts with ``›``.

Permission modes map to Codex's sandbox and approval policy: ``default`` asks
for anything outside the workspace sandbox (``on-request``), ``acceptEdits``
lets the model decide when to ask (``on-request`` too: Codex has no separate
edit approval), ``plan`` is read-only, ``bypassPermissions`` drops both.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from pathlib import Path

from ao_tui.models import ActivityState
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins._agent_common import (
    agent_command,
    events_hook_command,
    exclude_from_git,
    newest_hook_field,
    permission_mode,
)
from ao_tui_plugins.agent_claude_code import PROMPT_ARG_LIMIT, write_ao_file

MODE_FLAGS = {
    "default": ["--sandbox", "workspace-write", "--ask-for-approval", "on-request"],
    "acceptEdits": ["--sandbox", "workspace-write", "--ask-for-approval", "on-request"],
    "plan": ["--sandbox", "read-only", "--ask-for-approval", "on-request"],
    "bypassPermissions": ["--dangerously-bypass-approvals-and-sandbox"],
}

#: Hook events ao installs, with the label Codex keys their trust by.
HOOK_EVENTS = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "user_prompt_submit",
    "PreToolUse": "pre_tool_use",
    "PermissionRequest": "permission_request",
    "PostToolUse": "post_tool_use",
    "Stop": "stop",
}
_TOOL_EVENTS = {"PreToolUse", "PermissionRequest", "PostToolUse"}
HOOK_TIMEOUT = 10
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these)."""
    return json.dumps(value, ensure_ascii=False)


def hook_trust_hash(label: str, command: str, matcher: str | None) -> str:
    """Codex's trust hash of one command hook: sha256 of its normalised identity as sorted, compact JSON."""
    identity: dict[str, object] = {"event_name": label,
                                   "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT,
                                              "async": False}]}
    if matcher is not None:
        identity["matcher"] = matcher
    raw = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()


def hook_overrides(command: str) -> list[str]:
    """``-c`` arguments that install ``command`` for every event and trust exactly those hooks."""
    args: list[str] = []
    state: list[str] = []
    for event, label in HOOK_EVENTS.items():
        matcher = "*" if event in _TOOL_EVENTS else None
        match = f"matcher={toml_string(matcher)}," if matcher else ""
        handler = f'{{type="command",command={toml_string(command)},timeout={HOOK_TIMEOUT}}}'
        args += ["-c", f"hooks.{event}=[{{{match}hooks=[{handler}]}}]"]
        key = f"/<session-flags>/config.toml:{label}:0:0"
        state.append(f"{toml_string(key)}={{trusted_hash={toml_string(hook_trust_hash(label, command, matcher))}}}")
    return [*args, "-c", "hooks.state={" + ",".join(state) + "}"]


class CodexAgent(Agent):
    has_transcript = True  # the rollout: its path comes with the first hook event
    has_hooks = True
    watch_dialogs = True  # nothing is written when a prompt is approved, until the tool finishes
    tested_versions = ("0.171.0", "0.171.0")

    def new_agent_session_id(self) -> str:
        return ""  # Codex names its own thread; learnt from its hooks (see agent_session_id)

    def executable(self, spec: LaunchSpec) -> list[str]:
        return agent_command(spec, "AO_CODEX_BIN", "codex")

    def _flags(self, spec: LaunchSpec) -> list[str]:
        mode = permission_mode(spec, MODE_FLAGS)
        flags = ["--model", spec.model] if spec.model else []
        workspace = str(Path(spec.workspace).absolute())
        flags += [*MODE_FLAGS[mode], "--disable", "daemon_auto_start",
                  "-c", f"projects={{{toml_string(workspace)}={{trust_level=\"trusted\"}}}}"]
        if spec.extra_rules.strip():
            flags += ["-c", f"developer_instructions={toml_string(spec.extra_rules.strip())}"]
        if spec.events_file is not None:
            flags += hook_overrides(self.hook_command(spec))
        return flags

    def hook_command(self, spec: LaunchSpec) -> str:
        """The shell command Codex runs on every event (built only from values ao controls, each quoted)."""
        return events_hook_command(spec)

    def install_hooks(self, spec: LaunchSpec) -> Path:
        """Hooks travel as ``-c`` flags; ``.ao/codex-hooks.toml`` shows what ao passes (``ao doctor`` reads it)."""
        return write_ao_file(spec.workspace, "codex-hooks.toml",
                             "".join(arg + "\n" for arg in hook_overrides(self.hook_command(spec)) if arg != "-c"))

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        prompt = spec.prompt
        if len(prompt.encode("utf-8")) > PROMPT_ARG_LIMIT:
            path = write_ao_file(spec.workspace, "task.md", prompt)
            prompt = f"Your task is in the file {path} (do not commit it). Read all of it, then do it."
        return [*self.executable(spec), *self._flags(spec), "--", prompt]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        thread = self.agent_session_id(spec)
        target = [thread] if thread else ["--last"]
        return [*self.executable(spec), "resume", *self._flags(spec), *target]

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        exclude_from_git(spec.workspace, [".ao/"])

    # -- what Codex wrote ---------------------------------------------------------
    def agent_session_id(self, spec: LaunchSpec) -> str:
        """Codex's thread id: the recorded one, else the newest the session's hooks named."""
        if spec.agent_session_id and _UUID.match(spec.agent_session_id):
            return spec.agent_session_id
        found = newest_hook_field(spec.events_file, "session_id")
        return found if found and _UUID.match(found) else ""

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        hooked = newest_hook_field(spec.events_file, "transcript_path")
        if hooked:
            return Path(hooked)
        thread = self.agent_session_id(spec)
        if not thread:
            return None
        home = Path(spec.env.get("CODEX_HOME") or os.environ.get("CODEX_HOME") or Path.home() / ".codex")
        found = glob.glob(os.path.join(glob.escape(str(home / "sessions")), "*", "*", "*", f"rollout-*-{thread}.jsonl"))
        return Path(max(found)) if found else None

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """OPENAI_* and CODEX_HOME from ao's environment, then the config's env (in memory, never on disk)."""
        env = {k: v for k, v in os.environ.items() if k.startswith(("OPENAI_", "CODEX_"))}
        env.update(spec.env)
        return env

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_codex_screen(screen)

    def model_trailer(self, model: str) -> str:
        return f"Co-Authored-By: {model or 'Codex'} <noreply@ao-tui.dev>"


_QUESTION = re.compile(r"(Would you like to (?:run the following command|make the following edits|"
                       r"grant these permissions|allow [^\n?]{1,80})\?)")
_CONFIRM = re.compile(r"Press enter to confirm|^\s*[›>]?\s*1\. Yes, proceed", re.MULTILINE)
_COMMAND = re.compile(r"^\s*\$ (.+)$", re.MULTILINE)
_WORKING = re.compile(r"^\s*[•◦·]?\s*(?:Working|Thinking|Reconnecting)[^\n]*\besc to interrupt\b[^\n]*", re.MULTILINE)
_INTERRUPT = re.compile(r"\besc to interrupt\b")
_COMPOSER = re.compile(r"^\s*› ")
_ERROR = re.compile(r"^\s*■ ([^\n]+)$|(unexpected status \d{3}[^\n]*)", re.MULTILINE)
_HOOK_REVIEW = re.compile(r"^\s*Hooks need review", re.MULTILINE)


def read_codex_screen(screen: str) -> ScreenGuess | None:
    # Codex spaces its output with blank lines (more in a tall pane): only the printed ones count.
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    if not lines:
        return None
    tail = "\n".join(lines[-30:])
    if _HOOK_REVIEW.search(tail):
        return ScreenGuess(ActivityState.WAITING_INPUT, "Codex asks to review hooks")
    question = _QUESTION.search(tail)
    if question and _CONFIRM.search(tail):
        command = _COMMAND.search(tail[question.end():])
        detail = question.group(1) + (f" ({command.group(1).strip()[:160]})" if command else "")
        return ScreenGuess(ActivityState.WAITING_PERMISSION, detail)
    working = _WORKING.search(tail)
    if working or _INTERRUPT.search(tail):
        detail = working.group(0).strip().lstrip("•◦· ") if working else ""
        return ScreenGuess(ActivityState.WORKING, detail.split(" · ")[0])
    composer = max((i for i, line in enumerate(lines) if _COMPOSER.match(line)), default=None)
    window = lines[max(0, composer - 12):composer] if composer is not None else lines[-12:]
    prompt_at = max((i for i, line in enumerate(window) if _COMPOSER.match(line)), default=-1)
    errors = list(_ERROR.finditer("\n".join(window[prompt_at + 1:])))
    if errors:
        last = errors[-1]
        return ScreenGuess(ActivityState.ERRORED, (last.group(1) or last.group(2)).strip()[:200])
    if composer is not None and composer >= len(lines) - 5:
        return ScreenGuess(ActivityState.IDLE, "")
    return None
