"""The web server behind ``ao-tui --serve``.

textual-serve runs one app process per browser (its websocket) and relays the
screen; ao adds what it lacks:

* a token on every request, HTTP and websocket, compared in constant time. The
  first visit brings it as ``?token=``; the answer sets an HttpOnly, SameSite=Strict
  cookie and redirects to the same address without it, so the token stays out of
  the address bar, the history and every access log (which logs paths, never
  query strings);
* its own page template: textual-serve's loads a web font from a CDN, this one
  takes the same font from textual-serve's static files, so nothing comes from
  elsewhere, and it finds the websocket on the address the page came from (a
  TLS proxy or tunnel in front works without telling ao its public address);
* app processes started from an argv list, never through a shell.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from ao_tui.tui.serve.token import matches

log = logging.getLogger("ao.serve")
access_log = logging.getLogger("ao.serve.access")

TEMPLATES = Path(__file__).with_name("templates")
COOKIE = "ao_serve"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
#: Each browser costs an app process (~60 MB): more at once than this are turned away.
MAX_BROWSERS = 8


class PathOnlyAccessLogger(AbstractAccessLogger):
    """One line a request with the path only: a query string (``?token=``) never reaches a log."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.0fms", request.method, request.path, response.status, time * 1000)


def app_environment(width: int = 80, height: int = 24) -> dict[str, str]:
    """The environment textual-serve gives an app process (its web driver, the terminal's size)."""
    from importlib.metadata import version

    env = dict(os.environ)
    env.update({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "TEXTUAL_FPS": "60",
                "TEXTUAL_COLOR_SYSTEM": "truecolor", "TERM_PROGRAM": "textual",
                "TERM_PROGRAM_VERSION": version("textual-serve"), "COLUMNS": str(width), "ROWS": str(height)})
    return env


async def start_app_process(argv: list[str], width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=app_environment(width, height),
    )


class ExecAppService(AppService):
    """textual-serve's app process, started from an argv list instead of a shell string.

    ``spare`` is an app process started ahead of time (see ``ControlRoomServer``): the
    browser gets it at once instead of waiting for Python to import the app. Either way the
    first thing the process is sent is the browser's size: it starts the app only then.
    """

    def __init__(self, argv: list[str], spare: asyncio.subprocess.Process | None = None, **kwargs: Any) -> None:
        super().__init__(shlex.join(argv), **kwargs)
        self.argv = list(argv)
        self._spare = spare

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        spare, self._spare = self._spare, None
        if spare is not None and spare.returncode is None:
            self._process = spare
            assert spare.stdin is not None
            self._stdin = spare.stdin
            await self.set_terminal_size(width, height)
            return spare
        self._process = process = await start_app_process(self.argv, width, height)
        assert process.stdin is not None
        self._stdin = process.stdin
        await self.set_terminal_size(width, height)  # the app waits for it (serve/child.py)
        return process


class ControlRoomServer(Server):
    """textual-serve's server with ao's token, template and argv-started app processes."""

    def __init__(self, argv: list[str], *, host: str, port: int, token: str, title: str = "ao") -> None:
        super().__init__(shlex.join(argv), host=host, port=port, title=title, templates_path=TEMPLATES)
        self.argv = list(argv)
        self.token = token
        self.refused = 0
        self.browsers = 0
        self._spare: asyncio.Task[asyncio.subprocess.Process] | None = None

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        @web.middleware
        async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
            return await self._guard(request, handler)

        app.middlewares.append(guard)
        return app

    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if matches(request.cookies.get(COOKIE), self.token):
            response: web.StreamResponse = await handler(request)
            return response
        given = request.query.get("token")
        if matches(given, self.token):
            if request.method == "GET" and request.path != "/ws":
                return self._clean_redirect(request)
            response = await handler(request)
            return response
        self.refused += 1
        log.warning("refused %s %s from %s: %s token", request.method, request.path, request.remote,
                    "wrong" if given or request.cookies.get(COOKIE) else "no")
        return web.Response(status=403, text="ao-tui: this needs the token. Open the address `ao-tui --serve` "
                                             "printed (…/?token=…), or the one in its token file.\n")

    def _clean_redirect(self, request: web.Request) -> web.StreamResponse:
        rest = [(k, v) for k, v in request.query.items() if k != "token"]
        location = request.path + ("?" + urllib.parse.urlencode(rest) if rest else "")
        response = web.HTTPSeeOther(location=location)
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict", secure=secure, path="/")
        response.headers["Cache-Control"] = "no-store"
        return response

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "websocket_path": str(request.app.router["websocket"].url_for()),
            "config": {"static": {"url": str(request.app.router["static"].url_for(filename="/")).rstrip("/") + "/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        if self.browsers >= MAX_BROWSERS:
            raise web.HTTPServiceUnavailable(text=f"ao-tui: {MAX_BROWSERS} browsers are connected already\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: ExecAppService | None = None
        self.browsers += 1
        try:
            await websocket.prepare(request)
            service = ExecAppService(
                self.argv, await self._take_spare(), write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                close=websocket.close, download_manager=self.download_manager, debug=self.debug,
            )
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception:
            log.exception("browser session failed")
        finally:
            self.browsers -= 1
            if service is not None:
                await service.stop()
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """One app process is started ahead, for the first browser (textual-serve printed its logo here)."""
        self._prepare_spare()

    async def on_shutdown(self, app: web.Application) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        spare.cancel()
        try:
            process = await spare
        except (asyncio.CancelledError, Exception):
            return
        if process.returncode is None:
            process.terminate()
            await process.wait()

    def _prepare_spare(self) -> None:
        """Start the next browser's app process now: importing the app is most of a first screen."""
        self._spare = asyncio.ensure_future(start_app_process(self.argv))

    async def _take_spare(self) -> asyncio.subprocess.Process | None:
        spare, self._spare = self._spare, None
        self._prepare_spare()
        if spare is None:
            return None
        try:
            process = await spare
        except Exception:
            log.exception("starting an app process ahead failed")
            return None
        return process if process.returncode is None else None

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM."""
        web.run_app(self._make_app(), host=self.host, port=self.port, print=None,
                    access_log_class=PathOnlyAccessLogger, access_log=access_log)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")
