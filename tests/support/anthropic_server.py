"""A scripted Anthropic-compatible Messages API server for tests.

It listens on 127.0.0.1 (a free port), runs in a background thread and speaks
the Messages API the way the real one does: ``POST /v1/messages`` (also with
``?beta=true``, which is what Claude Code calls) streams server-sent events
(``message_start``, ``content_block_start``, ``ping``, ``content_block_delta``
with ``text_delta`` / ``input_json_delta``, ``content_block_stop``,
``message_delta``, ``message_stop``) or, without ``"stream": true``, answers
with one message JSON; ``POST /v1/messages/count_tokens`` answers
``{"input_tokens": N}``; anything else gets a 404 error JSON and is logged in
``server.unknown_paths``. Every request body is kept in ``server.requests``.

Replies are built from small pieces::

    text("Hello")                                   # a text block, stop_reason end_turn
    tool_use("Write", {"file_path": "a", "content": "x"}, id="toolu_w")
    text("Writing it.") + tool_use(...)             # blocks in order; stop_reason tool_use
    error(529, "overloaded_error", "Overloaded", retry_after=1)
    usage_limit(resets_at=time.time() + 3600)       # a plan's usage limit (429 + ratelimit headers)
    text("slow").with_delay(2.0)                    # wait 2 s before the response starts
    text("a long answer").slowly(0.2)               # 0.2 s between streamed events
    text("done").held_until(gate)                   # answer when the test calls gate.set()

Who answers is a *responder*: any ``callable(request) -> Reply`` where
``request`` is the JSON body (a ``MessagesRequest``, a dict with helpers such
as ``last_user_text``, ``tool_results`` and ``is_side_request``). The default
responder is a ``Script`` of rules matched against the newest user message.

Scripting a turn "write hello.txt with a Write tool_use, then after the
tool_result say done"::

    with AnthropicServer() as api:
        api.script.on_prompt(
            "hello.txt",
            text("I'll create it.")
            + tool_use("Write", {"file_path": str(repo / "hello.txt"), "content": "hello\\n"},
                       id="toolu_write_hello"),
        )
        api.script.on_tool_result("toolu_write_hello", text("done"))
        env = claude_env(tmp_path / "home", repo, api.url)      # tests/support/claude_env.py
        subprocess.run([claude, "-p", "--permission-mode", "acceptEdits", "please write hello.txt"],
                       cwd=repo, env=env, timeout=60)            # -p cannot ask: let edits through
        assert api.script.pending() == []                     # every rule was used

Claude Code retries 429/5xx/529 answers (up to 10 times, with backoff) before
it shows "API Error: ..."; set ``CLAUDE_CODE_MAX_RETRIES=0`` in its environment
to see the error at once, or script a 400 ``invalid_request_error``.
``api.wait_for_main_request(n)`` blocks until the n-th conversation request.

Rules are tried in the order they were added; a rule is used once unless
``times=None`` (always) or another count is given. Side requests Claude Code
makes (the session title, sent with no ``tools``; quota probes with
``max_tokens`` 1; prompt-suggestion forks whose prompt says "SUGGESTION MODE")
never consume a rule: they get ``script.side_reply`` (a short text). A main request no rule
matches gets ``script.fallback`` (default: ``text("OK.")``) and is noted in
``script.unmatched``.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.sse_server import read_body

DEFAULT_MODEL = "claude-sonnet-4-5"

# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    name: str
    input: dict[str, Any]
    id: str


@dataclass(frozen=True)
class ApiError:
    status: int
    type: str
    message: str
    retry_after: float | None = None
    #: Send it as an ``event: error`` after ``message_start`` instead of an HTTP status.
    mid_stream: bool = False
    #: More response headers (e.g. ``anthropic-ratelimit-unified-*`` for a plan's usage limit).
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reply:
    """One answer to one request: content blocks, or an error."""

    blocks: tuple[TextBlock | ToolUseBlock, ...] = ()
    error: ApiError | None = None
    stop_reason: str | None = None  # None: tool_use if a tool is called, else end_turn
    delay: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between streamed events
    output_tokens: int | None = None
    gate: threading.Event | None = None  # answer only once this is set (see held_until)

    def __add__(self, other: Reply) -> Reply:
        return replace(
            self,
            blocks=self.blocks + other.blocks,
            error=self.error or other.error,
            stop_reason=other.stop_reason or self.stop_reason,
            delay=max(self.delay, other.delay),
            chunk_delay=max(self.chunk_delay, other.chunk_delay),
            gate=self.gate or other.gate,
        )

    def with_delay(self, seconds: float) -> Reply:
        """Wait ``seconds`` before answering (the agent shows its spinner)."""
        return replace(self, delay=seconds)

    def slowly(self, seconds_per_chunk: float) -> Reply:
        """Stream with a pause between events, so "thinking" can be observed."""
        return replace(self, chunk_delay=seconds_per_chunk)

    def held_until(self, gate: threading.Event) -> Reply:
        """Answer only when the test sets ``gate``: the agent "thinks" exactly as long as the test wants.

        (The server gives up waiting after 120 s so a forgotten gate cannot hang a run.)
        """
        return replace(self, gate=gate)

    @property
    def final_stop_reason(self) -> str:
        if self.stop_reason:
            return self.stop_reason
        return "tool_use" if any(isinstance(b, ToolUseBlock) for b in self.blocks) else "end_turn"


def text(value: str) -> Reply:
    return Reply(blocks=(TextBlock(value),))


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> Reply:  # noqa: A002
    return Reply(blocks=(ToolUseBlock(name, dict(input), id or f"toolu_{uuid.uuid4().hex[:24]}"),))


def error(
    status: int, type: str, message: str, *, retry_after: float | None = None, mid_stream: bool = False  # noqa: A002
) -> Reply:
    """An API error, e.g. ``error(529, "overloaded_error", "Overloaded")``."""
    return Reply(error=ApiError(status, type, message, retry_after, mid_stream))


def overloaded(retry_after: float | None = None) -> Reply:
    return error(529, "overloaded_error", "Overloaded", retry_after=retry_after)


def rate_limited(retry_after: float = 1) -> Reply:
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.",
                 retry_after=retry_after)


def usage_limit(resets_at: float, claim: str = "five_hour") -> Reply:
    """A claude.ai plan's usage limit, as the API answers it: 429 ``rate_limit_error`` with
    ``retry-after`` and the ``anthropic-ratelimit-unified-*`` headers (status ``rejected``, the reset
    as epoch seconds, which window). Claude Code signed in to a plan (``CLAUDE_CODE_OAUTH_TOKEN``)
    does not retry it and shows "You've hit your session limit · resets 4:20am (UTC)"."""
    reset = str(int(resets_at))
    window = {"five_hour": "5h", "seven_day": "7d"}.get(claim, claim)
    headers = (
        ("retry-after", str(max(1, int(resets_at - time.time())))),
        ("x-should-retry", "false"),
        ("anthropic-ratelimit-unified-status", "rejected"),
        ("anthropic-ratelimit-unified-reset", reset),
        ("anthropic-ratelimit-unified-representative-claim", claim),
        (f"anthropic-ratelimit-unified-{window}-status", "rejected"),
        (f"anthropic-ratelimit-unified-{window}-reset", reset),
        (f"anthropic-ratelimit-unified-{window}-utilization", "1.0"),
    )
    return Reply(error=ApiError(429, "rate_limit_error",
                                "This request would exceed your account's rate limit. Please try again later.",
                                headers=headers))


# --------------------------------------------------------------------------- requests


class MessagesRequest(dict):
    """A request body (a dict) plus the path and helpers that read its conversation."""

    path: str = ""
    headers: dict[str, str]
    received_at: float = 0.0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.get("messages") or [])

    @property
    def system_text(self) -> str:
        system = self.get("system") or ""
        if isinstance(system, list):
            return "\n".join(b.get("text", "") for b in system if isinstance(b, dict))
        return str(system)

    @property
    def last_user_message(self) -> dict[str, Any] | None:
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message
        return None

    @property
    def last_user_text(self) -> str:
        """The newest user message's text, without ``<system-reminder>`` blocks."""
        message = self.last_user_message
        if message is None:
            return ""
        return "\n".join(t for t in _texts(message.get("content")) if not t.lstrip().startswith("<system-reminder>"))

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """``tool_result`` blocks of the newest user message, each with ``tool_name`` added."""
        message = self.last_user_message
        if message is None or not isinstance(message.get("content"), list):
            return []
        names = self.tool_names_by_id()
        out = []
        for block in message["content"]:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                out.append({**block, "tool_name": names.get(block.get("tool_use_id", ""), "")})
        return out

    def tool_names_by_id(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for message in self.messages:
            content = message.get("content")
            if message.get("role") == "assistant" and isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_use":
                        names[block.get("id", "")] = block.get("name", "")
        return names

    @property
    def is_count_tokens(self) -> bool:
        return self.path.startswith("/v1/messages/count_tokens")

    @property
    def is_side_request(self) -> bool:
        """Requests Claude Code makes besides the conversation: titles, suggestions, probes."""
        if self.is_count_tokens:
            return True
        if not self.get("tools"):  # titles, summaries, quota probes carry no tools
            return True
        if int(self.get("max_tokens") or 0) <= 1:  # quota probes
            return True
        return bool(_SIDE_PROMPT.search(self.last_user_text[:2000]))


#: Forked side requests that share the main conversation's tools (prompt suggestions).
_SIDE_PROMPT = re.compile(r"SUGGESTION MODE|suggest what the user|predict what the user", re.IGNORECASE)


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "text":
            out.append(block.get("text", ""))
    return out


def _tool_result_text(block: dict[str, Any]) -> str:
    return "\n".join(_texts(block.get("content")))


Responder = Callable[[MessagesRequest], Reply]

# --------------------------------------------------------------------------- script


@dataclass
class Rule:
    """``when(request)`` decides; ``reply`` answers; used ``times`` times (None: forever)."""

    description: str
    when: Callable[[MessagesRequest], bool]
    reply: Reply | Callable[[MessagesRequest], Reply]
    times: int | None = 1
    used: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times


@dataclass
class Script:
    """Rules on the newest user message; the default responder of AnthropicServer."""

    rules: list[Rule] = field(default_factory=list)
    fallback: Reply = field(default_factory=lambda: text("OK."))
    side_reply: Reply = field(default_factory=lambda: text("Scripted session"))
    unmatched: list[MessagesRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, description: str, when: Callable[[MessagesRequest], bool],
            reply: Reply | Callable[[MessagesRequest], Reply], times: int | None = 1) -> Script:
        with self._lock:
            self.rules.append(Rule(description, when, reply, times))
        return self

    def on_prompt(self, contains: str | re.Pattern[str], reply: Reply | Callable[[MessagesRequest], Reply],
                  times: int | None = 1) -> Script:
        """Answer when the newest user message is a prompt containing ``contains`` (text or regex)."""

        def when(req: MessagesRequest) -> bool:
            if req.tool_results:
                return False
            if isinstance(contains, re.Pattern):
                return contains.search(req.last_user_text) is not None
            return contains in req.last_user_text

        label = contains.pattern if isinstance(contains, re.Pattern) else contains
        return self.add(f"prompt contains {label!r}", when, reply, times)

    def on_tool_result(self, tool_use_id: str | None = None, reply: Reply | None = None, *,
                       tool: str | None = None, contains: str | None = None,
                       times: int | None = 1) -> Script:
        """Answer the ``tool_result`` for ``tool_use_id`` (or any result of tool ``tool``).

        ``contains`` also requires that text in the result (e.g. "error").
        """
        if reply is None:
            raise TypeError("on_tool_result needs a reply")

        def when(req: MessagesRequest) -> bool:
            for result in req.tool_results:
                if tool_use_id is not None and result.get("tool_use_id") != tool_use_id:
                    continue
                if tool is not None and result.get("tool_name") != tool:
                    continue
                if contains is not None and contains not in _tool_result_text(result):
                    continue
                return True
            return False

        return self.add(f"tool_result id={tool_use_id} tool={tool}", when, reply, times)

    def always(self, reply: Reply | Callable[[MessagesRequest], Reply]) -> Script:
        """Answer every main request (after the other rules)."""
        return self.add("always", lambda _req: True, reply, None)

    def pending(self) -> list[str]:
        """Descriptions of rules not yet used up (``[]`` once the script has played)."""
        with self._lock:
            return [r.description for r in self.rules if r.times is not None and not r.exhausted]

    def __call__(self, request: MessagesRequest) -> Reply:
        if request.is_side_request:
            return self.side_reply
        with self._lock:
            for rule in self.rules:
                if not rule.exhausted and rule.when(request):
                    rule.used += 1
                    chosen = rule.reply
                    break
            else:
                self.unmatched.append(request)
                return self.fallback
        return chosen(request) if callable(chosen) else chosen


# --------------------------------------------------------------------------- server


class AnthropicServer:
    """The server; ``with AnthropicServer() as api: ... api.url ...``."""

    def __init__(self, responder: Responder | None = None, *, model: str = DEFAULT_MODEL,
                 json_chunks: int = 3) -> None:
        self.script = Script()
        self.responder: Responder = responder or self.script
        self.model = model
        self.json_chunks = json_chunks
        self.requests: list[MessagesRequest] = []
        self.unknown_paths: list[str] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.started_at = 0.0

    # lifecycle -------------------------------------------------------------
    def start(self) -> AnthropicServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="anthropic-server", daemon=True)
        self._thread.start()
        self.started_at = time.monotonic()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> AnthropicServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # views -----------------------------------------------------------------
    @property
    def message_requests(self) -> list[MessagesRequest]:
        """Requests to /v1/messages (not count_tokens)."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v1/messages") and not r.is_count_tokens]

    @property
    def main_requests(self) -> list[MessagesRequest]:
        """Conversation requests (side requests such as titles left out)."""
        return [r for r in self.message_requests if not r.is_side_request]

    def wait_for_main_request(self, count: int = 1, timeout: float = 30.0) -> MessagesRequest:
        """Block until ``count`` conversation requests arrived; return the newest."""
        deadline = time.monotonic() + timeout
        while len(self.main_requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.main_requests)} of {count} requests within {timeout:g}s; "
                                     f"unknown paths: {self.unknown_paths}")
            time.sleep(0.02)
        return self.main_requests[count - 1]

    def _record(self, request: MessagesRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}{uuid.uuid4().hex[:16]}"

    # message rendering -----------------------------------------------------
    def split_json(self, value: dict[str, Any]) -> list[str]:
        """The JSON text of ``value`` in several pieces, like input_json_delta sends it."""
        raw = json.dumps(value)
        n = max(1, min(self.json_chunks, len(raw)))
        size = -(-len(raw) // n)
        return [raw[i:i + size] for i in range(0, len(raw), size)] or [""]

    def stream_events(self, request: MessagesRequest, reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
        model = request.get("model") or self.model
        input_tokens = max(1, len(json.dumps(request)) // 4)
        output_tokens = reply.output_tokens or max(1, sum(_block_len(b) for b in reply.blocks) // 4)
        yield "message_start", {
            "type": "message_start",
            "message": {
                "id": self.next_id("msg"), "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0, "output_tokens": 1},
            },
        }
        if reply.error is not None:  # mid-stream error
            yield "error", _error_body(reply.error)
            return
        yield "ping", {"type": "ping"}
        for index, block in enumerate(reply.blocks):
            if isinstance(block, TextBlock):
                yield "content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "text", "text": ""}}
                for piece in _split_text(block.text):
                    yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "text_delta", "text": piece}}
            else:
                yield "content_block_start", {"type": "content_block_start", "index": index,
                                              "content_block": {"type": "tool_use", "id": block.id,
                                                                "name": block.name, "input": {}}}
                for piece in self.split_json(block.input):
                    yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                                  "delta": {"type": "input_json_delta", "partial_json": piece}}
            yield "content_block_stop", {"type": "content_block_stop", "index": index}
        yield "message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": reply.final_stop_reason, "stop_sequence": None},
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": output_tokens},
        }
        yield "message_stop", {"type": "message_stop"}

    def full_message(self, request: MessagesRequest, reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in reply.blocks:
            if isinstance(block, TextBlock):
                content.append({"type": "text", "text": block.text})
            else:
                content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        input_tokens = max(1, len(json.dumps(request)) // 4)
        return {
            "id": self.next_id("msg"), "type": "message", "role": "assistant",
            "model": request.get("model") or self.model, "content": content,
            "stop_reason": reply.final_stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                      "output_tokens": reply.output_tokens or max(1, sum(_block_len(b) for b in reply.blocks) // 4)},
        }


def _block_len(block: TextBlock | ToolUseBlock) -> int:
    return len(block.text) if isinstance(block, TextBlock) else len(json.dumps(block.input))


def _split_text(value: str) -> list[str]:
    """Text in word-sized pieces (at least one, possibly empty)."""
    pieces = re.findall(r"\S+\s*|\s+", value)
    if len(pieces) > 8:  # keep long texts to a handful of deltas
        size = -(-len(pieces) // 8)
        pieces = ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)]
    return pieces or [""]


def _error_body(err: ApiError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": err.type, "message": err.message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}"}


# Headers never kept with a recorded request: they carry the (test) credentials.
_SECRET_HEADERS = {"x-api-key", "authorization", "cookie"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: AnthropicServer  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    # plumbing ----------------------------------------------------------------
    def _read_body(self) -> bytes:
        return read_body(self)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)
        self.wfile.flush()

    def _request(self, raw: bytes) -> MessagesRequest:
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            parsed = {"unparsed": raw[:2000].decode("utf-8", "replace")}
        request = MessagesRequest(parsed if isinstance(parsed, dict) else {"body": parsed})
        request.path = self.path
        request.headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in _SECRET_HEADERS}
        request.received_at = time.monotonic()
        return request

    # verbs -------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        request = self._request(self._read_body())
        self.api._record(request)
        path = self.path.split("?", 1)[0]
        if path == "/v1/messages/count_tokens":
            self._send_json(200, {"input_tokens": max(1, len(json.dumps(request)) // 4)})
        elif path == "/v1/messages":
            self._messages(request)
        else:
            self._unknown()

    def do_GET(self) -> None:  # noqa: N802
        request = self._request(b"")
        self.api._record(request)
        self._unknown()

    do_PUT = do_DELETE = do_PATCH = do_GET  # noqa: N815

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _unknown(self) -> None:
        with self.api._lock:
            self.api.unknown_paths.append(f"{self.command} {self.path}")
        self._send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                         "message": f"Not found: {self.path}"}})

    def _messages(self, request: MessagesRequest) -> None:
        try:
            reply = self.api.responder(request)
        except Exception as exc:  # a broken responder shows as an API error, not a hang
            reply = error(500, "api_error", f"scripted responder failed: {exc!r}")
        if reply.gate is not None:
            reply.gate.wait(timeout=120)
        if reply.delay:
            time.sleep(reply.delay)
        err = reply.error
        if err is not None and not err.mid_stream:
            headers = {"retry-after": str(err.retry_after)} if err.retry_after is not None else {}
            if err.retry_after is not None:
                headers["x-should-retry"] = "true"
            headers.update(dict(err.headers))
            self._send_json(err.status, _error_body(err), headers)
            return
        if not request.get("stream"):
            self._send_json(200, self.api.full_message(request, reply))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        self.end_headers()
        try:
            for number, (event, data) in enumerate(self.api.stream_events(request, reply)):
                if number and reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
                payload = f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
                self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. Esc pressed)
            self.close_connection = True
