"""Notifiers: what reaches the human's terminal, desktop and chat webhook."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ao_tui.registry import create
from ao_tui.slots.base import PluginContext
from ao_tui.slots.notifier import Notification
from ao_tui_plugins.notifier_terminal import TerminalNotifier


def notifier(name: str, ao_home: Path, **options):
    return create("notifier", name, PluginContext(ao_home=ao_home), **options)


def test_terminal_prints_one_clean_line(ao_home: Path):
    out = io.StringIO()
    t = TerminalNotifier(PluginContext(ao_home=ao_home), stream=out)
    t.notify(Notification(title="s-1 needs your input", body="Allow \x1b[31mrm\x1b[0m?\nyes/no \x1b]0;pwned\x07",
                          urgency="critical"))
    line = out.getvalue()
    assert line.count("\n") == 1 and "\x1b" not in line and "\a" not in line  # no bell: not a tty
    assert "! s-1 needs your input — Allow rm ? yes/no" in line


def test_terminal_never_raises_on_a_closed_stream(ao_home: Path):
    out = io.StringIO()
    out.close()
    TerminalNotifier(PluginContext(ao_home=ao_home), stream=out).notify(Notification(title="x"))


@pytest.fixture
def fake_notify_send(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real ``notify-send`` executable on PATH that records its arguments."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv.json"
    script = bindir / "notify-send"
    script.write_text(f"#!{os.sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(record)!r}, 'w'))\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return record


def test_desktop_passes_text_as_arguments(ao_home: Path, fake_notify_send: Path):
    notifier("desktop", ao_home).notify(
        Notification(title="--version", body="$(touch /tmp/x); `id`", urgency="critical"))
    argv = json.loads(fake_notify_send.read_text())
    assert argv == ["--app-name=ao-tui", "--urgency=critical", "--", "--version", "$(touch /tmp/x); `id`"]


def test_desktop_without_notify_send_is_a_quiet_no_op(ao_home: Path, monkeypatch, caplog):
    path = [d for d in os.environ["PATH"].split(":") if not (Path(d) / "notify-send").exists()]
    monkeypatch.setenv("PATH", ":".join(path))
    with caplog.at_level(logging.DEBUG, logger="ao.notifier.desktop"):
        notifier("desktop", ao_home).notify(Notification(title="hello"))
    assert "notify-send not installed" in caplog.text


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    delay = 0.0

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        type(self).received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    _Hook.received, _Hook.delay = [], 0.0
    httpd = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_webhook_posts_json(ao_home: Path, hook_server):
    url = f"http://127.0.0.1:{hook_server.server_port}/hook"
    notifier("webhook", ao_home, url=url).notify(
        Notification(title="s-1: CI failed", body="pytest -q", session_id="s-1", urgency="normal", event="ci_failed"))
    [(path, payload)] = _Hook.received
    assert path == "/hook"
    assert {k: payload[k] for k in ("title", "body", "session_id", "event")} == {
        "title": "s-1: CI failed", "body": "pytest -q", "session_id": "s-1", "event": "ci_failed"}


def test_webhook_slack_format_with_url_from_environment(ao_home: Path, hook_server, monkeypatch):
    monkeypatch.setenv("AO_TEST_SLACK_URL", f"http://127.0.0.1:{hook_server.server_port}/services/T/B/secret")
    notifier("webhook", ao_home, url_env="AO_TEST_SLACK_URL", format="slack").notify(
        Notification(title="s-2 needs you", body="CI failed 4 times"))
    assert _Hook.received == [("/services/T/B/secret", {"text": "*s-2 needs you*\nCI failed 4 times"})]


def test_webhook_failures_never_raise_and_never_leak_the_url(ao_home: Path, hook_server, caplog):
    _Hook.delay = 1.5
    slow = notifier("webhook", ao_home, url=f"http://127.0.0.1:{hook_server.server_port}/secret-path", timeout=0.3)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="ao.notifier.webhook"):
        slow.notify(Notification(title="x"))
        notifier("webhook", ao_home, url="http://127.0.0.1:9/closed-port-secret").notify(Notification(title="x"))
        notifier("webhook", ao_home, url="file:///etc/passwd").notify(Notification(title="x"))
        notifier("webhook", ao_home).notify(Notification(title="x"))
    assert time.monotonic() - started < 1.4
    assert "secret" not in caplog.text and "failed" in caplog.text and "no usable" in caplog.text
