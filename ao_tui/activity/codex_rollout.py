"""Codex CLI session rollouts (``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*-<id>.jsonl``) into a TranscriptState.

Observed with Codex 0.171.0 (tests/fixtures/events/codex/0.171.0/): each line
is ``{"timestamp", "type", "payload"}``. What matters:

- ``session_meta``: the thread id (``payload.id``) and ``cwd``;
- ``response_item`` ``message`` role ``user``: a prompt (Codex's own context
  messages, ``<environment_context>`` and the like, are not); role
  ``assistant``: what the agent said;
- ``response_item`` ``function_call`` / ``custom_tool_call`` opens a tool
  (``exec_command`` with ``cmd``, ``apply_patch`` ...) until the
  ``*_output`` with the same ``call_id``;
- ``event_msg`` ``task_complete`` ends the turn (with ``error`` when the API
  failed after Codex's retries; ``"codex_error_info": "usage_limit_exceeded"``
  and "try again at 8:44 AM" for the account's usage limit), ``turn_aborted`` is the human pressing Esc,
  ``token_count`` carries the running totals (``info.total_token_usage``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ao_tui.activity.records import PR_URL, Kind, OpenTool, text_of
from ao_tui.usage_limits import is_limit

if TYPE_CHECKING:
    from ao_tui.activity.transcript import TranscriptParser

#: Record types only a Codex rollout has (Claude Code's are user/assistant/system/...).
ROLLOUT_TYPES = frozenset({"session_meta", "response_item", "event_msg", "turn_context", "token_usage_record",
                           "world_state", "compacted"})
#: Context Codex sends as user messages; never a prompt.
_CONTEXT_PREFIXES = ("<environment_context", "<user_instructions", "# AGENTS.md", "<permissions", "<skills")
_CALLS = ("function_call", "custom_tool_call", "local_shell_call")
_OUTPUTS = ("function_call_output", "custom_tool_call_output")
#: Arguments that say what a Codex tool works on, most telling first.
_TARGET_ARGS = ("cmd", "command", "path", "file_path", "input")
#: How Codex marks a turn its account's usage limit ended.
USAGE_LIMIT = "usage_limit_exceeded"


def call_target(arguments: Any) -> str:
    """The command or file a tool call is about: ``touch made.txt``."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return arguments.strip().splitlines()[0][:200] if arguments.strip() else ""
    if not isinstance(arguments, dict):
        return ""
    for name in _TARGET_ARGS:
        value = arguments.get(name)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value[-1:]) if value[:2] == ["bash", "-lc"] else " ".join(map(str, value))
        if isinstance(value, str) and value.strip():
            return value.strip().splitlines()[0][:200]
    return ""


def apply_rollout_record(parser: TranscriptParser, record: dict[str, Any], at: float | None, *, state_too: bool) -> None:
    """Apply one rollout line to ``parser``'s state (usage always; the rest when ``state_too``)."""
    st = parser.state
    rtype = record.get("type")
    payload = record.get("payload")
    if not isinstance(payload, dict):
        return
    ptype = payload.get("type")
    if rtype == "event_msg" and ptype == "token_count":
        total = (payload.get("info") or {}).get("total_token_usage") if isinstance(payload.get("info"), dict) else None
        if isinstance(total, dict):
            parser.set_totals(st.model, _int(total.get("input_tokens")) - _int(total.get("cached_input_tokens")),
                              _int(total.get("output_tokens")), 0, _int(total.get("cached_input_tokens")))
        return
    if rtype == "turn_context" and isinstance(payload.get("model"), str):
        st.model = payload["model"]
    if not state_too:
        return
    if rtype == "session_meta":
        if isinstance(payload.get("id"), str) and not st.agent_session_id:
            st.agent_session_id = payload["id"]
        if isinstance(payload.get("cwd"), str):
            st.cwd = payload["cwd"]
        return
    if rtype == "response_item":
        if ptype == "message":
            text = text_of(payload.get("content"))
            if payload.get("role") == "user" and not text.lstrip().startswith(_CONTEXT_PREFIXES):
                parser.prompt_started(at)
            elif payload.get("role") == "assistant":
                if text.strip():
                    st.last_text = text[-4000:]
                    for url in PR_URL.findall(text):
                        parser.add_pr_link(url)
                st.turn_ended = False
                parser.decided(Kind.TEXT, at)
        elif ptype in _CALLS:
            call_id = str(payload.get("call_id") or payload.get("id") or "")
            name = str(payload.get("name") or ptype)
            st.open_tools[call_id] = OpenTool(id=call_id, name=name,
                                              target=call_target(payload.get("arguments") or payload.get("input")),
                                              at=at)
            st.turn_ended = False
            parser.decided(Kind.TOOL_USE, at)
        elif ptype in _OUTPUTS:
            st.open_tools.pop(str(payload.get("call_id") or ""), None)
            st.turn_ended = False
            parser.decided(Kind.TOOL_RESULT, at)
        return
    if rtype == "event_msg":
        if ptype == "task_complete":
            st.open_tools.clear()
            st.turn_ended = True
            error = payload.get("error")
            if isinstance(error, dict) and error:
                message = str(error.get("message") or "API error")
                if error.get("codex_error_info") == USAGE_LIMIT and not is_limit(message):
                    message = f"Usage limit reached: {message}"  # Codex's own mark, whatever its wording
                st.api_error = message[:500]
                parser.decided(Kind.API_ERROR, at)
            else:
                last = payload.get("last_agent_message")
                if isinstance(last, str) and last.strip():
                    st.last_text = last[-4000:]
                parser.decided(Kind.TURN_END, at)
        elif ptype == "turn_aborted":
            parser.interrupted(at)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
