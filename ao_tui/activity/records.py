"""What the transcript readers (Claude Code's, Codex's rollouts, Gemini's chats) record about a turn:
shared by ``transcript`` and the per-agent record readers, so neither imports the other."""

from __future__ import annotations

import re
from dataclasses import dataclass

PR_URL = re.compile(r"https?://[^\s\"'<>()\[\]`]+?/(?:pull|merge_requests)/\d+")


class Kind:
    """What the last state-deciding record of the main conversation was."""

    NONE = ""
    PROMPT = "prompt"
    TEXT = "text"
    TOOL_USE = "tool_use"
    TOOL_RESULT = "tool_result"
    TURN_END = "turn_end"
    API_ERROR = "api_error"
    RETRYING = "retrying"
    INTERRUPT = "interrupt"


@dataclass(frozen=True)
class OpenTool:
    """A tool_use the agent issued whose tool_result has not arrived."""

    id: str
    name: str
    target: str = ""  # the file, command or pattern it works on
    at: float | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {self.target}".strip()


def text_of(content: object) -> str:
    """The text of a message's content: a string as is, or the ``text`` parts of a list of blocks, one a line."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""
