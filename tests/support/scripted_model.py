"""Provider-neutral scripted replies, shared by the OpenAI and Gemini fakes.

A server turns each request into a ``Turn`` (the newest user text, the tool
results it carries, the tools offered) and asks a ``Script`` for a ``Reply``::

    text("I'll run it.") + call("shell", {"command": ["touch", "x"]}, id="call_touch")
    error(429, "Rate limit reached", retry_after=1)
    text("slow").with_delay(2)            # wait before answering
    text("done").held_until(gate)         # answer when the test sets the gate

Rules are tried in order; each is used once unless ``times`` says otherwise;
an unmatched turn gets ``script.fallback`` and is kept in ``script.unmatched``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]
    id: str


@dataclass(frozen=True)
class Failure:
    status: int
    message: str
    retry_after: float | None = None
    kind: str | None = None  # the error's "type" where the provider names it (OpenAI: usage_limit_reached)
    fields: tuple[tuple[str, Any], ...] = ()  # more of the error object (OpenAI: resets_in_seconds)


@dataclass(frozen=True)
class Reply:
    parts: tuple[Text | Call, ...] = ()
    error: Failure | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    gate: threading.Event | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def __add__(self, other: Reply) -> Reply:
        return replace(self, parts=self.parts + other.parts, error=self.error or other.error,
                       delay=max(self.delay, other.delay), chunk_delay=max(self.chunk_delay, other.chunk_delay),
                       gate=self.gate or other.gate)

    def with_delay(self, seconds: float) -> Reply:
        return replace(self, delay=seconds)

    def slowly(self, seconds_per_chunk: float) -> Reply:
        return replace(self, chunk_delay=seconds_per_chunk)

    def held_until(self, gate: threading.Event) -> Reply:
        return replace(self, gate=gate)

    def with_usage(self, input_tokens: int, output_tokens: int) -> Reply:
        return replace(self, input_tokens=input_tokens, output_tokens=output_tokens)

    @property
    def calls(self) -> list[Call]:
        return [p for p in self.parts if isinstance(p, Call)]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, Text))

    def usage(self, request_chars: int) -> tuple[int, int]:
        out = sum(len(p.text) if isinstance(p, Text) else len(json.dumps(p.arguments)) for p in self.parts)
        return (self.input_tokens or max(1, request_chars // 4), self.output_tokens or max(1, out // 4))


def text(value: str) -> Reply:
    return Reply(parts=(Text(value),))


def call(name: str, arguments: dict[str, Any], id: str | None = None) -> Reply:  # noqa: A002
    return Reply(parts=(Call(name, dict(arguments), id or f"call_{uuid.uuid4().hex[:20]}"),))


def error(status: int, message: str, *, retry_after: float | None = None, kind: str | None = None,
          **fields: Any) -> Reply:
    return Reply(error=Failure(status, message, retry_after, kind, tuple(fields.items())))


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    name: str
    output: str


@dataclass
class Turn:
    """What a script decides on: the newest user text, or the tool results just sent."""

    user_text: str
    tool_results: list[ToolResult]
    tools: list[str]
    model: str = ""
    raw: Any = None
    side: bool = False  # a request besides the conversation (titles, summaries)


@dataclass
class Rule:
    description: str
    when: Callable[[Turn], bool]
    reply: Reply | Callable[[Turn], Reply]
    times: int | None = 1
    used: int = 0


@dataclass
class Script:
    rules: list[Rule] = field(default_factory=list)
    fallback: Reply = field(default_factory=lambda: text("OK."))
    side_reply: Reply = field(default_factory=lambda: text("Scripted session"))
    unmatched: list[Turn] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, description: str, when: Callable[[Turn], bool],
            reply: Reply | Callable[[Turn], Reply], times: int | None = 1) -> Script:
        with self._lock:
            self.rules.append(Rule(description, when, reply, times))
        return self

    def on_prompt(self, contains: str | re.Pattern[str], reply: Reply | Callable[[Turn], Reply],
                  times: int | None = 1) -> Script:
        def when(turn: Turn) -> bool:
            if turn.tool_results:
                return False
            if isinstance(contains, re.Pattern):
                return contains.search(turn.user_text) is not None
            return contains in turn.user_text

        label = contains.pattern if isinstance(contains, re.Pattern) else contains
        return self.add(f"prompt contains {label!r}", when, reply, times)

    def on_tool_result(self, call_id: str | None = None, reply: Reply | None = None, *,
                       contains: str | None = None, times: int | None = 1) -> Script:
        if reply is None:
            raise TypeError("on_tool_result needs a reply")

        def when(turn: Turn) -> bool:
            return any((call_id is None or r.call_id == call_id) and (contains is None or contains in r.output)
                       for r in turn.tool_results)

        return self.add(f"tool result {call_id}", when, reply, times)

    def always(self, reply: Reply | Callable[[Turn], Reply]) -> Script:
        return self.add("always", lambda _turn: True, reply, None)

    def pending(self) -> list[str]:
        with self._lock:
            return [r.description for r in self.rules if r.times is not None and r.used < r.times]

    def __call__(self, turn: Turn) -> Reply:
        if turn.side:
            return self.side_reply
        with self._lock:
            for rule in self.rules:
                if (rule.times is None or rule.used < rule.times) and rule.when(turn):
                    rule.used += 1
                    chosen = rule.reply
                    break
            else:
                self.unmatched.append(turn)
                return self.fallback
        return chosen(turn) if callable(chosen) else chosen


def split_text(value: str) -> list[str]:
    """Text in a handful of word-sized pieces (at least one)."""
    pieces = re.findall(r"\S+\s*|\s+", value)
    if len(pieces) > 8:
        size = -(-len(pieces) // 8)
        pieces = ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)]
    return pieces or [""]


def split_json(value: dict[str, Any], parts: int = 3) -> list[str]:
    raw = json.dumps(value)
    n = max(1, min(parts, len(raw)))
    size = -(-len(raw) // n)
    return [raw[i:i + size] for i in range(0, len(raw), size)] or [""]
