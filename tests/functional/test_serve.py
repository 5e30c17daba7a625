"""``ao-tui --serve`` over HTTP and websockets, without a browser: the token guards everything.

The browser story (Chromium, screenshots, approving and merging) is test_serve_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pyte
import pytest

from tests.support.cdp import free_port
from tests.support.waiting import wait_until

AO_TUI = [sys.executable, "-m", "ao_tui.tui"]


@dataclass
class Served:
    url: str
    token: str
    proc: subprocess.Popen[str]
    stdout: list[str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_serve(config: Path | None, tmp_path: Path, *extra: str) -> Served:
    port = free_port()
    args = [*AO_TUI, "--serve", "--port", str(port), *extra]
    if config is not None:
        args += ["--config", str(config)]
    err = tmp_path / f"serve-{port}.err"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err.open("w"), text=True, env=dict(os.environ))
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    if not lines[0]:
        proc.wait(10)
        raise AssertionError(f"ao-tui --serve did not start: {err.read_text()}")
    token = (Path(os.environ["AO_HOME"]) / "serve.token").read_text().strip()
    url = f"http://127.0.0.1:{port}/"
    wait_until(lambda: _status(url) == 403, timeout=15, message="the server never answered")
    return Served(url, token, proc, lines, err)


def stop_serve(served: Served) -> None:
    served.proc.terminate()
    try:
        served.proc.wait(20)
    except subprocess.TimeoutExpired:
        served.proc.kill()
        served.proc.wait(5)


def _status(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"ao_serve={cookie}"} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.fixture
def project_config(git_repo: Path) -> Path:
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"app": {"repo": str(git_repo), "notifiers": []}}}))
    return config


@pytest.fixture
def served(ao_home: Path, project_config: Path, tmp_path: Path) -> Iterator[Served]:
    s = start_serve(project_config, tmp_path)
    yield s
    stop_serve(s)


def test_the_token_is_shown_once_and_kept_private(ao_home: Path, project_config: Path, tmp_path: Path) -> None:
    first = start_serve(project_config, tmp_path)
    try:
        first.stdout.append(first.proc.stdout.readline())  # type: ignore[union-attr]
    finally:
        stop_serve(first)
    assert f"?token={first.token}" in first.stdout[1]
    assert oct((ao_home / "serve.token").stat().st_mode & 0o777) == "0o600"
    second = start_serve(project_config, tmp_path)
    try:
        second.stdout.append(second.proc.stdout.readline())  # type: ignore[union-attr]
    finally:
        stop_serve(second)
    assert second.token == first.token
    assert first.token not in "".join(second.stdout)
    assert "serve.token" in second.stdout[1]


def test_first_visit_sets_a_cookie_and_drops_the_token_from_the_address(served: Served) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(f"{served.url}?token={served.token}&fontsize=12", timeout=5)
    assert answer.value.code == 303
    assert answer.value.headers["Location"] == "/?fontsize=12"
    cookie = answer.value.headers["Set-Cookie"]
    assert f"ao_serve={served.token}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert _status(served.url, cookie=served.token) == 200
    assert _status(f"{served.url}static/js/textual.js", cookie=served.token) == 200


def test_a_missing_or_wrong_token_is_refused_everywhere(served: Served) -> None:
    for path in ("", "static/js/textual.js", "static/", "ws", "download/x"):
        assert _status(served.url + path) == 403, path
        assert _status(served.url + path + "?token=wrong") == 403, path
        assert _status(served.url + path, cookie="wrong") == 403, path
    assert _status(served.url + "?token=" + served.token[:-1]) == 403

    async def websocket(**kwargs: object) -> int:
        async with aiohttp.ClientSession(**kwargs) as http:  # type: ignore[arg-type]
            try:
                async with http.ws_connect(served.url.replace("http", "ws") + "ws"):
                    return 101
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status

    assert asyncio.run(websocket()) == 403
    assert asyncio.run(websocket(cookies={"ao_serve": "wrong"})) == 403
    assert asyncio.run(websocket(cookies={"ao_serve": served.token})) == 101
    stop_serve(served)
    log = served.stderr()
    assert "refused GET / from 127.0.0.1: no token" in log
    assert "refused GET /ws from 127.0.0.1: wrong token" in log
    assert "GET /ws 101" in log  # requests are logged, by path only
    assert served.token not in log


def test_the_page_loads_nothing_from_elsewhere(served: Served) -> None:
    request = urllib.request.Request(served.url, headers={"Cookie": f"ao_serve={served.token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        html = response.read().decode()
    assert not re.findall(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", html)
    assert "/static/js/textual.js" in html and "/static/fonts/RobotoMono" in html


def test_each_browser_gets_its_own_app_following_the_one_engine(served: Served) -> None:
    async def screen(width: int, height: int, until: str) -> str:
        view = pyte.Screen(width, height)
        stream = pyte.ByteStream(view)
        async with aiohttp.ClientSession(cookies={"ao_serve": served.token}) as http:
            url = served.url.replace("http", "ws") + f"ws?width={width}&height={height}"
            async with http.ws_connect(url) as ws:
                await ws.send_str(json.dumps(["resize", {"width": width, "height": height}]))
                deadline = asyncio.get_running_loop().time() + 30
                while not all(w in "\n".join(view.display) for w in ("following", until)):
                    remaining = deadline - asyncio.get_running_loop().time()
                    assert remaining > 0, "\n".join(view.display)
                    try:
                        message = await ws.receive(timeout=remaining)
                    except TimeoutError:
                        raise AssertionError(f"{width}x{height} shows:\n" + "\n".join(view.display)) from None
                    if message.type == aiohttp.WSMsgType.BINARY:
                        stream.feed(message.data)
        return "\n".join(view.display)

    async def two() -> list[str]:
        return await asyncio.gather(screen(100, 30, "? Help"), screen(45, 40, "Sessions"))

    wide, narrow = asyncio.run(two())
    # The engine runs in the serving process; each browser's app follows it.
    assert "following" in wide and "following" in narrow
    assert "Sessions" in narrow  # the narrow layout: panes as tabs


def test_an_address_other_machines_reach_needs_public(ao_home: Path, project_config: Path) -> None:
    result = subprocess.run([*AO_TUI, "--serve", "--host", "0.0.0.0", "--config", str(project_config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ao-tui: --host 0.0.0.0 opens the control room to other machines: add --public "
        "(the token is needed all the same; put TLS in front, see the README)"]
    assert not (ao_home / "serve.token").exists()


def test_a_taken_port_or_a_bad_one_is_one_line(ao_home: Path, project_config: Path, served: Served) -> None:
    taken = served.url.rsplit(":", 1)[1].strip("/")
    for port, says in ((taken, f"ao-tui: cannot listen on 127.0.0.1:{taken}: "), ("0", "ao-tui: --port 0: a port is 1-65535")):
        result = subprocess.run([*AO_TUI, "--serve", "--port", port, "--config", str(project_config)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(says), line
