"""Aider as an ao agent: launch and restore argv and its screen; no transcript ao can tail.

Aider has no "start with this prompt and stay interactive" flag (``--message``
answers one message and exits; ``--load`` skips chat commands), so the first
turn runs the task from ``.ao/task.md`` with ``--message-file`` and aider
exits when that turn is done; ``restore_argv`` reopens it interactively with
the chat history, where follow-up messages continue the same conversation.
The project's rules go in ``.ao/rules.md``, passed read-only with ``--read``.

Screen text is from aider's public output (the CLI is not installed here):
questions end in ``(Y)es/(N)o[/(D)on't ask again] [Yes]:``, the input prompt is
``> `` (or ``architect> ``, ``ask> ``...) under a rule, and it waits on the LLM
behind a ``Waiting for <model>`` spinner.
"""

from __future__ import annotations

import os
import re

from ao_tui.models import ActivityState
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins.agent_claude_code import write_ao_file


class AiderAgent(Agent):
    has_transcript = False

    def executable(self, spec: LaunchSpec) -> list[str]:
        if spec.command:
            return list(spec.command)
        return [os.environ.get("AO_AIDER_BIN") or "aider"]

    def _common_flags(self, spec: LaunchSpec) -> list[str]:
        flags: list[str] = []
        if spec.model:
            flags += ["--model", spec.model]
        if spec.permission_mode == "bypassPermissions":
            flags.append("--yes-always")
        if spec.extra_rules.strip():
            flags += ["--read", str(write_ao_file(spec.workspace, "rules.md", spec.extra_rules.strip() + "\n"))]
        return flags

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        task = write_ao_file(spec.workspace, "task.md", spec.prompt)
        return [*self.executable(spec), *self._common_flags(spec), "--message-file", str(task)]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), *self._common_flags(spec), "--restore-chat-history"]

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_aider_screen(screen)


_QUESTION = re.compile(r"^(?P<q>.{1,300}?\?) \(Y\)es/\(N\)o[^\n]*\[(?:Yes|No)\]:\s*$")
_PROMPT = re.compile(r"^(?:[a-z-]+)?> ?.{0,500}$")
_RULE = re.compile(r"^─{10,}\s*$")
_WAITING = re.compile(r"Waiting for (?P<model>\S+)")
_ERROR = re.compile(r"(litellm\.\w*(?:Error|Exception)[^\n]*|The API provider [^\n]*|Retrying in [\d.]+ seconds[^\n]*)")


def read_aider_screen(screen: str) -> ScreenGuess | None:
    lines = [line.rstrip() for line in screen.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return None
    last = lines[-1].strip()
    question = _QUESTION.match(last)
    if question:
        q = question.group("q")
        about = lines[-2].strip() if len(lines) > 1 else ""
        return ScreenGuess(ActivityState.WAITING_PERMISSION, f"{q} ({about[:160]})" if about else q)
    waiting = _WAITING.search("\n".join(lines[-3:]))
    if waiting:
        return ScreenGuess(ActivityState.WORKING, waiting.group(0))
    at_prompt = _PROMPT.match(last) and any(_RULE.match(line) for line in lines[-6:-1])
    tail = "\n".join(lines[-15:])
    error = None
    for match in _ERROR.finditer(tail):
        error = match.group(1)
    if error and "Retrying in" in error and not at_prompt:
        return ScreenGuess(ActivityState.WORKING, error)
    if at_prompt:
        if error and "Retrying in" not in error:
            return ScreenGuess(ActivityState.ERRORED, error[:200])
        return ScreenGuess(ActivityState.IDLE, "")
    if error:
        return ScreenGuess(ActivityState.ERRORED, error[:200])
    return None

