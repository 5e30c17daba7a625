"""A local fake of Slack's Web API and Socket Mode, for the Slack bridge.

``FakeSlack`` is an aiohttp server on 127.0.0.1 (a free port) in a background
thread, used as a context manager; point the bridge's ``base_url`` at ``api_url``.
It speaks the documented shapes:

* ``POST /api/apps.connections.open`` with the app-level token (``xapp-``) as
  ``Authorization: Bearer``: ``{"ok": true, "url": "ws://.../link?ticket=..."}``;
  a bot token there is ``not_allowed_token_type``, a wrong one ``invalid_auth``;
* the websocket at that URL: ``{"type": "hello", ...}`` first, then envelopes
  ``{"envelope_id", "type": "events_api" | "interactive", "payload",
  "accepts_response_payload"}``; what the client sends back are acks
  ``{"envelope_id": ...}``, kept in ``acks``;
* ``POST /api/chat.postMessage`` with the bot token (``xoxb-``): ``channel``,
  ``text`` and/or ``blocks`` (a section's text at most 3000 characters, at most
  25 elements in an actions block, a button's ``value`` at most 2000 and its
  ``action_id`` unique in the block), answered ``{"ok": true, "channel", "ts",
  "message"}``, errors as Slack names them (``invalid_blocks``, ``no_text``,
  ``channel_not_found``); kept in ``sent``;
* ``POST /api/chat.postEphemeral`` (``channel``, ``user``, ``text``): kept in
  ``ephemeral``.

``rate_limit_next = n`` answers the next n ``chat.postMessage`` calls with 429
``ratelimited`` and ``Retry-After: 1``, as Slack does past a method's rate tier.

Tests play the people: ``dm(user, text)`` is a direct message to the app;
``press(user, value, channel=...)`` a click on a button carrying ``value``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.waiting import wait_on


class FakeSlack:
    def __init__(self, bot_token: str = "xoxb-test-bot", app_token: str = "xapp-test-app") -> None:
        self.bot_token, self.app_token = bot_token, app_token
        self.sent: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.acks: list[str] = []
        self.envelopes: list[str] = []
        self.errors: list[str] = []
        self.connections = 0
        #: The next this-many chat.postMessage calls get 429 ``ratelimited`` with ``Retry-After: 1``.
        self.rate_limit_next = 0
        self._ts = itertools.count(1)
        self._cond = threading.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- Web API -------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        if method == "apps.connections.open":
            if token == self.bot_token:
                return self._error("not_allowed_token_type")
            if token != self.app_token:
                return self._error("invalid_auth")
            return web.json_response({"ok": True, "url": f"{self.url.replace('http', 'ws')}/link?ticket={uuid.uuid4()}"})
        if token != self.bot_token:
            return self._error("invalid_auth" if token else "not_authed")
        if method == "chat.postMessage":
            if self.rate_limit_next > 0:
                self.rate_limit_next -= 1
                self.errors.append("ratelimited")
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": "1"})
            return self._post_message(body)
        if method == "chat.postEphemeral":
            if not body.get("channel") or not body.get("user") or not body.get("text"):
                return self._error("invalid_arguments")
            with self._cond:
                self.ephemeral.append({**body, "at": time.monotonic()})
                self._cond.notify_all()
            return web.json_response({"ok": True, "message_ts": f"{time.time():.6f}"})
        return self._error("unknown_method")

    def _error(self, error: str) -> web.Response:
        self.errors.append(error)
        return web.json_response({"ok": False, "error": error})

    def _post_message(self, body: dict[str, Any]) -> web.Response:
        channel = body.get("channel")
        blocks = body.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not channel:
            return self._error("channel_not_found")
        if not body.get("text") and not blocks:
            return self._error("no_text")
        for block in blocks or []:
            if block.get("type") == "section" and len((block.get("text") or {}).get("text", "")) > 3000:
                return self._error("invalid_blocks")
            if block.get("type") == "actions":
                elements = block.get("elements") or []
                ids = [e.get("action_id") for e in elements]
                if len(elements) > 25 or len(set(ids)) != len(ids):
                    return self._error("invalid_blocks")
                if any(len(e.get("value", "")) > 2000 or not (e.get("text") or {}).get("text") for e in elements):
                    return self._error("invalid_blocks")
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"type": "message", "text": body.get("text", ""), "blocks": blocks or [], "ts": ts}
        with self._cond:
            self.sent.append({**message, "channel": channel, "at": time.monotonic()})
            self._cond.notify_all()
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": message})

    # -- Socket Mode ---------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        with self._cond:
            self.connections += 1
            self._cond.notify_all()
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1,
                                      "connection_info": {"app_id": "A0TEST"},
                                      "debug_info": {"host": "fake", "approximate_connection_time": 3600}}))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                try:
                    envelope_id = json.loads(message.data).get("envelope_id")
                except ValueError:
                    continue
                with self._cond:
                    if envelope_id:
                        self.acks.append(envelope_id)
                    self._cond.notify_all()
        self._sockets.remove(ws)
        return ws

    def _envelope(self, kind: str, payload: dict[str, Any]) -> str:
        envelope_id = str(uuid.uuid4())
        self.envelopes.append(envelope_id)
        data = json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                           "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": ""})

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_str(data)

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)
        return envelope_id

    def dm(self, user: str, text: str) -> str:
        event = {"type": "message", "channel": f"D{user}", "channel_type": "im", "user": user, "text": text,
                 "ts": f"{time.time():.6f}", "event_ts": f"{time.time():.6f}"}
        return self._envelope("events_api", {"type": "event_callback", "team_id": "T0TEST", "event": event,
                                             "event_id": f"Ev{uuid.uuid4().hex[:8]}", "event_time": int(time.time())})

    def press(self, user: str, value: str, *, channel: str | None = None) -> str:
        payload = {"type": "block_actions", "user": {"id": user, "username": f"user-{user}", "team_id": "T0TEST"},
                   "trigger_id": uuid.uuid4().hex, "channel": {"id": channel or f"D{user}"},
                   "container": {"type": "message", "channel_id": channel or f"D{user}"},
                   "actions": [{"type": "button", "action_id": "ao_0", "block_id": "b", "value": value,
                                "action_ts": f"{time.time():.6f}"}]}
        return self._envelope("interactive", payload)

    # -- waiting -------------------------------------------------------------------------------

    def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "a message") -> Any:
        return wait_on(self._cond, predicate, timeout,
                       lambda: f"timed out waiting for {what}; sent: {[m['text'] for m in self.sent]}; "
                               f"ephemeral: {[m['text'] for m in self.ephemeral]}; errors: {self.errors}")

    def message_with(self, needle: str, timeout: float = 30.0, *, channel: str | None = None) -> dict[str, Any]:
        return self.wait_for(lambda: next((m for m in self.sent if needle in m["text"]
                                           and (channel is None or m["channel"] == channel)), None),
                             timeout, f"a message containing {needle!r}")

    def ephemeral_with(self, needle: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_for(lambda: next((m for m in self.ephemeral if needle in m["text"]), None),
                             timeout, f"an ephemeral message containing {needle!r}")

    @staticmethod
    def buttons(message: dict[str, Any]) -> dict[str, str]:
        return {e["text"]["text"]: e["value"] for b in message["blocks"] if b.get("type") == "actions"
                for e in b["elements"]}
