"""A scripted Gemini API server: generateContent and streamGenerateContent (``alt=sse``), countTokens.

``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` streams
``GenerateContentResponse`` chunks as server-sent events (text in a few
pieces, then function calls, the last chunk with ``finishReason: STOP`` and
``usageMetadata``); ``:generateContent`` answers one response;
``:countTokens`` a count. Errors are Google's error JSON with the HTTP status
(429 ``RESOURCE_EXHAUSTED``, 500 ``INTERNAL``). Gemini CLI reaches it through
``GOOGLE_GEMINI_BASE_URL``. Replies come from a ``Script``
(tests/support/scripted_model.py); requests without tools (Gemini CLI's
side checks: next speaker, summaries) get ``script.side_reply``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from tests.support.scripted_model import Reply, Script, Text, ToolResult, Turn, split_text
from tests.support.sse_server import Handler, JsonRequest, ScriptedHTTPServer, answer

DEFAULT_MODEL = "gemini-2.5-pro"
_ROUTE = re.compile(r"^/v1(?:beta|alpha)?/models/(?P<model>[^:/]+):(?P<verb>streamGenerateContent|generateContent|"
                    r"countTokens)$")
_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}

Responder = Callable[[Turn], Reply]


def gemini_turn(body: dict[str, Any], model: str) -> Turn:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    last_user = -1
    for n, content in enumerate(contents):
        parts = content.get("parts") or []
        if content.get("role", "user") == "user" and any(isinstance(p, dict) and "text" in p for p in parts):
            last_user = n
    user_text = ""
    if last_user >= 0:
        user_text = "\n".join(p["text"] for p in contents[last_user].get("parts") or []
                              if isinstance(p, dict) and isinstance(p.get("text"), str))
    results = []
    for content in contents[last_user + 1:]:
        for part in content.get("parts") or []:
            response = part.get("functionResponse") if isinstance(part, dict) else None
            if isinstance(response, dict):
                results.append(ToolResult(str(response.get("id") or response.get("name")), str(response.get("name")),
                                          json.dumps(response.get("response"))))
    tools = [str(d.get("name")) for t in body.get("tools") or [] if isinstance(t, dict)
             for d in t.get("functionDeclarations") or [] if isinstance(d, dict)]
    return Turn(user_text, results, tools, model, body, side=not tools)


class GeminiServer(ScriptedHTTPServer):
    name = "gemini-server"

    def __init__(self, responder: Responder | None = None, *, model: str = DEFAULT_MODEL) -> None:
        super().__init__()
        self.script = Script()
        self.responder: Responder = responder or self.script
        self.model = model

    @property
    def turns(self) -> list[JsonRequest]:
        """Conversation requests (with tools offered), oldest first."""
        return [r for r in list(self.requests) if "GenerateContent" in r.route or "generateContent" in r.route
                if r.get("tools")]

    def route(self, handler: Handler, request: JsonRequest) -> None:
        found = _ROUTE.match(request.route)
        if request.method != "POST" or found is None:
            self.unknown(handler, request)
            return
        model, verb = found.group("model"), found.group("verb")
        if verb == "countTokens":
            handler.send_json(200, {"totalTokens": max(1, len(json.dumps(request)) // 4)})
            return
        turn = gemini_turn(request, model)
        config = request.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if turn.side and isinstance(schema, dict):  # Gemini CLI's router and checks want JSON of a schema
            body = json.dumps(_fill(schema))
            handler.send_json(200, self.response(request, Reply(parts=(Text(body),)), model, (Text(body),), final=True))
            return
        reply = answer(self.responder, turn)
        if reply.error is not None:
            status = reply.error.status
            headers = {"retry-after": str(reply.error.retry_after)} if reply.error.retry_after is not None else {}
            handler.send_json(status, {"error": {"code": status, "message": reply.error.message,
                                                 "status": _STATUS.get(status, "UNKNOWN")}}, headers)
            return
        if verb == "generateContent":
            handler.send_json(200, self.response(request, reply, model, reply.parts, final=True))
            return
        handler.send_sse(((None, chunk) for chunk in self.chunks(request, reply, model)), delay=reply.chunk_delay)

    def response(self, request: JsonRequest, reply: Reply, model: str, parts: tuple, *, final: bool) -> dict[str, Any]:
        out: list[dict[str, Any]] = []
        for part in parts:
            if isinstance(part, Text):
                out.append({"text": part.text})
            else:
                out.append({"functionCall": {"name": part.name, "args": part.arguments}})
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": out}, "index": 0}
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": f"r{time.time_ns()}"}
        if final:
            candidate["finishReason"] = "STOP"
            prompt, output = reply.usage(len(json.dumps(request)))
            body["usageMetadata"] = {"promptTokenCount": prompt, "candidatesTokenCount": output,
                                     "totalTokenCount": prompt + output}
        return body

    def chunks(self, request: JsonRequest, reply: Reply, model: str) -> Iterator[dict[str, Any]]:
        pieces: list[tuple] = []
        for part in reply.parts:
            if isinstance(part, Text):
                pieces.extend((Text(piece),) for piece in split_text(part.text))
            else:
                pieces.append((part,))
        for piece in pieces:
            yield self.response(request, reply, model, piece, final=False)
        # The last chunk carries the finish reason and the usage, with no new content.
        yield self.response(request, reply, model, (), final=True)


def _fill(schema: dict[str, Any]) -> Any:
    """A small valid value for a JSON schema (the lowest score, the first enum value, empty strings)."""
    kind = str(schema.get("type", "object")).lower()
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        return {name: _fill(sub) for name, sub in (schema.get("properties") or {}).items() if isinstance(sub, dict)}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "scripted"
