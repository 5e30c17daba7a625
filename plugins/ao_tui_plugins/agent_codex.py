"""OpenAI Codex CLI as an ao agent: launch and restore argv and its screen; no transcript.

``codex [flags] -- <prompt>`` starts the interactive TUI on the prompt (the
project's rules go first in it: codex has no append-system-prompt flag);
``codex resume --last`` reopens the newest conversation in the workspace
(codex picks its own session ids, so ao cannot name one up front).

Permission modes map to codex's sandbox and approval policy: ``default`` and
``acceptEdits`` work in a workspace-write sandbox asking on request, ``plan``
is read-only, ``bypassPermissions`` drops both.

Screen text is from codex's public output (the CLI is not installed here):
approvals read "Would you like to run the following command?" (or "... make
the following edits?") with "› 1. Yes, proceed (y)" and "Press enter to
confirm or esc to cancel"; work shows "• Working (12s • esc to interrupt)";
at rest the composer line starts with ``›``.
"""

from __future__ import annotations

import os
import re

from ao_tui.errors import PluginError
from ao_tui.models import ActivityState
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins.agent_claude_code import PROMPT_ARG_LIMIT, write_ao_file

MODE_FLAGS = {
    "default": ["--sandbox", "workspace-write", "--ask-for-approval", "on-request"],
    "acceptEdits": ["--sandbox", "workspace-write", "--ask-for-approval", "on-request"],
    "plan": ["--sandbox", "read-only", "--ask-for-approval", "on-request"],
    "bypassPermissions": ["--dangerously-bypass-approvals-and-sandbox"],
}


class CodexAgent(Agent):
    has_transcript = False

    def executable(self, spec: LaunchSpec) -> list[str]:
        if spec.command:
            return list(spec.command)
        return [os.environ.get("AO_CODEX_BIN") or "codex"]

    def _flags(self, spec: LaunchSpec) -> list[str]:
        mode = spec.permission_mode or "default"
        if mode not in MODE_FLAGS:
            raise PluginError(f"unknown permission mode {mode!r}: use one of {', '.join(MODE_FLAGS)}")
        flags = ["--model", spec.model] if spec.model else []
        return [*flags, *MODE_FLAGS[mode]]

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        prompt = spec.prompt
        if spec.extra_rules.strip():
            prompt = f"{spec.extra_rules.strip()}\n\n{prompt}"
        if len(prompt.encode("utf-8")) > PROMPT_ARG_LIMIT:
            path = write_ao_file(spec.workspace, "task.md", prompt)
            prompt = f"Your task and its rules are in the file {path} (do not commit it). Read all of it, then do it."
        return [*self.executable(spec), *self._flags(spec), "--", prompt]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), "resume", "--last", *self._flags(spec)]

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_codex_screen(screen)


_QUESTION = re.compile(r"(Would you like to (?:run the following command|make the following edits|"
                       r"grant these permissions)\?)")
_CONFIRM = re.compile(r"Press enter to confirm|^\s*[›>]?\s*1\. Yes, proceed", re.MULTILINE)
_COMMAND = re.compile(r"^\s*\$ (.+)$", re.MULTILINE)
_WORKING = re.compile(r"^\s*[•◦·]?\s*(Working|Thinking)[^\n]*\besc to interrupt\b[^\n]*", re.MULTILINE)
_INTERRUPT = re.compile(r"\besc to interrupt\b")
_COMPOSER = re.compile(r"^\s*› ")
_ERROR = re.compile(r"^\s*■ ([^\n]+)$|(unexpected status \d{3}[^\n]*)", re.MULTILINE)


def read_codex_screen(screen: str) -> ScreenGuess | None:
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return None
    tail = "\n".join(lines[-30:])
    question = _QUESTION.search(tail)
    if question and _CONFIRM.search(tail):
        command = _COMMAND.search(tail[question.end():])
        detail = question.group(1) + (f" ({command.group(1).strip()[:160]})" if command else "")
        return ScreenGuess(ActivityState.WAITING_PERMISSION, detail)
    working = _WORKING.search(tail)
    if working or _INTERRUPT.search(tail):
        return ScreenGuess(ActivityState.WORKING, working.group(0).strip() if working else "")
    composer = max((i for i, line in enumerate(lines) if _COMPOSER.match(line)), default=None)
    window = lines[max(0, composer - 12):composer] if composer is not None else lines[-12:]
    errors = list(_ERROR.finditer("\n".join(window)))
    if errors:
        last = errors[-1]
        return ScreenGuess(ActivityState.ERRORED, (last.group(1) or last.group(2)).strip()[:200])
    if composer is not None and composer >= len(lines) - 4:
        return ScreenGuess(ActivityState.IDLE, "")
    return None
