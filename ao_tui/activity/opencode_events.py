"""OpenCode's events, as ao's plugin inside it writes them, in the words of Claude Code's hooks.

ao's plugin (plugins/ao_tui_plugins/opencode_events.js) appends one line per
event that changes what OpenCode is doing, ``{"event": "opencode:<kind>", ...}``.
Observed with OpenCode 1.18.33 (tests/fixtures/events/opencode/1.18.33/):

- ``loaded``: the plugin started (OpenCode is up);
- ``text`` with ``role`` user: a prompt; role assistant: what it said (finished parts only);
- ``tool`` with ``status`` running, completed or error: a tool call (``running`` is written
  before or after the permission prompt for it, so it is not yet "executing" while one waits);
- ``permission`` / ``permission.replied`` (``reply`` once, always or reject);
- ``question`` / ``question.replied``: its question tool;
- ``step``: a model request answered (after a retry: working again);
- ``retry``: a failed request it retries (OpenCode retries even a 400 without end: the error is the news);
- ``error``: a failure that ended the turn (``MessageAbortedError`` is the human pressing Esc);
- ``idle``: the turn is over;
- ``session`` with ``parentID``: a sub-agent's session, whose work is not the session's state
  (its permission prompts and questions are: they wait for the human all the same).

The translation keeps what a turn said, so ``idle`` knows the last words (a question
means waiting_input) and whether an error ended it.
"""

from __future__ import annotations

from typing import Any

PREFIX = "opencode:"
_WAITS = frozenset({"permission", "permission.replied", "question", "question.replied"})


class OpenCodeEvents:
    """One OpenCode process's plugin lines, turned into Claude Code hook events (state kept between lines)."""

    def __init__(self) -> None:
        self.children: set[str] = set()
        self.asked: dict[str, dict[str, Any]] = {}  # permission id -> the PreToolUse it approves
        self.waiting_calls: dict[str, str] = {}  # tool call id -> the permission id it waits for
        self.last_text = ""
        self.failure = ""  # what ended the turn (not a retry: an Esc ends those)

    def translate(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = str(event.get("event", "")).removeprefix(PREFIX)
        at = {"at": event["at"]} if "at" in event else {}
        session = event.get("sessionID")
        if kind == "session":
            if event.get("parentID") and isinstance(session, str):
                self.children.add(session)
            return []
        if session in self.children and kind not in _WAITS:
            return []
        out = self._translate(kind, event)
        return [{**at, **e} for e in out]

    def _translate(self, kind: str, event: dict[str, Any]) -> list[dict[str, Any]]:
        if kind == "loaded":
            return [{"event": "SessionStart", "source": "startup"}]
        if kind == "text":
            text = event["text"] if isinstance(event.get("text"), str) else ""
            if event.get("role") == "user":
                self.last_text, self.failure = "", ""
                return [{"event": "UserPromptSubmit", "prompt": text}]
            if text.strip():
                self.last_text = text
            return []
        if kind == "step":
            return [{"event": "Busy"}]
        if kind == "tool":
            status = event.get("status")
            if status == "running":
                if str(event.get("callID")) in self.waiting_calls:
                    return []  # its permission prompt is still open
                return [_tool_use(event.get("tool"), event.get("input"))]
            if status in ("completed", "error"):
                return [{"event": "PostToolUse", "tool_name": event.get("tool")}]
            return []
        if kind == "permission":
            pre = _tool_use(event.get("permission"), _permission_input(event))
            self.asked[str(event.get("id"))] = pre
            if event.get("callID"):
                self.waiting_calls[str(event["callID"])] = str(event.get("id"))
            return [{**pre, "event": "PermissionRequest"}]
        if kind == "permission.replied":
            approved = self.asked.pop(str(event.get("id")), None)
            self.waiting_calls = {c: p for c, p in self.waiting_calls.items() if p != str(event.get("id"))}
            if event.get("reply") == "reject" or approved is None:
                return [{"event": "PermissionDenied"}]
            return [approved]  # approved: the tool runs now
        if kind == "question":
            return [_tool_use("AskUserQuestion", {"questions": [{"question": event.get("question") or ""}]})]
        if kind == "question.replied":
            return [{"event": "PostToolUse", "tool_name": "AskUserQuestion"}]
        if kind == "retry":
            message = str(event.get("message") or "API error")
            attempt = event.get("attempt")
            return [{"event": "StopFailure", "error": f"{message} (retrying, attempt #{attempt})" if attempt else message}]
        if kind == "error":
            if event.get("name") == "MessageAbortedError":
                self.failure = ""
                return [{"event": "Idle", "detail": "interrupted"}]
            self.failure = str(event.get("message") or event.get("name") or "error")
            return [{"event": "StopFailure", "error": self.failure}]
        if kind == "idle":
            if self.failure:
                return []  # the error that ended the turn is the news
            if not self.last_text.strip():
                return [{"event": "Idle", "detail": "turn finished"}]
            return [{"event": "Stop", "last_assistant_message": self.last_text}]
        return []


def _tool_use(tool: object, tool_input: object) -> dict[str, Any]:
    return {"event": "PreToolUse", "tool_name": str(tool or "tool"),
            "tool_input": tool_input if isinstance(tool_input, dict) else {}}


def _permission_input(event: dict[str, Any]) -> dict[str, Any]:
    """What the prompt is about: the command, else the file, else the patterns it would allow."""
    metadata: dict[str, Any] = event["metadata"] if isinstance(event.get("metadata"), dict) else {}
    if isinstance(metadata.get("command"), str):
        return {"command": metadata["command"]}
    path = metadata.get("filepath") or metadata.get("filePath") or metadata.get("path")
    if isinstance(path, str):
        return {"file_path": path}
    patterns = [p for p in event.get("patterns") or [] if isinstance(p, str)]
    return {"pattern": " ".join(patterns)} if patterns else {}
