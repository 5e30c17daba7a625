"""Telegram through the Bot API: long polling (getUpdates), sendMessage with inline
keyboards, callback queries answered with answerCallbackQuery.

Plain urllib and JSON: the bridge needs four methods, and python-telegram-bot
would bring its own HTTP stack and application framework for them. The long
poll runs in a daemon thread (a stop never waits out a 25-second poll). The
token is in every request's path, so no URL is ever logged or put in an error.
Texts are sent without ``parse_mode``: whatever markup a message holds is shown
as typed, never interpreted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

from ao_tui.bridges.transport import Button, Incoming

log = logging.getLogger("ao.bridges.telegram")

POLL_SECONDS = 25


class TelegramError(Exception):
    """A Bot API call failed: its method and Telegram's description, never the URL (it holds the token)."""


class TelegramTransport:
    name = "telegram"
    max_text = 4096

    def __init__(self, token: str, base_url: str = "https://api.telegram.org", poll_seconds: int = POLL_SECONDS) -> None:
        self._token = token
        self._base = base_url.rstrip("/")
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._offset = 0

    def call(self, method: str, payload: dict[str, Any], timeout: float = 15.0) -> Any:
        request = urllib.request.Request(f"{self._base}/bot{self._token}/{method}", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                body = {"description": f"HTTP {exc.code}"}
            body.setdefault("error_code", exc.code)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TelegramError(f"{method}: {type(reason).__name__}: {reason}") from None
        if not body.get("ok"):
            retry = (body.get("parameters") or {}).get("retry_after")
            error = TelegramError(f"{method}: {body.get('error_code', '?')} {body.get('description', 'failed')}")
            error.retry_after = retry  # type: ignore[attr-defined]
            raise error
        return body.get("result")

    # -- in ----------------------------------------------------------------------------------

    async def incoming(self) -> AsyncIterator[Incoming]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Incoming] = asyncio.Queue()
        thread = threading.Thread(target=self._poll, args=(loop, queue), name="ao-telegram-poll", daemon=True)
        thread.start()
        try:
            while True:
                yield await queue.get()
        finally:
            self._stop.set()

    def _poll(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Incoming]) -> None:
        pause = 1.0
        while not self._stop.is_set():
            try:
                updates = self.call("getUpdates", {"offset": self._offset, "timeout": self.poll_seconds,
                                                   "allowed_updates": ["message", "callback_query"]},
                                    timeout=self.poll_seconds + 10)
                pause = 1.0
            except TelegramError as exc:
                log.warning("telegram: %s", exc)
                wait = getattr(exc, "retry_after", None) or pause
                pause = min(pause * 2, 60.0)
                self._stop.wait(float(wait))
                continue
            for update in updates or []:
                self._offset = max(self._offset, int(update.get("update_id", 0)) + 1)
                incoming = parse_update(update)
                if incoming is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(queue.put_nowait, incoming)

    # -- out ---------------------------------------------------------------------------------

    async def send(self, chat: str, text: str, buttons: list[Button] | None = None) -> None:
        payload: dict[str, Any] = {"chat_id": int(chat) if chat.lstrip("-").isdigit() else chat, "text": text}
        if buttons:
            payload["reply_markup"] = {"inline_keyboard": [[{"text": b.label, "callback_data": b.data}
                                                            for b in buttons]]}
        await asyncio.to_thread(self._send_retrying, payload)

    def _send_retrying(self, payload: dict[str, Any]) -> None:
        for attempt in range(3):
            try:
                self.call("sendMessage", payload)
                return
            except TelegramError as exc:
                retry = getattr(exc, "retry_after", None)
                if retry is None or attempt == 2:
                    raise
                time.sleep(min(float(retry), 30.0))

    async def answer_press(self, press: Incoming, text: str = "") -> None:
        if not press.press_id:
            return
        try:
            await asyncio.to_thread(self.call, "answerCallbackQuery",
                                    {"callback_query_id": press.press_id, "text": text[:200]})
        except TelegramError as exc:
            log.warning("telegram: %s", exc)

    async def aclose(self) -> None:
        self._stop.set()


def parse_update(update: dict[str, Any]) -> Incoming | None:
    """A message or a button press from an update; anything else (edits, joins, stickers) is None."""
    if "callback_query" in update:
        query = update["callback_query"]
        sender = query.get("from") or {}
        chat = ((query.get("message") or {}).get("chat") or {}).get("id", sender.get("id"))
        return Incoming(user=str(sender.get("id", "")), chat=str(chat), button=str(query.get("data") or ""),
                        press_id=str(query.get("id", "")), user_name=_name(sender))
    message = update.get("message")
    if not message or "text" not in message:
        return None
    sender = message.get("from") or {}
    return Incoming(user=str(sender.get("id", "")), chat=str((message.get("chat") or {}).get("id", "")),
                    text=str(message["text"]), user_name=_name(sender))


def _name(user: dict[str, Any]) -> str:
    return str(user.get("username") or user.get("first_name") or user.get("id", ""))
