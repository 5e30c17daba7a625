"""Aider as an ao agent: launch, the task typed in, restore, and its screen.

Facts this relies on (observed with aider 0.86.2 in tmux against
tests/support/openai_server.py's Chat Completions; screens in
tests/fixtures/screens/aider/0.86.2/):

- Aider has no "start on this prompt and stay interactive" flag (``--message``
  answers once and exits; positional arguments are files; ``--load`` skips chat
  commands), so it starts at its ``>`` prompt and ao types the task in as the
  session's first message (``Agent.types_prompt``), submitted like any other.
- The project's rules go in ``.ao/rules.md``, passed read-only with ``--read``.
- ``--restore-chat-history`` reopens the conversation from the workspace's
  ``.aider.chat.history.md``.
- An OpenAI-compatible endpoint: ``OPENAI_API_BASE`` (or ``--openai-api-base``)
  with ``--model openai/<name>``; passed through from ao's environment.
- Aider commits its own edits with ``--no-verify`` and its own
  ``Co-authored-by: aider (<model>)`` trailer; ao's ``prepare-commit-msg`` hook
  still runs (``--no-verify`` skips only pre-commit and commit-msg), so its
  commits carry ao's trailer too.
- Its chat history (``.aider.chat.history.md``) says when a message is
  submitted, an answer given, a request failed or retried, a question answered,
  and the tokens; never when a turn ends: its screen (read every 2 s) says that.
- Screens: a question ends in ``(Y)es/(N)o[/(D)on't ask again] [Yes]:`` with
  what it is about on the line above ("Create new file?", "Run shell
  command?", "Add file to the chat?"); the input prompt is ``> `` (or
  ``architect> ``, ``ask> ``...) under a rule with the files in the chat; a
  failed request prints ``litellm.<Kind>Error: ...`` above the rule; each answer
  is followed by ``Tokens: N sent, M received[. Cost: ...]``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ao_tui.activity.aider_history import FILE_NAME, usage_from_history
from ao_tui.models import ActivityState, Usage
from ao_tui.slots.agent import Agent, LaunchSpec, ScreenGuess
from ao_tui_plugins._agent_common import agent_command, exclude_from_git, permission_mode
from ao_tui_plugins.agent_claude_code import write_ao_file

#: Permission modes: aider asks before creating files, adding files and running commands, or not at all.
MODES = {"default": [], "acceptEdits": [], "plan": ["--chat-mode", "ask"], "bypassPermissions": ["--yes-always"]}
_ENV_PREFIXES = ("OPENAI_", "ANTHROPIC_", "AIDER_", "LITELLM_", "GEMINI_", "OPENROUTER_", "DEEPSEEK_")


class AiderAgent(Agent):
    has_transcript = True  # its chat history: prompts, answers, errors, tokens (ao_tui/activity/aider_history.py)
    screen_polled = True  # ... but never a turn's end or a question before it is answered: its screen says those
    types_prompt = True
    tested_versions = ("0.86.2", "0.86.2")

    def executable(self, spec: LaunchSpec) -> list[str]:
        return agent_command(spec, "AO_AIDER_BIN", "aider")

    def _common_flags(self, spec: LaunchSpec) -> list[str]:
        mode = permission_mode(spec, MODES)
        flags: list[str] = ["--model", spec.model] if spec.model else []
        # ao keeps .aider* out of git itself (.git/info/exclude): no "Add .aider* to .gitignore?" at start.
        flags += [*MODES[mode], "--no-gitignore"]
        if spec.extra_rules.strip():
            flags += ["--read", str(write_ao_file(spec.workspace, "rules.md", spec.extra_rules.strip() + "\n"))]
        return flags

    def launch_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), *self._common_flags(spec)]

    def restore_argv(self, spec: LaunchSpec) -> list[str]:
        return [*self.executable(spec), *self._common_flags(spec), "--restore-chat-history"]

    def transcript_path(self, spec: LaunchSpec) -> Path | None:
        """The chat history aider keeps in the workspace: tailed for its states and tokens, and
        ``ao restore`` reopens the conversation from it."""
        return Path(spec.workspace) / FILE_NAME

    def usage(self, spec: LaunchSpec) -> Usage | None:
        """Tokens from the "Tokens: N sent, M received. Cost: $x message, $y session." lines of its chat history."""
        path = self.transcript_path(spec)
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path else ""
        except OSError:
            return None
        return usage_from_history(text)

    def prepare_workspace(self, spec: LaunchSpec) -> None:
        exclude_from_git(spec.workspace, [".ao/", ".aider*"])

    def environment(self, spec: LaunchSpec) -> dict[str, str]:
        """Provider keys and endpoints from ao's environment, then the config's env (in memory, never on disk)."""
        env = {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}
        env.update(spec.env)
        return env

    def read_screen(self, screen: str, title: str = "") -> ScreenGuess | None:
        return read_aider_screen(screen)

    def model_trailer(self, model: str) -> str:
        return f"Co-Authored-By: {model or 'aider'} <noreply@ao-tui.dev>"


_QUESTION = re.compile(r"^(?P<q>.{1,300}?\?) \(Y\)es/\(N\)o[^\n]*\[(?:Yes|No)\]:\s*$")
_PROMPT = re.compile(r"^(?:[a-z-]+)?> ?.{0,500}$")
_RULE = re.compile(r"^─{10,}\s*$")
_WAITING = re.compile(r"Waiting for (?P<model>\S+)")
_ERROR = re.compile(r"(litellm\.\w*(?:Error|Exception)[^\n]*|The API provider [^\n]*|Retrying in [\d.]+ seconds[^\n]*)")
_NOISE = re.compile(r"^(Tokens: |Cost: |Applied edit|Commit [0-9a-f]{7}|You can use /undo)")


def read_aider_screen(screen: str) -> ScreenGuess | None:
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
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
    start = max(0, len(lines) - 6)
    rule = max((i for i in range(start, len(lines) - 1) if _RULE.match(lines[i])), default=None)
    at_prompt = bool(_PROMPT.match(last)) and rule is not None and last.rstrip().endswith(">")
    tail = "\n".join(lines[-15:])
    error = None
    for match in _ERROR.finditer(tail):
        error = match.group(1)
    if error and "Retrying in" in error and not at_prompt:
        return ScreenGuess(ActivityState.WORKING, error)
    if at_prompt:
        above = lines[:rule]  # what the last turn printed, above the rule
        if error and "Retrying in" not in error and any(error in line for line in above[-3:]):
            return ScreenGuess(ActivityState.ERRORED, error[:200])
        said = [line.strip() for line in above if not _NOISE.match(line.strip())]
        if said and said[-1].endswith("?") and not _PROMPT.match(said[-1]):
            # A streamed answer can leave its first words beside the final line: the text after a wide gap.
            return ScreenGuess(ActivityState.WAITING_INPUT, re.split(r" {8,}", said[-1])[-1][:300])
        return ScreenGuess(ActivityState.IDLE, "")
    if _PROMPT.match(last) and rule is not None:
        return ScreenGuess(ActivityState.WORKING, "")  # a message typed and sent: the request is under way
    if error:
        return ScreenGuess(ActivityState.ERRORED, error[:200])
    return None
