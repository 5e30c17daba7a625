"""Chat bridges (``bridges:`` in the config): the orchestrator and the notifications that
matter, in Telegram (telegram.py) and Slack (slack.py). core.py decides who is heard and
what happens; a transport only moves messages.

They run inside the process that runs the engine (``ao run``, the leading ``ao-tui``,
``ao-tui --serve``), on their own thread and event loop: ``start_bridges(engine)``.
Tokens are read from the environment variables the config names, never from the
config itself, and are never written anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ao_tui.bridges.core import Bridge
    from ao_tui.engine import Engine

log = logging.getLogger("ao.bridges")


class BridgeRunner:
    """The configured bridges on one background thread; ``stop()`` ends them."""

    def __init__(self, bridges: list[Bridge]) -> None:
        self.bridges = bridges
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ao-bridges", daemon=True)
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self) -> BridgeRunner:
        self._thread.start()
        self._ready.wait(5)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._tasks = [asyncio.ensure_future(self._keep_running(b)) for b in self.bridges]
            self._ready.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        try:
            self._loop.run_until_complete(main())
        finally:
            self._loop.close()

    @staticmethod
    async def _keep_running(bridge: Bridge) -> None:
        try:
            await bridge.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the %s bridge stopped", bridge.name)

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        for task in self._tasks:
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)


def configured(engine: Engine, *, client: Any = None) -> tuple[list[Bridge], list[str]]:
    """The bridges the config asks for, and one line for each that cannot start (its token missing)."""
    cfg = engine.config.bridges
    bridges: list[Bridge] = []
    problems: list[str] = []
    if cfg.telegram is None and cfg.slack is None:
        return bridges, problems
    from ao_tui.bridges.core import Bridge
    if cfg.telegram is not None:
        token = os.environ.get(cfg.telegram.token_env, "")
        if not token:
            problems.append(f"bridges.telegram: ${cfg.telegram.token_env} is not set; the Telegram bridge is off")
        else:
            from ao_tui.bridges.telegram import TelegramTransport

            users = [str(u) for u in cfg.telegram.allowed_users]
            chat = str(cfg.telegram.chat_id) if cfg.telegram.chat_id is not None else (users[0] if users else None)
            bridges.append(Bridge(engine, TelegramTransport(token, cfg.telegram.base_url), allowed=users,
                                  notify_chat=chat, rate_limit=cfg.rate_limit, client=client))
    if cfg.slack is not None:
        token = os.environ.get(cfg.slack.token_env, "")
        app_token = os.environ.get(cfg.slack.app_token_env, "")
        if not token or not app_token:
            missing = cfg.slack.token_env if not token else cfg.slack.app_token_env
            problems.append(f"bridges.slack: ${missing} is not set; the Slack bridge is off")
        else:
            from ao_tui.bridges.slack import SlackTransport

            bridges.append(Bridge(engine, SlackTransport(token, app_token, cfg.slack.base_url),
                                  allowed=list(cfg.slack.allowed_users), notify_chat=cfg.slack.channel,
                                  rate_limit=cfg.rate_limit, client=client))
    return bridges, problems


def start_bridges(engine: Engine) -> tuple[BridgeRunner | None, list[str]]:
    """Start what the config asks for; returns the runner (None if nothing runs) and the problems."""
    bridges, problems = configured(engine)
    for problem in problems:
        log.warning("%s", problem)
    if not bridges:
        return None, problems
    return BridgeRunner(bridges).start(), problems
