"""The notices in the bottom-right corner (``App.notify``), drawn by ao rather than Textual's toast rack.

Textual's rack mounts a toast and a holder for every notice and removes them when it expires: ~35
widgets a minute in a busy fleet, each kept alive for a while by Textual's render caches, and its
empty holders were left behind (a lone toast drifted down a row with every notice). This rack keeps a
few toast widgets and reuses them: a notice changes a toast's text and shows it; nothing is mounted or
removed while the app runs. It looks like Textual's toasts (same corner, border and colours per
severity, a title line), with public Textual API only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import events
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.notifications import Notification
from textual.widgets import Static

#: The most notices shown at once (the newest; older ones wait underneath until these go).
MOST_SHOWN = 8
SEVERITIES = ("information", "warning", "error")


class NoticeToast(Static):
    """One notice: its title (bold, in the severity's colour) over its message. Reused for the next."""

    DEFAULT_CSS = """
    NoticeToast {
        width: 60;
        max-width: 50%;
        height: auto;
        margin-top: 1;
        visibility: visible;
        padding: 1 1;
        background: $panel-lighten-1;
        link-background: initial;
        link-color: $foreground;
        link-style: underline;
        link-background-hover: $primary;
        link-color-hover: $foreground;
        link-style-hover: bold not underline;

        &:ansi {
            background: $ansi-background;
        }
    }
    NoticeToast > .notice--title {
        text-style: bold;
        color: $foreground;
    }
    NoticeToast.-information {
        border-left: outer $success;
    }
    NoticeToast.-information > .notice--title {
        color: $text-success;
    }
    NoticeToast.-warning {
        border-left: outer $warning;
    }
    NoticeToast.-warning > .notice--title {
        color: $text-warning;
    }
    NoticeToast.-error {
        border-left: outer $error;
    }
    NoticeToast.-error > .notice--title {
        color: $text-error;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"notice--title"}

    class Clicked(Message):
        """The user clicked a notice: it goes."""

        def __init__(self, notice: Notification) -> None:
            super().__init__()
            self.notice = notice

    def __init__(self) -> None:
        super().__init__()
        self.notice: Notification | None = None

    def show(self, notice: Notification) -> None:
        if notice is self.notice:
            return
        self.notice = notice
        for severity in SEVERITIES:
            self.set_class(severity == notice.severity, f"-{severity}")
        self.refresh(layout=True)

    def render(self) -> Content:
        notice = self.notice
        if notice is None:
            return Content("")
        message = Content.from_markup(notice.message) if notice.markup else Content(notice.message)
        if not notice.title:
            return message
        return Content.assemble((notice.title, self.get_visual_style("notice--title")), "\n", message)

    def on_click(self, event: events.Click) -> None:
        event.stop()
        if self.notice is not None:
            self.post_message(self.Clicked(self.notice))


class NoticeRack(Vertical):
    """The notices of one screen, newest at the bottom, in a layer of their own (``notices``)."""

    DEFAULT_CSS = """
    NoticeRack {
        display: none;
        layer: notices;
        width: 1fr;
        height: auto;
        dock: bottom;
        align: right bottom;
        visibility: hidden;
        overflow-y: scroll;
        margin-bottom: 1;
    }
    """

    def show(self, notices: Sequence[Notification]) -> None:
        """Show the newest ``MOST_SHOWN`` of ``notices`` (none: the rack hides)."""
        shown = list(notices)[-MOST_SHOWN:]
        toasts = list(self.query_children(NoticeToast))
        if len(toasts) < len(shown):  # the pool grows to the most ever shown at once, then is reused
            more = [NoticeToast() for _ in range(len(shown) - len(toasts))]
            self.mount_all(more)
            toasts += more
        for toast, notice in zip(toasts, shown, strict=False):
            toast.show(notice)
            toast.display = True
        for toast in toasts[len(shown):]:
            toast.notice = None
            toast.display = False
        self.display = bool(shown)

    def shown_text(self) -> list[str]:
        """What each toast on view says (its title line, then its message), oldest first."""
        out = []
        for toast in self.query_children(NoticeToast):
            if toast.display and toast.notice is not None:
                notice = toast.notice
                out.append(f"{notice.title}\n{notice.message}" if notice.title else notice.message)
        return out
