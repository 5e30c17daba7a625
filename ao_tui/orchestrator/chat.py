"""The orchestrator's turn loop: the model answers, calls tools, and answers again.

``Orchestrator.ask`` sends the human's message with the fleet summary, streams
the reply to ``on_event`` as it is written, runs the tools the model calls
(asking the human where it must), sends their results back, and repeats until
the model ends its turn. Messages are stored as they complete; a failure
before the model said anything stores nothing, so the caller keeps the
human's text and can simply send it again.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ao_tui.orchestrator.client import ChatError, ModelClient, ModelReply, Retrying
from ao_tui.orchestrator.context import fleet_summary
from ao_tui.orchestrator.conversation import DEFAULT_CONVERSATION, STOPPED_RESULT, Conversation
from ao_tui.orchestrator.tools import TOOLS, Confirm, ToolBox, ToolOutcome

if TYPE_CHECKING:
    from ao_tui.engine import Engine

MAX_STEPS = 16

SYSTEM_PROMPT = """\
You are the orchestrator of ao, a control room for a fleet of AI coding agents. Each session is one \
coding agent (Claude Code or another) working on one task in its own git worktree and tmux session, \
heading for a pull request. You talk with the human who runs the fleet.

Answer with decisions, not data. Say what matters and what to do about it, in a few lines: \
"ao-4's PR blocks three others: merge it first", "this CI failure is a flaky test seen on two unrelated \
branches: re-run it, don't send it to the agent", "of the five review comments, the one on auth.py is \
the one that matters". Never paste raw listings back; the human has the dashboard for that.

You act through tools. Look before you act: use session_detail, ci_logs and review_comments to ground \
a judgement. Steer agents with send_message (short, specific instructions). For "build X", split it \
with propose_plan into tasks that can run in parallel, with dependencies only where truly needed. \
Merge, kill, approve, restore and large spawns ask the human first; if the human declines, accept it \
and do not retry the same action.

The current state of the fleet is below; it is refreshed on every message, so trust it over older \
turns of the conversation. Use Markdown sparingly: short lists, `code` for ids and commands."""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class ToolDone:
    id: str
    name: str
    outcome: ToolOutcome


@dataclass(frozen=True)
class ReplyReset:
    """A retry: the partial text of the message being written is dropped."""

    retry: Retrying


@dataclass(frozen=True)
class TurnEnd:
    stop_reason: str | None
    stopped: bool = False


ChatEvent = TextDelta | ToolCall | ToolDone | ReplyReset | TurnEnd
OnEvent = Callable[[ChatEvent], Awaitable[None] | None]


def settings_client(engine: Engine) -> ModelClient:
    return ModelClient(engine.config.orchestrator.model)


class Orchestrator:
    """The chat core shared by the TUI pane and ``ao chat``."""

    def __init__(
        self,
        engine: Engine,
        confirm: Confirm | None = None,
        *,
        conversation: str = DEFAULT_CONVERSATION,
        client: ModelClient | None = None,
    ) -> None:
        self.engine = engine
        self.conversation = Conversation(engine.store, conversation)
        self.tools = ToolBox(engine, confirm)
        self._client = client
        self.busy = False

    @property
    def client(self) -> ModelClient:
        if self._client is None:
            self._client = settings_client(self.engine)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def set_confirm(self, confirm: Confirm) -> None:
        self.tools.confirm = confirm

    def system_prompt(self) -> str:
        try:
            summary = fleet_summary(self.engine)
        except Exception as exc:  # the chat must work even when a plugin is broken
            summary = f"(fleet summary unavailable: {exc})"
        return f"{SYSTEM_PROMPT}\n\n<fleet>\n{summary}\n</fleet>"

    async def ask(self, text: str, on_event: OnEvent | None = None) -> str:
        """Run one turn; returns the final text. Raises ``ChatError`` (one line) on failure,
        with ``kept`` True when the human's message was stored before it (so the
        caller need not offer it again).

        Cancelling the task (Esc) stores what was said so far, with a note that
        the human stopped it, and re-raises ``CancelledError``.
        """

        async def emit(event: ChatEvent) -> None:
            if on_event is not None:
                result = on_event(event)
                if inspect.isawaitable(result):
                    await result

        self.busy = True
        self.tools.new_reply()
        messages = self.conversation.messages()
        pending: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        stored = 0
        partial: list[str] = []
        final_text = ""

        def store_pending() -> None:
            nonlocal stored
            for message in pending[stored:]:
                self.conversation.append(message["role"], message["content"])
            stored = len(pending)

        async def on_text(delta: str) -> None:
            partial.append(delta)
            await emit(TextDelta(delta))

        async def on_retry(retry: Retrying) -> None:
            partial.clear()
            await emit(ReplyReset(retry))

        try:
            reply = ModelReply()
            for _ in range(MAX_STEPS):
                partial.clear()
                system = await asyncio.to_thread(self.system_prompt)  # trackers may be remote
                reply = await self.client.stream(
                    system=system,
                    messages=messages + pending,
                    tools=TOOLS,
                    on_text=on_text,
                    on_retry=on_retry,
                )
                partial.clear()
                pending.append({"role": "assistant", "content": reply.content or [{"type": "text", "text": "(no reply)"}]})
                store_pending()
                final_text = reply.text
                if reply.stop_reason != "tool_use" or not reply.tool_uses:
                    break
                results: list[dict[str, Any]] = []
                try:
                    for use in reply.tool_uses:
                        await emit(ToolCall(use["id"], use["name"], use.get("input") or {}))
                        outcome = await self.tools.dispatch(use["name"], use.get("input") or {})
                        await emit(ToolDone(use["id"], use["name"], outcome))
                        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": use["id"], "content": outcome.text}
                        if outcome.is_error:
                            result["is_error"] = True
                        results.append(result)
                finally:
                    if results:
                        pending.append({"role": "user", "content": results})
                        store_pending()
            await emit(TurnEnd(reply.stop_reason))
            return final_text
        except ChatError as exc:
            exc.kept = stored > 0  # the human's message is in the conversation already
            raise
        except asyncio.CancelledError:
            said = "".join(partial).strip()
            if said:
                pending.append({"role": "assistant", "content": [{"type": "text", "text": said + "\n\n*(stopped)*"}]})
            elif stored == 0:
                pending.append({"role": "assistant", "content": [{"type": "text", "text": "*(stopped)*"}]})
            elif pending[-1]["role"] == "assistant" and any(b.get("type") == "tool_use" for b in pending[-1]["content"]):
                answered = {b.get("tool_use_id") for m in pending[stored:] for b in m["content"]}
                pending.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": b["id"], "content": STOPPED_RESULT, "is_error": True}
                    for b in pending[-1]["content"] if b.get("type") == "tool_use" and b["id"] not in answered
                ]})
            store_pending()
            await emit(TurnEnd(None, stopped=True))
            raise
        finally:
            self.busy = False
