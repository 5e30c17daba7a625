"""Talking to the Anthropic Messages API: streaming, retries, one-line errors.

The anthropic SDK is imported only when a request is first made, so ``ao``
and ``ao-tui`` start fast and work without it. The base URL comes from
``ANTHROPIC_BASE_URL`` (read by the SDK), the key from ``ANTHROPIC_API_KEY``;
neither is ever logged or written anywhere.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import random
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ao_tui.errors import AoError

API_KEY_HELP = (
    "The orchestrator needs an Anthropic API key: run `export ANTHROPIC_API_KEY=sk-ant-...` "
    "(create one at console.anthropic.com), then restart ao. Everything else works without it."
)

#: Status codes worth retrying: rate limited, server error, overloaded and friends.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def preload() -> None:
    """Import the SDK now (call it from a worker thread when the chat opens)."""
    importlib.import_module("anthropic")


def has_api_key() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN"))


class ChatError(AoError):
    """A request to the model failed; the message is one line a human can act on."""

    kept: bool = False


class MissingApiKey(ChatError):
    def __init__(self) -> None:
        super().__init__(API_KEY_HELP)


@dataclass(frozen=True)
class Retrying:
    """A retryable failure: the client waits ``delay`` seconds, then tries again."""

    attempt: int
    attempts: int
    delay: float
    reason: str


@dataclass
class ModelReply:
    """One complete assistant message: content blocks as API dicts, and why it stopped."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = None

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    @property
    def tool_uses(self) -> list[dict[str, Any]]:
        return [b for b in self.content if b.get("type") == "tool_use"]


Callback = Callable[[Any], Awaitable[None] | None]


async def _call(callback: Callback | None, value: Any) -> None:
    if callback is None:
        return
    result = callback(value)
    if inspect.isawaitable(result):
        await result


def _status_of(exc: BaseException) -> int | None:
    """The HTTP status an error stands for; a mid-stream ``error`` event counts by its type."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        kind = inner.get("type") if isinstance(inner, dict) else body.get("type")
        by_kind = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500,
                   "timeout_error": 504, "authentication_error": 401, "invalid_request_error": 400}
        if kind in by_kind:
            return by_kind[kind]
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    import anthropic

    if isinstance(exc, (anthropic.APITimeoutError, anthropic.APIConnectionError, TimeoutError)):
        return True
    status = _status_of(exc)
    return status in RETRYABLE_STATUS


def describe_error(exc: BaseException) -> str:
    """One line saying what went wrong with the API and what to do."""
    try:
        import anthropic
    except ImportError:  # pragma: no cover - the dependency is declared
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ChatError):
        return str(exc)
    if isinstance(exc, (anthropic.APITimeoutError, TimeoutError)):
        return "the Anthropic API did not answer in time; try again"
    if isinstance(exc, anthropic.APIConnectionError):
        return "cannot reach the Anthropic API (check your network or ANTHROPIC_BASE_URL)"
    status = _status_of(exc)
    if isinstance(exc, anthropic.AuthenticationError) or status == 401:
        return "the Anthropic API refused the key in ANTHROPIC_API_KEY (401); check it"
    if status == 429:
        return "the Anthropic API is rate limiting this key (429); wait a minute and try again"
    if status == 529:
        return "the Anthropic API is overloaded (529); try again in a minute"
    if status is not None and status >= 500:
        return f"the Anthropic API had a server error ({status}); try again"
    message = getattr(exc, "message", None) or str(exc)
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return f"the Anthropic API refused the request ({status or type(exc).__name__}): {first[:200]}"


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None
    return None


def _block_dict(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input or {})}
    dumped: dict[str, Any] = block.model_dump(exclude_none=True)
    return dumped


class ModelClient:
    """Streams replies from one model, retrying what is worth retrying.

    ``sdk_retries`` and ``timeout`` go to the SDK (which retries failed
    connections and 429/5xx responses before any byte arrives); ``attempts``
    and ``backoff`` are ours and cover errors the SDK cannot retry, such as an
    ``overloaded_error`` arriving inside a stream.
    """

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = 4096,
        timeout: float = 30.0,
        sdk_retries: int = 2,
        attempts: int = 2,
        backoff: float = 1.0,
        max_backoff: float = 20.0,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.sdk_retries = sdk_retries
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sdk: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def load(self) -> Any:
        """The SDK client, importing anthropic in a thread the first time (it takes seconds)."""
        if not has_api_key():
            raise MissingApiKey()
        if "anthropic" not in sys.modules:
            await asyncio.to_thread(importlib.import_module, "anthropic")
        return self.sdk()

    def sdk(self) -> Any:
        if not has_api_key():
            raise MissingApiKey()
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._loop is not loop:  # an HTTP client belongs to one event loop
            import anthropic  # lazy: only when the chat is first used

            self._sdk = anthropic.AsyncAnthropic(max_retries=self.sdk_retries, timeout=self.timeout)
            self._loop = loop
        return self._sdk

    async def aclose(self) -> None:
        """Close the HTTP client (call it on the loop that used it)."""
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.close()

    async def stream(
        self,
        *,
        system: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        tool_choice: dict[str, Any] | None = None,
        on_text: Callback | None = None,
        on_retry: Callback | None = None,
    ) -> ModelReply:
        """One assistant message, its text passed to ``on_text`` as it is written.

        After a retryable failure ``on_retry`` receives a ``Retrying`` (the UI
        drops any partial text of this message) and the request starts over.
        Raises ``ChatError`` with one clear line when it gives up.
        """
        sdk = await self.load()
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": system,
            "messages": messages,
        }
        if tools:
            kwargs["tools"] = tools
        if tool_choice:
            kwargs["tool_choice"] = tool_choice
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._stream_once(sdk, kwargs, on_text)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt >= self.attempts or not is_retryable(exc):
                    raise ChatError(describe_error(exc) + (f" (after {attempt} attempts)" if attempt > 1 else "")) from exc
                delay = _retry_after(exc)
                if delay is None:
                    delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                    delay *= 0.75 + random.random() / 2
                await _call(on_retry, Retrying(attempt, self.attempts, delay, describe_error(exc).split(";")[0]))
                await asyncio.sleep(delay)

    async def _stream_once(self, sdk: Any, kwargs: dict[str, Any], on_text: Callback | None) -> ModelReply:
        async with sdk.messages.stream(**kwargs) as stream:
            async for event in stream:
                if event.type == "text" and event.text:
                    await _call(on_text, event.text)
            final = await stream.get_final_message()
        return ModelReply(content=[_block_dict(b) for b in final.content], stop_reason=final.stop_reason)
