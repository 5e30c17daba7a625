"""Debian's Chromium, headless, driven through its DevTools protocol (CDP) over a websocket.

``Chromium`` starts ``/usr/bin/chromium`` with a throwaway profile and
``--remote-debugging-port=0`` (the port it picks is read from the profile's
``DevToolsActivePort``); ``Page`` speaks CDP to its first tab with aiohttp's
websocket client (aiohttp comes with textual-serve). Nothing is downloaded.

What the page shows is read the way a terminal would: every websocket frame the
page receives from ``ao-tui --serve`` (Network.webSocketFrameReceived) is fed to
a pyte screen of the size the page asked for (its ``resize`` message), so tests
assert on the text a user sees, and screenshots (Page.captureScreenshot) show it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import pyte

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--remote-allow-origins=*"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


class Chromium:
    """A headless Chromium process (context manager); ``endpoint`` is its DevTools http address."""

    def __init__(self) -> None:
        binary = chromium_path()
        if binary is None:
            raise RuntimeError("chromium is not installed (scripts/setup installs it)")
        self.profile = Path(tempfile.mkdtemp(prefix="ao-chromium-"))
        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        self.endpoint = f"http://127.0.0.1:{port_file.read_text().split()[0]}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # Chromium's helper processes may still be writing into the profile for a moment.
        for _ in range(20):
            shutil.rmtree(self.profile, ignore_errors=True)
            if not self.profile.exists():
                break
            time.sleep(0.1)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Page:
    """One tab: CDP commands (``call``), its terminal's text (``text``), keys, screenshots."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws
        self._ids = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.screen = pyte.Screen(80, 24)
        self._stream = pyte.ByteStream(self.screen)
        self.frames: list[float] = []  # monotonic arrival of each screen frame
        self.http_status: dict[str, int] = {}
        self.requests: list[str] = []  # every URL the page asked for
        self.closed_sockets = 0
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, browser: Chromium) -> Page:
        http = aiohttp.ClientSession()
        async with http.get(f"{browser.endpoint}/json/list") as r:
            targets = await r.json()
        target = next(t for t in targets if t.get("type") == "page")
        ws = await http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = cls(http, ws)
        await page.call("Network.enable")
        await page.call("Page.enable")
        return page

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.http.close()

    async def call(self, method: str, **params: Any) -> Any:
        self._ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._ids] = future
        await self.ws.send_str(json.dumps({"id": self._ids, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._waiting.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(RuntimeError(f"CDP: {data['error']}"))
                    else:
                        future.set_result(data.get("result"))
                continue
            self._event(data.get("method", ""), data.get("params", {}))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Network.webSocketFrameReceived":
            response = params["response"]
            if response.get("opcode") == 2:  # binary: the app's screen output
                self._stream.feed(base64.b64decode(response["payloadData"]))
                self.frames.append(time.monotonic())
        elif method == "Network.webSocketFrameSent":
            try:
                kind, body = json.loads(params["response"]["payloadData"])
            except (ValueError, TypeError):
                return
            if kind == "resize":
                self.screen.resize(body["height"], body["width"])
        elif method == "Network.webSocketClosed":
            self.closed_sockets += 1
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Network.webSocketCreated":
            self.requests.append(params["url"])
        elif method == "Network.responseReceived":
            self.http_status[params["response"]["url"]] = params["response"]["status"]

    # -- what a user does and sees ------------------------------------------------------------

    async def set_size(self, width: int, height: int, *, mobile: bool = False) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=mobile)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def text(self) -> str:
        return "\n".join(self.screen.display)

    async def wait_for_text(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never appeared in the browser; it shows:\n{self.text()}")
            await asyncio.sleep(0.05)
        return self.text()

    async def focus_terminal(self) -> None:
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")

    async def type(self, text: str) -> None:
        await self.call("Input.insertText", text=text)

    async def press(self, key: str) -> None:
        """A named key: Enter, Escape, Tab, ArrowDown..."""
        codes = {"Enter": 13, "Escape": 27, "Tab": 9, "ArrowDown": 40, "ArrowUp": 38, "Backspace": 8}
        common = {"key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
        text = {"Enter": "\r"}.get(key)
        await self.call("Input.dispatchKeyEvent", type="keyDown", **common, **({"text": text} if text else {}))
        await self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path) -> Path:
        result = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
        return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_env(ao_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["AO_HOME"] = str(ao_home)
    return env
