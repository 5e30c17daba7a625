"""A scripted OpenAI-compatible server: the Responses API and Chat Completions, streaming included.

``POST /v1/responses`` (Codex) streams ``response.created``,
``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta`` /
``response.function_call_arguments.delta``, their ``.done`` events,
``response.output_item.done`` and ``response.completed`` (with usage), or
``response.failed``; ``POST /v1/chat/completions`` (Aider, OpenCode) streams
``chat.completion.chunk`` objects ending in ``data: [DONE]`` (or answers one
``chat.completion`` without ``"stream": true``); ``GET /v1/models`` lists the
model. An error reply is an HTTP status with OpenAI's error JSON (and
``retry-after``). Replies come from a ``Script`` (tests/support/scripted_model.py)::

    with OpenAIServer() as api:
        api.script.on_prompt("touch", call("shell", {...}, id="call_1"))
        api.script.on_tool_result("call_1", text("Done."))
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.support.scripted_model import Call, Reply, Script, Text, ToolResult, Turn, split_json, split_text
from tests.support.sse_server import Handler, JsonRequest, ScriptedHTTPServer, answer

DEFAULT_MODEL = "gpt-5-codex"

Responder = Callable[[Turn], Reply]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    out = []
    for part in content or []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            out.append(part["text"])
    return "\n".join(out)


def responses_turn(body: dict[str, Any]) -> Turn:
    """The Responses API's ``input`` items as a Turn: tool outputs after the newest user message."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = [i for i in items or [] if isinstance(i, dict)]
    names = {i.get("call_id"): i.get("name", "") for i in items if i.get("type") in ("function_call", "custom_tool_call",
                                                                                     "local_shell_call")}
    last_user = max((n for n, i in enumerate(items) if i.get("role") == "user" and i.get("type", "message") == "message"
                     and not _content_text(i.get("content")).lstrip().startswith(("<environment_context",
                                                                                  "<user_instructions",
                                                                                  "# AGENTS.md"))),
                    default=-1)
    user_text = _content_text(items[last_user].get("content")) if last_user >= 0 else ""
    results = [ToolResult(str(i.get("call_id")), str(names.get(i.get("call_id"), "")), _output_text(i.get("output")))
               for i in items[last_user + 1:] if i.get("type") in ("function_call_output", "custom_tool_call_output")]
    tools = [str(t.get("name") or t.get("type")) for t in body.get("tools") or [] if isinstance(t, dict)]
    return Turn(user_text, results, tools, str(body.get("model") or ""), body)


def _output_text(output: Any) -> str:
    if isinstance(output, dict):
        return str(output.get("content") or output.get("output") or json.dumps(output))
    if isinstance(output, list):
        return _content_text(output)
    return str(output or "")


def chat_turn(body: dict[str, Any]) -> Turn:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    names: dict[str, str] = {}
    for m in messages:
        for tc in m.get("tool_calls") or []:
            names[tc.get("id")] = (tc.get("function") or {}).get("name", "")
    last_user = max((n for n, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    user_text = _content_text(messages[last_user].get("content")) if last_user >= 0 else ""
    results = [ToolResult(str(m.get("tool_call_id")), names.get(m.get("tool_call_id"), ""), _content_text(m.get("content")))
               for m in messages[last_user + 1:] if m.get("role") == "tool"]
    tools = [str((t.get("function") or {}).get("name")) for t in body.get("tools") or [] if isinstance(t, dict)]
    return Turn(user_text, results, tools, str(body.get("model") or ""), body)


class OpenAIServer(ScriptedHTTPServer):
    name = "openai-server"

    def __init__(self, responder: Responder | None = None, *, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.script = Script()
        self.responder: Responder = responder or self.script
        self.model = model
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}{uuid.uuid4().hex[:16]}"

    @property
    def turns(self) -> list[JsonRequest]:
        return [r for r in list(self.requests) if r.route.endswith(("/responses", "/chat/completions"))]

    def wait_for_turn(self, count: int = 1, timeout: float = 30.0) -> JsonRequest:
        self.wait_for(lambda _seen: len(self.turns) >= count, timeout)
        return self.turns[count - 1]

    # -- routing ----------------------------------------------------------------
    def route(self, handler: Handler, request: JsonRequest) -> None:
        route = request.route
        if request.method == "GET" and route.endswith("/models"):
            handler.send_json(200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 1700000000, "owned_by": "ao-tui-tests"}]})
        elif request.method == "POST" and route.endswith("/responses"):
            turn = responses_turn(request)
            turn.side = not request.get("tools")  # Codex's title and summary requests offer no tools
            self._answer(handler, request, turn, self.responses_events, done_marker=False)
        elif request.method == "POST" and route.endswith("/chat/completions"):
            turn = chat_turn(request)
            turn.side = not request.get("tools") and (_looks_side(turn.user_text) or _side_system(request))
            self._answer(handler, request, turn, self.chat_chunks, done_marker=True)
        else:
            self.unknown(handler, request)

    def _answer(self, handler: Handler, request: JsonRequest, turn: Turn,
                render: Callable[[JsonRequest, Reply], Iterator[tuple[str | None, Any]]], *, done_marker: bool) -> None:
        reply = answer(self.responder, turn)
        if reply.error is not None:
            headers = {"retry-after": str(reply.error.retry_after)} if reply.error.retry_after is not None else {}
            kind = reply.error.kind or ("rate_limit_exceeded" if reply.error.status == 429 else "server_error")
            handler.send_json(reply.error.status, {"error": {"message": reply.error.message, "type": kind,
                                                             "param": None, "code": kind,
                                                             **dict(reply.error.fields)}}, headers)
            return
        if not request.get("stream"):
            handler.send_json(200, self.chat_message(request, reply) if done_marker else
                              self._response_object(request, reply, "completed", self._output_items(reply)))
            return
        handler.send_sse(render(request, reply), delay=reply.chunk_delay, done_marker=done_marker)

    # -- Responses API ------------------------------------------------------------
    def _output_items(self, reply: Reply) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for part in reply.parts:
            if isinstance(part, Text):
                items.append({"id": self.next_id("msg"), "type": "message", "status": "completed",
                              "role": "assistant",
                              "content": [{"type": "output_text", "text": part.text, "annotations": []}]})
            else:
                items.append({"id": self.next_id("fc"), "type": "function_call", "status": "completed",
                              "call_id": part.id, "name": part.name, "arguments": json.dumps(part.arguments)})
        return items

    def _response_object(self, request: JsonRequest, reply: Reply, status: str,
                         output: list[dict[str, Any]], response_id: str | None = None) -> dict[str, Any]:
        input_tokens, output_tokens = reply.usage(len(json.dumps(request)))
        body: dict[str, Any] = {
            "id": response_id or self.next_id("resp"), "object": "response", "created_at": int(time.time()),
            "status": status, "model": request.get("model") or self.model, "output": output,
            "parallel_tool_calls": False, "tool_choice": "auto", "tools": [], "error": None,
            "incomplete_details": None, "usage": None,
        }
        if status == "completed":
            body["usage"] = {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
                             "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                             "total_tokens": input_tokens + output_tokens}
        return body

    def responses_events(self, request: JsonRequest, reply: Reply) -> Iterator[tuple[str | None, Any]]:
        seq = itertools.count()
        rid = self.next_id("resp")

        def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
            return kind, {"type": kind, "sequence_number": next(seq), **fields}

        yield ev("response.created", response=self._response_object(request, reply, "in_progress", [], rid))
        yield ev("response.in_progress", response=self._response_object(request, reply, "in_progress", [], rid))
        done: list[dict[str, Any]] = []
        for index, item in enumerate(self._output_items(reply)):
            if item["type"] == "message":
                full = item["content"][0]["text"]
                yield ev("response.output_item.added", output_index=index,
                         item={**item, "status": "in_progress", "content": []})
                part = {"type": "output_text", "text": "", "annotations": []}
                yield ev("response.content_part.added", item_id=item["id"], output_index=index, content_index=0,
                         part=part)
                for piece in split_text(full):
                    yield ev("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                             delta=piece)
                yield ev("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                         text=full)
                yield ev("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                         part={**part, "text": full})
            else:
                yield ev("response.output_item.added", output_index=index,
                         item={**item, "status": "in_progress", "arguments": ""})
                for piece in split_json(json.loads(item["arguments"])):
                    yield ev("response.function_call_arguments.delta", item_id=item["id"], output_index=index,
                             delta=piece)
                yield ev("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                         arguments=item["arguments"])
            yield ev("response.output_item.done", output_index=index, item=item)
            done.append(item)
        yield ev("response.completed", response=self._response_object(request, reply, "completed", done, rid))

    # -- Chat Completions -----------------------------------------------------------
    def chat_message(self, request: JsonRequest, reply: Reply) -> dict[str, Any]:
        input_tokens, output_tokens = reply.usage(len(json.dumps(request)))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if reply.calls:
            message["tool_calls"] = [{"id": c.id, "type": "function",
                                      "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                                     for c in reply.calls]
        return {"id": self.next_id("chatcmpl"), "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model") or self.model,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if reply.calls else "stop"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                          "total_tokens": input_tokens + output_tokens}}

    def chat_chunks(self, request: JsonRequest, reply: Reply) -> Iterator[tuple[str | None, Any]]:
        cid = self.next_id("chatcmpl")
        model = request.get("model") or self.model
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> tuple[None, dict[str, Any]]:
            return None, {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

        yield chunk({"role": "assistant", "content": ""})
        for part in reply.parts:
            if isinstance(part, Text):
                for piece in split_text(part.text):
                    yield chunk({"content": piece})
        for index, c in enumerate(reply.calls):
            yield chunk({"tool_calls": [{"index": index, "id": c.id, "type": "function",
                                         "function": {"name": c.name, "arguments": ""}}]})
            for piece in split_json(c.arguments):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls" if reply.calls else "stop")
        input_tokens, output_tokens = reply.usage(len(json.dumps(request)))
        if (request.get("stream_options") or {}).get("include_usage"):
            yield None, {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                         "choices": [], "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                                                  "total_tokens": input_tokens + output_tokens}}


def _side_system(body: dict[str, Any]) -> bool:
    """A side request its system prompt names: OpenCode's titles ("You are a title generator"),
    Aider's commit messages ("...generates concise, one-line Git commit messages")."""
    system = " ".join(_content_text(m.get("content")) for m in body.get("messages") or []
                      if isinstance(m, dict) and m.get("role") == "system")
    head = system.lower()[:400]
    return "title generator" in head or "commit message" in head


def _looks_side(user_text: str) -> bool:
    return bool(user_text) and ("title" in user_text.lower()[:400] or "summar" in user_text.lower()[:400])


__all__ = ["OpenAIServer", "Call", "Text"]
