"""A local fake of Telegram's Bot API, for the Telegram bridge.

``FakeTelegram`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port),
used as a context manager; point the bridge's ``base_url`` at ``url``. It
answers ``POST /bot<token>/<method>`` with JSON as the Bot API documents:
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N,
"description": "..."}``. A wrong token gets 401 Unauthorized.

* ``getUpdates`` (``offset``, ``timeout``: a long poll, answered as soon as an
  update at or past ``offset`` exists, else empty after ``timeout`` s);
  updates before ``offset`` are confirmed and forgotten, as on Telegram;
* ``sendMessage`` (``chat_id``, ``text`` of 1-4096 characters, optional
  ``reply_markup.inline_keyboard`` whose ``callback_data`` are 1-64 bytes; no
  ``parse_mode`` check: a ``parse_mode`` is recorded so tests can refuse it),
  answered with the Message; kept in ``sent`` (with the monotonic time);
* ``answerCallbackQuery`` (``callback_query_id`` of a press that exists, ``text``
  up to 200 characters), kept in ``answers``.

Tests play the people: ``say(user, text)`` is a private message from user id
``user``; ``press(user, data, chat=...)`` a tap on an inline button carrying
``data`` (any data: a forged press is just data ao never sent).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.waiting import wait_on


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-token") -> None:
        self.token = token
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._press_ids = itertools.count(9000)
        self.sent: list[dict[str, Any]] = []
        self.answers: list[dict[str, Any]] = []
        self.presses: set[str] = set()
        self.calls: list[str] = []
        self.errors: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                status, answer = fake._dispatch(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the API ---------------------------------------------------------------------------

    def _dispatch(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != f"bot{self.token}":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = parts[1]
        self.calls.append(method)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
        return handler(body)

    def _bad(self, description: str) -> tuple[int, dict[str, Any]]:
        self.errors.append({"description": description})
        return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}

    def _m_getUpdates(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        offset = int(body.get("offset") or 0)
        deadline = time.monotonic() + min(float(body.get("timeout") or 0), 50)
        with self._cond:
            if offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return 200, {"ok": True, "result": list(self._updates)}

    def _m_sendMessage(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        text = body.get("text")
        if body.get("chat_id") in (None, ""):
            return self._bad("chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return self._bad("message text is empty")
        if len(text) > 4096:
            return self._bad("message is too long")
        markup = body.get("reply_markup")
        if markup is not None:
            rows = markup.get("inline_keyboard")
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                return self._bad("field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
            for button in (b for r in rows for b in r):
                if not button.get("text"):
                    return self._bad("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data", "")
                if not 1 <= len(data.encode()) <= 64:
                    return self._bad("BUTTON_DATA_INVALID")
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": {"id": body["chat_id"], "type": "private"}, "text": text,
                   "from": {"id": 1, "is_bot": True, "first_name": "ao", "username": "ao_bot"}}
        if markup is not None:
            message["reply_markup"] = markup
        with self._cond:
            self.sent.append({**message, "parse_mode": body.get("parse_mode"), "at": time.monotonic()})
            self._cond.notify_all()
        return 200, {"ok": True, "result": message}

    def _m_answerCallbackQuery(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # noqa: N802
        query_id = str(body.get("callback_query_id", ""))
        if query_id not in self.presses:
            return self._bad("query is too old and response timeout expired or query ID is invalid")
        if len(body.get("text") or "") > 200:
            return self._bad("MESSAGE_TOO_LONG")
        with self._cond:
            self.answers.append({"id": query_id, "text": body.get("text", "")})
            self._cond.notify_all()
        return 200, {"ok": True, "result": True}

    # -- the people ------------------------------------------------------------------------

    def _push(self, update: dict[str, Any]) -> None:
        with self._cond:
            self._updates.append({"update_id": next(self._update_ids), **update})
            self._cond.notify_all()

    def say(self, user: int, text: str, *, name: str = "") -> None:
        person = {"id": user, "is_bot": False, "first_name": name or f"user{user}"}
        self._push({"message": {"message_id": next(self._message_ids), "date": int(time.time()), "from": person,
                                "chat": {"id": user, "type": "private"}, "text": text}})

    def press(self, user: int, data: str, *, chat: int | None = None) -> str:
        press_id = str(next(self._press_ids))
        self.presses.add(press_id)
        person = {"id": user, "is_bot": False, "first_name": f"user{user}"}
        self._push({"callback_query": {"id": press_id, "from": person, "chat_instance": "1", "data": data,
                                       "message": {"message_id": 1, "chat": {"id": chat or user, "type": "private"},
                                                   "date": int(time.time())}}})
        return press_id

    # -- what tests wait for ------------------------------------------------------------------

    def wait_for(self, predicate: Any, timeout: float = 10.0, what: str = "a message") -> Any:
        return wait_on(self._cond, predicate, timeout,
                       lambda: f"timed out waiting for {what}; sent: {[m['text'] for m in self.sent]}; "
                               f"answers: {self.answers}")

    def message_with(self, needle: str, timeout: float = 30.0, *, chat: int | None = None) -> dict[str, Any]:
        return self.wait_for(lambda: next((m for m in self.sent if needle in m["text"]
                                           and (chat is None or m["chat"]["id"] == chat)), None),
                             timeout, f"a message containing {needle!r}")

    def answer_for(self, press_id: str, timeout: float = 30.0) -> dict[str, Any]:
        return self.wait_for(lambda: next((a for a in self.answers if a["id"] == press_id), None),
                             timeout, f"the answer to press {press_id}")

    @staticmethod
    def buttons(message: dict[str, Any]) -> dict[str, str]:
        """A sent message's buttons: label -> callback_data."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return {b["text"]: b["callback_data"] for row in rows for b in row}
