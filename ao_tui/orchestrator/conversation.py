"""The orchestrator's conversation, kept in the store so it survives restarts.

Messages are stored exactly as the Messages API wants them (``role`` and a
list of content blocks). What is read back is normalised into a valid
request: it starts with a user turn, roles alternate, and every ``tool_use``
has its ``tool_result`` (a reply stopped half-way leaves none).
"""

from __future__ import annotations

from typing import Any

from ao_tui.store import Store

DEFAULT_CONVERSATION = "main"
#: How many stored messages go into a request (older ones stay in the store).
WINDOW = 60
STOPPED_RESULT = "stopped by the human before this finished"


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict) and b.get("type")]
    return []


def _is_plain_user(message: dict[str, Any]) -> bool:
    return message["role"] == "user" and not any(b.get("type") == "tool_result" for b in message["content"])


def normalize(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A valid message list from whatever was stored (merged roles, paired tools)."""
    merged: list[dict[str, Any]] = []
    for raw in messages:
        role = raw.get("role")
        if role not in ("user", "assistant"):
            continue
        content = _blocks(raw.get("content"))
        if not content:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(content)
        else:
            merged.append({"role": role, "content": list(content)})
    while merged and merged[0]["role"] != "user":
        merged.pop(0)
    # Every tool_use must be answered in the next user message.
    result: list[dict[str, Any]] = []
    for i, message in enumerate(merged):
        result.append(message)
        if message["role"] != "assistant":
            continue
        uses = [b["id"] for b in message["content"] if b.get("type") == "tool_use"]
        if not uses:
            continue
        following = merged[i + 1] if i + 1 < len(merged) else None
        answered = {b.get("tool_use_id") for b in following["content"]} if following else set()
        missing = [
            {"type": "tool_result", "tool_use_id": uid, "content": STOPPED_RESULT, "is_error": True}
            for uid in uses
            if uid not in answered
        ]
        if missing:
            if following is not None and following["role"] == "user":
                following["content"][:0] = missing
            else:
                result.append({"role": "user", "content": missing})
    # A tool_result must answer the tool_use just before it.
    for i, message in enumerate(result):
        if message["role"] != "user":
            continue
        prev = result[i - 1] if i else None
        known = {b.get("id") for b in prev["content"]} if prev else set()
        message["content"] = [
            b for b in message["content"] if b.get("type") != "tool_result" or b.get("tool_use_id") in known
        ] or [{"type": "text", "text": "(continue)"}]
    return result


def window(messages: list[dict[str, Any]], size: int = WINDOW) -> list[dict[str, Any]]:
    """The last ``size`` messages, starting at a plain user message."""
    if len(messages) <= size:
        return messages
    tail = messages[-size:]
    for i, message in enumerate(tail):
        if _is_plain_user(message):
            return tail[i:]
    return tail[-1:]


class Conversation:
    """One named conversation in the store."""

    def __init__(self, store: Store, name: str = DEFAULT_CONVERSATION) -> None:
        self.store = store
        self.name = name

    def history(self) -> list[dict[str, Any]]:
        """Every stored message, as stored (for display)."""
        return [
            {"role": row["role"], "content": _blocks(row["content"]), "at": row["at"]}
            for row in self.store.chat_history(self.name)
        ]

    def messages(self) -> list[dict[str, Any]]:
        """What goes into the next request."""
        return window(normalize(self.history()))

    def append(self, role: str, content: list[dict[str, Any]] | str) -> None:
        blocks = _blocks(content)
        if blocks:
            self.store.append_chat(self.name, role, blocks)

    def clear(self) -> None:
        self.store.clear_chat(self.name)
