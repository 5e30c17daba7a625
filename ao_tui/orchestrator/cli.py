"""``ao chat``: the orchestrator in the shell, a streaming REPL.

Text is printed as the model writes it; Ctrl-C stops a reply (a second
Ctrl-C, or Ctrl-D at the prompt, leaves). Confirmations are a y/N prompt.
``ao chat "message"`` asks one question and exits. ``--new`` starts a fresh
conversation. Commands at the prompt: ``/triage``, ``/new``, ``/quit``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from ao_tui.orchestrator.chat import ChatEvent, Orchestrator, ReplyReset, TextDelta, ToolCall, ToolDone, TurnEnd
from ao_tui.orchestrator.client import API_KEY_HELP, ChatError, has_api_key
from ao_tui.orchestrator.context import triage_markdown
from ao_tui.orchestrator.tools import ConfirmRequest

if TYPE_CHECKING:
    from ao_tui.engine import Engine


def tool_line(name: str, args: dict[str, Any]) -> str:
    shown = json.dumps(args, ensure_ascii=False)
    return f"{name}({shown[:100] + '…' if len(shown) > 100 else shown})"


class ShellChat:
    def __init__(self, engine: Engine, out: TextIO = sys.stdout, read: Any = input) -> None:
        self.out = out
        self.read = read
        self.orchestrator = Orchestrator(engine, self.confirm)
        self.engine = engine
        self._turn: asyncio.Future[str] | None = None
        self._line: asyncio.Future[str] | None = None

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    async def read_line(self, prompt: str) -> str:
        """``input()`` in a daemon thread: Ctrl-C at the prompt must not wait for a line."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._line = future

        def deliver(setter: Any, value: Any) -> None:
            if not future.done():
                setter(value)

        def run() -> None:
            try:
                line = self.read(prompt)
            except BaseException as exc:  # EOFError, KeyboardInterrupt: handed to the loop
                outcome: tuple[Any, Any] = (future.set_exception, exc)
            else:
                outcome = (future.set_result, line)
            try:
                loop.call_soon_threadsafe(deliver, *outcome)
            except RuntimeError:  # the loop is gone: we are exiting
                pass

        threading.Thread(target=run, name="ao-chat-input", daemon=True).start()
        return await future

    async def confirm(self, request: ConfirmRequest) -> bool:
        self.write(f"\n? {request.title}\n")
        for line in request.details:
            self.write(f"    {line}\n")
        try:
            answer = await self.read_line("  Allow? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    def on_event(self, event: ChatEvent) -> None:
        if isinstance(event, TextDelta):
            self.write(event.text)
        elif isinstance(event, ToolCall):
            self.write(f"\n  → {tool_line(event.name, event.input)}\n")
        elif isinstance(event, ToolDone):
            first = event.outcome.text.strip().splitlines()[0] if event.outcome.text.strip() else ""
            mark = "declined" if event.outcome.declined else ("failed" if event.outcome.is_error else "ok")
            self.write(f"  ← {event.name} {mark}: {first[:120]}\n")
        elif isinstance(event, ReplyReset):
            self.write(f"\n  ({event.retry.reason}; retrying in {event.retry.delay:.0f}s)\n")
        elif isinstance(event, TurnEnd):
            self.write("\n  (stopped)\n" if event.stopped else "\n")

    def on_interrupt(self) -> None:
        """Ctrl-C: stop the reply being written, or leave when at the prompt."""
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()
        elif self._line is not None and not self._line.done():
            self._line.set_exception(KeyboardInterrupt())

    async def turn(self, text: str) -> bool:
        """One exchange; False when it failed before the message was kept (it is then offered again)."""
        self._turn = asyncio.ensure_future(self.orchestrator.ask(text, self.on_event))
        try:
            await self._turn
            return True
        except asyncio.CancelledError:
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # we are being cancelled ourselves, not the reply
            return True
        except ChatError as exc:
            self.write(f"\nerror: {exc}\n")
            return exc.kept  # not kept: the prompt offers the text again
        finally:
            self._turn = None

    async def repl(self, first: str | None = None) -> int:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.on_interrupt)
            handled = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            handled = False
        try:
            return await self._repl(first)
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)
            await self.orchestrator.aclose()

    async def _repl(self, first: str | None = None) -> int:
        if first:
            return 0 if await self.turn(first) else 1
        self.write("ao chat — Ctrl-C stops a reply, Ctrl-D leaves; /triage, /new\n")
        for message in self.orchestrator.conversation.history()[-6:]:
            text = "".join(b.get("text", "") for b in message["content"] if b.get("type") == "text").strip()
            if text:
                self.write(f"{'you' if message['role'] == 'user' else 'ao'}: {text[:300]}\n")
        retry = ""
        while True:
            try:
                prompt = "you> " if not retry else f"you> (Enter resends: {retry[:40]!r}) "
                line = await self.read_line(prompt)
            except (EOFError, KeyboardInterrupt):
                self.write("\n")
                return 0
            text = line.strip() or retry
            if not text:
                continue
            if text in ("/quit", "/exit"):
                return 0
            if text == "/triage":
                self.write(triage_markdown(self.engine) + "\n")
                continue
            if text == "/new":
                self.orchestrator.conversation.clear()
                self.write("(new conversation)\n")
                continue
            retry = "" if await self.turn(text) else text


def run_chat(engine: Engine, args: Any) -> int:
    """``ao chat [MESSAGE...] [--new]``: returns the exit code.

    ``args`` is the argparse namespace; ``args.message`` (a string or list of
    words, optional) asks one question and exits; ``args.new`` clears the
    conversation first.
    """
    message = getattr(args, "message", None)
    if isinstance(message, list):
        message = " ".join(message)
    message = (message or "").strip() or None
    if not has_api_key():
        print(API_KEY_HELP, file=sys.stderr)
        if message is None and sys.stdin.isatty():
            print(triage_markdown(engine))
        return 2
    chat = ShellChat(engine)
    if getattr(args, "new", False):
        chat.orchestrator.conversation.clear()
    try:
        return asyncio.run(chat.repl(message))
    except KeyboardInterrupt:  # Ctrl-C at the prompt: leaving is not a failure
        print()
        return 0
