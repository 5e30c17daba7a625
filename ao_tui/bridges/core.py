"""A chat bridge: the orchestrator and the fleet's notifications in Telegram or Slack.

Service-independent: a ``Transport`` (telegram.py, slack.py) brings messages and
button presses in and sends messages out; this decides who is heard and what
happens. Only allow-listed user ids are heard (everyone else is ignored, and
counted); a person sending too fast is told once and then ignored for the rest
of the minute. A message goes to the orchestrator, which answers with the same
tools as in ao-tui; where it must ask, the question comes with Yes/No buttons
that only the person who asked can press. Notification buttons (approve, merge,
open) act at once: the press is the decision. A press of a button ao never sent
(or has forgotten) does nothing. Every action taken is an event on its session
naming the service and the person.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ao_tui.bridges.notices import Notice, NoticeWatch
from ao_tui.bridges.text import one_line, split
from ao_tui.bridges.transport import Button, Incoming, Transport
from ao_tui.errors import AoError
from ao_tui.models import Event
from ao_tui.orchestrator import API_KEY_HELP, ChatError, ConfirmRequest, Orchestrator, ToolCall, ToolDone, has_api_key

if TYPE_CHECKING:
    from ao_tui.engine import Engine
    from ao_tui.orchestrator.client import ModelClient
    from ao_tui.slots.notifier import Notification  # noqa: F401

log = logging.getLogger("ao.bridges")

#: Seconds a Yes/No question waits for its answer before it counts as No.
CONFIRM_SECONDS = 300.0
#: Notification buttons remembered (older presses are answered "expired").
KEPT_BUTTONS = 500
HELP = ("Write to the orchestrator as in ao-tui (\"what needs me?\", \"merge ao-3\"). "
        "Commands: /status (the fleet, no model needed), /help.")


def status_text(engine: Engine) -> str:
    """The fleet in a few plain lines (no model needed): counts by zone, then what needs you."""
    from ao_tui.attention import ZONE_ORDER, ZONE_TITLES, zone_of
    from ao_tui.orchestrator.context import triage

    sessions = engine.observed_sessions()
    counts = {zone: 0 for zone in ZONE_ORDER}
    for s in sessions:
        counts[zone_of(s)] += 1
    lines = [" · ".join(f"{ZONE_TITLES[z]} {n}" for z, n in counts.items() if n) or "No sessions."]
    items = triage(engine, sessions)
    lines += [f"{n}. {item.headline}: {item.why}. {item.action}" for n, item in enumerate(items, 1)]
    if not items:
        lines.append("Nothing needs you right now.")
    return "\n".join(lines)


@dataclass
class _Question:
    user: str
    answer: asyncio.Future[bool]


@dataclass
class Counters:
    """What was turned away, for tests and the log."""

    strangers: int = 0
    rate_limited: int = 0
    forged: int = 0
    unknown_commands: int = 0


@dataclass
class _Rate:
    times: deque[float] = field(default_factory=deque)
    told: bool = False


class Bridge:
    def __init__(self, engine: Engine, transport: Transport, *, allowed: list[str], notify_chat: str | None,
                 rate_limit: int = 8, client: ModelClient | None = None) -> None:
        self.engine = engine
        self.transport = transport
        self.allowed = {str(u) for u in allowed}
        self.notify_chat = notify_chat
        self.rate_limit = rate_limit
        self.counters = Counters()
        self.orchestrator = Orchestrator(engine, self._confirm, conversation=f"bridge-{transport.name}",
                                         client=client)
        self._questions: dict[str, _Question] = {}
        self._buttons: OrderedDict[str, tuple[str, str]] = OrderedDict()  # nonce -> (action, session id)
        self._rates: dict[str, _Rate] = {}
        self._turn_user: Incoming | None = None
        self._turn_lock = asyncio.Lock()
        self._notices = NoticeWatch()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Any = None

    @property
    def name(self) -> str:
        return self.transport.name

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: notifications out, messages and presses in."""
        self._loop = asyncio.get_running_loop()
        self._notices.seed(self.engine.sessions())
        self._unsubscribe = self.engine.subscribe(self._session_changed)
        try:
            async for incoming in self.transport.incoming():
                self._spawn(self.handle(incoming))
        finally:
            if self._unsubscribe:
                self._unsubscribe()
            for task in list(self._tasks):
                task.cancel()
            await self.orchestrator.aclose()
            await self.transport.aclose()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- notifications --------------------------------------------------------------------------

    def _session_changed(self, session: Any) -> None:
        """From the engine's threads: the notices are worked out and sent on the bridge's loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(lambda: self._spawn(self._notify_change(session)))

    async def _notify_change(self, session: Any) -> None:
        for notice in self._notices.changed(session):
            await self.notify(notice)

    async def notify(self, notice: Notice) -> None:
        if not self.notify_chat:
            return
        buttons = [self._button(action, notice.session_id) for action in notice.actions if notice.session_id]
        await self._send(self.notify_chat, notice.text, buttons)

    def _button(self, action: str, session_id: str) -> Button:
        nonce = secrets.token_urlsafe(9)
        self._buttons[nonce] = (action, session_id)
        while len(self._buttons) > KEPT_BUTTONS:
            self._buttons.popitem(last=False)
        return Button(f"{action.capitalize()} {session_id}", f"{action}:{nonce}")

    async def _send(self, chat: str, text: str, buttons: list[Button] | None = None) -> None:
        parts = split(text, self.transport.max_text)
        for n, part in enumerate(parts):
            try:
                await self.transport.send(chat, part, buttons if n == len(parts) - 1 else None)
            except Exception as exc:  # the service is down or refused: logged, never fatal
                log.warning("%s: sending failed: %s", self.name, one_line(str(exc), 200))
                return

    # -- what comes in -------------------------------------------------------------------------

    async def handle(self, incoming: Incoming) -> None:
        if incoming.user not in self.allowed:
            self.counters.strangers += 1
            log.info("%s: ignored a %s from user %s (not allowed)", self.name,
                     "button press" if incoming.button else "message", one_line(incoming.user, 40))
            return
        if incoming.button:
            await self._pressed(incoming)
            return
        if self._too_fast(incoming.user):
            return
        text = incoming.text.strip()
        if text.startswith("/"):
            await self._command(incoming, text)
            return
        await self._ask(incoming, text)

    def _too_fast(self, user: str) -> bool:
        """More than ``rate_limit`` messages in a minute: told once, then ignored until it slows."""
        rate = self._rates.setdefault(user, _Rate())
        now = time.monotonic()
        while rate.times and now - rate.times[0] > 60:
            rate.times.popleft()
        if len(rate.times) >= self.rate_limit:
            self.counters.rate_limited += 1
            if not rate.told:
                rate.told = True
                self._spawn(self._send_to(user, "Too many messages: the rest of this minute's are ignored."))
            return True
        rate.times.append(now)
        rate.told = False
        return False

    async def _send_to(self, user: str, text: str) -> None:
        # The user's own chat: Telegram's private chat id is the user id; Slack's DM is opened by user id.
        await self._send(user, text)

    async def _command(self, incoming: Incoming, text: str) -> None:
        command = text.split()[0].split("@")[0].lower()
        if command in ("/status", "/triage"):
            await self._send(incoming.chat, await asyncio.to_thread(status_text, self.engine))
        elif command in ("/help", "/start"):
            await self._send(incoming.chat, HELP)
        else:
            self.counters.unknown_commands += 1
            await self._send(incoming.chat, f"Unknown command {one_line(command, 40)}. {HELP}")

    async def _ask(self, incoming: Incoming, text: str) -> None:
        if not text:
            return
        if not has_api_key():
            await self._send(incoming.chat, API_KEY_HELP)
            return
        if self._turn_lock.locked():
            await self._send(incoming.chat, "Still answering your last message; this one waits for it.")
        async with self._turn_lock:
            self._turn_user = incoming

            inputs: dict[str, dict[str, Any]] = {}

            def record(event: Any) -> None:
                if isinstance(event, ToolCall):
                    inputs[event.id] = event.input or {}
                elif isinstance(event, ToolDone) and not event.outcome.is_error and not event.outcome.declined:
                    self._record_tool(incoming, event, inputs.get(event.id, {}))
            try:
                answer = await self.orchestrator.ask(f"[via {self.name}] {text}", record)
            except ChatError as exc:
                answer = f"The orchestrator failed: {exc}"
            finally:
                self._turn_user = None
            await self._send(incoming.chat, answer or "(no answer)")

    # -- confirmations: Yes/No buttons for the person who asked -------------------------------

    async def _confirm(self, request: ConfirmRequest) -> bool:
        asker = self._turn_user
        if asker is None:
            return False
        nonce = secrets.token_urlsafe(9)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._questions[nonce] = _Question(asker.user, future)
        body = "\n".join([request.title, *(f"• {d}" for d in request.details)])
        await self._send(asker.chat, body, [Button(f"Yes, {request.action}", f"yes:{nonce}"),
                                            Button("No", f"no:{nonce}")])
        try:
            allowed = await asyncio.wait_for(future, CONFIRM_SECONDS)
        except TimeoutError:
            await self._send(asker.chat, f"No answer: {request.action} not done.")
            allowed = False
        finally:
            self._questions.pop(nonce, None)
        if allowed:
            for sid in request.session_ids:
                self._record(sid, asker, request.action, confirmed=True)
        return allowed

    # -- button presses --------------------------------------------------------------------------

    async def _pressed(self, press: Incoming) -> None:
        kind, _, nonce = press.button.partition(":")
        if kind in ("yes", "no"):
            question = self._questions.get(nonce)
            if question is None or question.answer.done():
                await self._forged(press, "That question is not open (answered, expired, or never asked).")
            elif question.user != press.user:
                await self.transport.answer_press(press, "Only the person who asked can answer this.")
            else:
                question.answer.set_result(kind == "yes")
                await self.transport.answer_press(press, "Yes" if kind == "yes" else "No")
            return
        known = self._buttons.get(nonce)
        if known is None or known[0] != kind:
            await self._forged(press, "That button is not one ao sent (or it has expired).")
            return
        session_id = known[1]
        try:
            reply = await asyncio.to_thread(self._act, kind, session_id, press)
        except AoError as exc:
            reply = f"{kind} {session_id}: {exc}"
        await self.transport.answer_press(press, one_line(reply, 180))
        await self._send(press.chat, reply)

    async def _forged(self, press: Incoming, why: str) -> None:
        self.counters.forged += 1
        log.warning("%s: button press from %s refused: %s", self.name, one_line(press.user, 40), why)
        await self.transport.answer_press(press, why)

    def _act(self, action: str, session_id: str, press: Incoming) -> str:
        who = press.user_name or press.user
        if action == "open":
            from ao_tui.orchestrator.context import session_line

            s = self.engine.session(session_id)
            lines = [session_line(s)]
            if s.pr is not None:
                lines.append(f"PR #{s.pr.number} {s.pr.url} · CI {s.pr.ci.value} · review {s.pr.review.value}")
            if s.last_message:
                lines.append(f"Last message: {one_line(s.last_message, 600)}")
            return "\n".join(lines)
        status = self.engine.session(session_id).status.value
        if status in ("merged", "done", "killed"):
            return f"{session_id} is already {status}: nothing done."
        if action == "approve":
            self.engine.approve(session_id, f"Approved from {self.name} by {who}.")
            self._record(session_id, press, "approve")
            return f"Approved {session_id}."
        if action == "merge":
            self.engine.merge(session_id)
            self._record(session_id, press, "merge")
            return f"Merged {session_id}."
        raise AoError(f"unknown action {action!r}")

    def _record_tool(self, who: Incoming, done: ToolDone, call_input: dict[str, Any]) -> None:
        allowed = self.engine.config.orchestrator.allow_without_confirmation
        if done.name in ("merge", "approve", "kill", "restore") and done.name not in allowed:
            return  # recorded when the person pressed Yes
        session_id = call_input.get("session_id") or done.outcome.data.get("session_id")
        if session_id:
            self._record(str(session_id), who, done.name)

    def _record(self, session_id: str, who: Incoming, action: str, **data: Any) -> None:
        try:
            self.engine.store.add_event(Event(session_id=session_id, kind="bridge", data={
                "bridge": self.name, "user": who.user, "user_name": who.user_name, "action": action, **data}))
        except Exception as exc:
            log.warning("%s: recording %s on %s failed: %s", self.name, action, session_id, exc)


