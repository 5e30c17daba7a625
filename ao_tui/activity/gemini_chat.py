"""Gemini CLI saved chats (``~/.gemini/tmp/<project>/chats/session-*-<id>.jsonl``) into a TranscriptState.

Observed with Gemini CLI 0.61.0 (tests/fixtures/events/gemini/0.61.0/): a
header line ``{"sessionId", "projectHash", "kind"}``, then one line per
message, ``{"type": "user", "content": [{"text": ...}]}`` or ``{"type":
"gemini", "content": "...", "tokens": {"input", "output", "cached", ...},
"model": ...}``, and ``{"$set": ...}`` updates of the header. The chat gives
the tokens, the model and the last words; the states come from its hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ao_tui.activity.transcript import TranscriptParser


def is_gemini_record(record: dict[str, Any]) -> bool:
    rtype = record.get("type")
    return rtype == "gemini" or (rtype == "user" and "message" not in record and "content" in record)


def apply_gemini_record(parser: TranscriptParser, record: dict[str, Any], *, state_too: bool) -> None:
    st = parser.state
    if record.get("type") != "gemini":
        return
    model = record.get("model")
    if isinstance(model, str) and model:
        st.model = model
    tokens = record.get("tokens")
    if isinstance(tokens, dict):
        cached = _int(tokens.get("cached"))
        parser.add_totals_for(st.model, max(0, _int(tokens.get("input")) - cached),
                              _int(tokens.get("output")) + _int(tokens.get("thoughts")), 0, cached)
    text = record.get("content")
    if state_too and isinstance(text, str) and text.strip():
        st.last_text = text[-4000:]


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
