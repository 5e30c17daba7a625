"""Slack through its own Python SDK (slack_sdk): Socket Mode in, the Web API out.

Socket Mode needs no public URL: ``apps.connections.open`` (with the app-level
token) gives a websocket on which Slack sends envelopes; each is acknowledged
with its ``envelope_id`` at once, then handled. Direct messages to the app
(``events_api`` / ``message`` in an ``im``) and button presses (``interactive`` /
``block_actions``) come in; messages go out with ``chat.postMessage`` (a
``plain_text`` section, so markup shows as typed, and an ``actions`` block of
buttons), and a press is answered with ``chat.postEphemeral`` to the presser.
slack_sdk's aiohttp Socket Mode client reuses the aiohttp ao-tui --serve brings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from ao_tui.bridges.transport import Button, Incoming

log = logging.getLogger("ao.bridges.slack")


class SlackTransport:
    name = "slack"
    max_text = 3000  # a section block's text

    def __init__(self, bot_token: str, app_token: str, base_url: str = "https://slack.com/api/") -> None:
        self._bot_token = bot_token
        self._app_token = app_token
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._web: Any = None
        self._socket: Any = None

    @property
    def web(self) -> Any:
        if self._web is None:
            from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
            from slack_sdk.web.async_client import AsyncWebClient

            self._web = AsyncWebClient(token=self._bot_token, base_url=self._base_url, timeout=15)
            # A 429 waits out Slack's Retry-After (twice at most) instead of losing the message.
            self._web.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        return self._web

    async def incoming(self) -> AsyncIterator[Incoming]:
        from slack_sdk.socket_mode.aiohttp import SocketModeClient
        from slack_sdk.socket_mode.response import SocketModeResponse

        queue: asyncio.Queue[Incoming] = asyncio.Queue()

        async def on_request(client: Any, request: Any) -> None:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            incoming = parse_envelope(request.type, request.payload or {})
            if incoming is not None:
                queue.put_nowait(incoming)

        self._socket = SocketModeClient(app_token=self._app_token, web_client=self.web,
                                        logger=logging.getLogger("ao.bridges.slack.socket"))
        self._socket.socket_mode_request_listeners.append(on_request)
        await self._socket.connect()
        try:
            while True:
                yield await queue.get()
        finally:
            await self.aclose()

    async def send(self, chat: str, text: str, buttons: list[Button] | None = None) -> None:
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "plain_text", "text": text}}]
        if buttons:
            blocks.append({"type": "actions", "elements": [
                {"type": "button", "action_id": f"ao_{n}", "value": b.data,
                 "text": {"type": "plain_text", "text": b.label[:75]}} for n, b in enumerate(buttons)]})
        await self.web.chat_postMessage(channel=chat, text=text, blocks=blocks)

    async def answer_press(self, press: Incoming, text: str = "") -> None:
        if not text:
            return
        try:
            await self.web.chat_postEphemeral(channel=press.chat, user=press.user, text=text)
        except Exception as exc:
            log.warning("slack: chat.postEphemeral failed: %s", type(exc).__name__)

    async def aclose(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close()
        if self._web is not None and getattr(self._web, "session", None) is not None:
            await self._web.session.close()


def parse_envelope(kind: str, payload: dict[str, Any]) -> Incoming | None:
    """A direct message or a button press from a Socket Mode envelope; anything else is None."""
    if kind == "events_api":
        event = payload.get("event") or {}
        # Only people's own messages: the bot's echoes, edits and joins carry a subtype or bot_id.
        if event.get("type") != "message" or event.get("subtype") or event.get("bot_id"):
            return None
        if event.get("channel_type") not in (None, "im"):
            return None
        return Incoming(user=str(event.get("user", "")), chat=str(event.get("channel", "")),
                        text=str(event.get("text") or ""))
    if kind == "interactive" and payload.get("type") == "block_actions":
        user = payload.get("user") or {}
        actions = payload.get("actions") or [{}]
        chat = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get("channel_id", "")
        return Incoming(user=str(user.get("id", "")), chat=str(chat), button=str(actions[0].get("value") or ""),
                        press_id=str(payload.get("trigger_id", "")),
                        user_name=str(user.get("username") or user.get("name") or ""))
    return None
