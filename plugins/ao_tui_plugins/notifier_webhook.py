"""Notifier ``webhook``: POST a JSON payload to a URL (Slack-compatible if asked).

Options: ``url`` or ``url_env`` (the name of an environment variable holding
the URL — a Slack webhook URL is a secret and belongs in the environment),
``format`` (``json``, default: title, body, session_id, urgency, event, at;
or ``slack``: ``{"text": ...}``), ``timeout`` (seconds or a duration,
default 5). Uses the standard library only, never raises, and never logs the
URL's path or query (where webhook secrets live).
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from ao_tui.models import utcnow
from ao_tui.slots.base import PluginContext, PluginOptions, Seconds
from ao_tui.slots.notifier import Notification, Notifier

log = logging.getLogger("ao.notifier.webhook")


class WebhookNotifier(Notifier):
    class Options(PluginOptions):
        url: str = Field(default="", description="Where to POST (prefer url_env: webhook URLs are secrets).")
        url_env: str | None = Field(default=None, description="The name of an environment variable holding the URL.")
        format: Literal["json", "slack"] = "json"
        timeout: Seconds = 5.0

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.format = self.options.format
        self.timeout = self.options.timeout

    @property
    def url(self) -> str:
        env = self.options.url_env
        return os.environ.get(env, "") if env else self.options.url

    def payload(self, notification: Notification) -> dict[str, Any]:
        if self.format == "slack":
            text = f"*{notification.title}*"
            if notification.body.strip():
                text += f"\n{notification.body.strip()}"
            return {"text": text}
        return {
            "title": notification.title,
            "body": notification.body,
            "session_id": notification.session_id,
            "urgency": notification.urgency,
            "event": notification.event,
            "at": utcnow().isoformat(),
        }

    def notify(self, notification: Notification) -> None:
        url = self.url
        parts = urlsplit(url)
        where = parts.netloc or "(no host)"
        if parts.scheme not in ("http", "https") or not parts.netloc:
            log.warning("webhook notifier: no usable http(s) URL configured; notification dropped")
            return
        request = urllib.request.Request(
            url, data=json.dumps(self.payload(notification)).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "ao-tui"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                response.read(1024)
        except urllib.error.HTTPError as exc:
            log.warning("webhook to %s answered %s", where, exc.code)
        except Exception as exc:
            log.warning("webhook to %s failed: %s", where, type(exc).__name__)
