"""HTTP and server-sent-events plumbing shared by the scripted provider servers.

A ``ScriptedHTTPServer`` listens on 127.0.0.1 (a free port) in a daemon
thread, keeps every request (``JsonRequest``: the JSON body, its path, query
and headers without credentials) and hands it to ``route(handler, request)``,
which a provider server implements with ``handler.send_json`` and
``handler.send_sse``. The provider servers (openai_server.py, gemini_server.py)
only describe their API; everything about sockets, chunked encoding and
recording lives here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.scripted_model import Reply, Turn, error

#: Headers never kept with a recorded request: they carry the (test) credentials.
SECRET_HEADERS = {"x-api-key", "authorization", "cookie", "x-goog-api-key"}


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, chunked (Transfer-Encoding) or by Content-Length."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().strip().split(b";")[0] or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def answer(responder: Callable[[Turn], Reply], turn: Turn) -> Reply:
    """The responder's reply to ``turn``, once its gate opens and its delay passes."""
    try:
        reply = responder(turn)
    except Exception as exc:  # a broken responder shows as an API error, not a hang
        reply = error(500, f"scripted responder failed: {exc!r}")
    if reply.gate is not None:
        reply.gate.wait(timeout=120)
    if reply.delay:
        time.sleep(reply.delay)
    return reply


class JsonRequest(dict):
    """A request body (a dict) with its method, path, query and headers."""

    method: str = "POST"
    path: str = ""
    query: dict[str, list[str]]
    headers: dict[str, str]
    received_at: float = 0.0

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_obj: ScriptedHTTPServer  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        return read_body(self)

    def _request(self, raw: bytes) -> JsonRequest:
        try:
            parsed = json.loads(raw) if raw.strip() else {}
        except ValueError:
            parsed = {"unparsed": raw[:2000].decode("utf-8", "replace")}
        request = JsonRequest(parsed if isinstance(parsed, dict) else {"body": parsed})
        request.method = self.command
        request.path = self.path
        request.query = parse_qs(urlsplit(self.path).query)
        request.headers = {k.lower(): v for k, v in self.headers.items() if k.lower() not in SECRET_HEADERS}
        request.received_at = time.monotonic()
        return request

    def _handle(self) -> None:
        request = self._request(self._read_body() if self.command in ("POST", "PUT", "PATCH") else b"")
        self.server_obj.record(request)
        try:
            self.server_obj.route(self, request)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (Esc, Ctrl-C)
            self.close_connection = True

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

    def do_HEAD(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- answers ----------------------------------------------------------------
    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)
        self.wfile.flush()

    def send_sse(self, events: Iterable[tuple[str | None, Any]], *, delay: float = 0.0,
                 done_marker: bool = False) -> None:
        """Stream ``(event name or None, data)`` pairs as server-sent events, chunked.

        ``data`` is JSON-encoded unless it is a str; ``done_marker`` ends with
        ``data: [DONE]`` (Chat Completions' convention).
        """
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for number, (event, data) in enumerate(events):
                if number and delay:
                    time.sleep(delay)
                body = data if isinstance(data, str) else json.dumps(data)
                payload = (f"event: {event}\n" if event else "") + f"data: {body}\n\n"
                self._chunk(payload.encode())
            if done_marker:
                self._chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _chunk(self, payload: bytes) -> None:
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()


class ScriptedHTTPServer:
    """Base of the scripted servers: ``with Server() as api: ... api.url ...``."""

    name = "scripted-server"

    def __init__(self) -> None:
        self.requests: list[JsonRequest] = []
        self.unknown_paths: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    def route(self, handler: Handler, request: JsonRequest) -> None:
        raise NotImplementedError

    def unknown(self, handler: Handler, request: JsonRequest) -> None:
        with self._lock:
            self.unknown_paths.append(f"{request.method} {request.path}")
        handler.send_json(404, {"error": {"message": f"Not found: {request.path}", "type": "not_found"}})

    def record(self, request: JsonRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> ScriptedHTTPServer:
        handler = type("BoundHandler", (Handler,), {"server_obj": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name=self.name, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):  # noqa: ANN204 - returns the subclass
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

    def wait_for(self, predicate: Callable[[list[JsonRequest]], bool], timeout: float = 30.0) -> list[JsonRequest]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                seen = list(self.requests)
            if predicate(seen):
                return seen
            if time.monotonic() > deadline:
                raise AssertionError(f"requests never matched within {timeout:g}s: "
                                     f"{[r.path for r in seen]}; unknown: {self.unknown_paths}")
            time.sleep(0.02)
