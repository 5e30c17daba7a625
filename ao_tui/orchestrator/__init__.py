"""The orchestrator agent: a chat that reads the fleet, decides, decomposes and acts.

Public entry points:

- ``Orchestrator(engine, confirm)`` and its ``ask(text, on_event)``: the chat core
  (``ao_tui.tui.chat_pane.ChatPane`` and ``ao chat`` are its two faces).
- ``loop_hooks.leader_loop``: the engine loop with the orchestrator's hooks (``autopilot.Autopilot.run``
  on every pass, the escalation chain's first look at questions); ``engine.start(leader_loop)``.
- ``cli.run_chat(engine, args)``: the ``ao chat`` REPL.
- ``context.triage(engine)`` / ``triage_markdown``: what needs the human, no model needed.

Nothing here imports anthropic until a request is made.
"""

from __future__ import annotations

from ao_tui.orchestrator.chat import (
    ChatEvent,
    Orchestrator,
    ReplyReset,
    TextDelta,
    ToolCall,
    ToolDone,
    TurnEnd,
)
from ao_tui.orchestrator.client import API_KEY_HELP, ChatError, MissingApiKey, has_api_key
from ao_tui.orchestrator.tools import ConfirmRequest, ToolOutcome

__all__ = [
    "API_KEY_HELP",
    "ChatError",
    "ChatEvent",
    "ConfirmRequest",
    "MissingApiKey",
    "Orchestrator",
    "ReplyReset",
    "TextDelta",
    "ToolCall",
    "ToolDone",
    "ToolOutcome",
    "TurnEnd",
    "has_api_key",
]
