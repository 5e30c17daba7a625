"""Notifier ``desktop``: ``notify-send`` when it is installed, otherwise nothing.

The title and body are passed as separate arguments after ``--`` (never through
a shell), so no text can become an option or a command.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

from ao_tui.slots.base import PluginOptions
from ao_tui.slots.notifier import Notification, Notifier
from ao_tui_plugins.notifier_terminal import one_line

log = logging.getLogger("ao.notifier.desktop")

URGENCIES = ("low", "normal", "critical")


class DesktopNotifier(Notifier):
    Options = PluginOptions  # no options

    timeout = 5.0

    def argv(self, notification: Notification, executable: str) -> list[str]:
        urgency = notification.urgency if notification.urgency in URGENCIES else "normal"
        return [executable, "--app-name=ao-tui", f"--urgency={urgency}", "--",
                one_line(notification.title, 120), one_line(notification.body, 500)]

    def notify(self, notification: Notification) -> None:
        executable = shutil.which("notify-send")
        if executable is None:
            log.debug("notify-send not installed; desktop notification dropped: %s", notification.title)
            return
        try:
            result = subprocess.run(self.argv(notification, executable), capture_output=True, text=True,
                                    timeout=self.timeout, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                log.warning("notify-send failed (%s): %s", result.returncode, result.stderr.strip()[:200])
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("notify-send failed: %s", exc)
