"""The bottom line: the most useful keys for the focused pane that fit, never a key cut in half.

Textual's ``Footer`` lays every shown binding out in a row and lets the last
ones fall off the edge mid-word. This footer picks, in a priority order for
the focused pane (and the cursor's session), the keys that fit whole, and
always keeps ``? Help`` (which lists everything). Keys and descriptions come
from the screen's active bindings, so ``tui.keys`` remapping shows here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widget import Widget

from ao_tui.attention import Zone, zone_of
from ao_tui.models import Session, SessionStatus
from ao_tui.session_changes import work_visible
from ao_tui.tui.text import clean

HELP = "help"
SEPARATOR = "  "

#: Actions in the order they earn a place, per focused pane. Each is shown when it is bound and fits.
PRIORITIES: dict[str, tuple[str, ...]] = {
    "list": (
        "select", HELP, "dismiss_notices", "command_palette", "new_session", "send_message", "input_mode", "attach", "approve",
        "merge", "request_changes", "restore", "diff", "kill", "next_tab", "toggle_chat", "filter_project",
        "pick_theme", "quit",
    ),
    "terminal": (
        HELP, "dismiss_notices", "input_mode", "attach", "send_message", "page_up", "copy_screen", "back", "next_tab",
        "command_palette", "diff", "approve", "merge", "kill", "restore", "quit",
    ),
    "detail": (
        HELP, "dismiss_notices", "diff", "send_message", "approve", "merge", "request_changes", "attach", "back", "next_tab",
        "command_palette", "kill", "restore", "quit",
    ),
    # Typing into the chat or the agent, printable keys are text: only control keys are listed.
    "chat": ("stop", "triage", "toggle_fullscreen", "back"),
    "typing": ("leave_input",),
}

#: Where ``? Help`` cannot work (the key is typed), what the line ends with instead.
NOTES: dict[str, str] = {
    "chat": "? Help from the list",
    "typing": "every other key goes to {session}",
}

#: Keys that move ahead of the pane's order for a session in that zone (what the zone asks of you).
ZONE_FIRST: dict[Zone, tuple[str, ...]] = {
    Zone.NEEDS_YOU: ("input_mode", "send_message", "attach", "restore"),
    Zone.READY_TO_MERGE: ("merge", "approve"),
    Zone.IN_REVIEW: ("approve", "request_changes", "diff"),
    Zone.FAILING: ("send_message", "diff"),
    Zone.DONE: ("restore", "diff"),
}

#: Shorter words than the bindings' own descriptions where the footer needs them.
LABELS: dict[str, str] = {"select": "Open", "page_up": "Scroll back", "leave_input": "Stop typing",
                          "dismiss_notices": "Clear"}

_PR_ACTIONS = {"approve", "merge", "request_changes"}
_LIVE_ACTIONS = {"send_message", "input_mode", "attach", "kill"}
_ENDED = {SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED}


def useful(action: str, session: Session | None) -> bool:
    """Whether ``action`` means something for the cursor's session (the key still works either way)."""
    if action in _PR_ACTIONS:
        return session is not None and session.pr is not None and session.status not in _ENDED
    if action in _LIVE_ACTIONS:
        return session is not None and session.status not in _ENDED and session.status is not SessionStatus.EXITED
    if action == "restore":
        return session is not None and session.status in (SessionStatus.KILLED, SessionStatus.EXITED, SessionStatus.ERRORED,
                                                          SessionStatus.STUCK)
    if action == "diff":
        return session is not None and work_visible(session)
    if action == "select":
        return session is not None
    return True


def ordered(actions: Sequence[str], session: Session | None) -> list[str]:
    """``actions`` with the ones the session's zone asks for moved up, just after Open and Help."""
    if session is None:
        return list(actions)
    first = [a for a in ZONE_FIRST.get(zone_of(session), ()) if a in actions]
    lead = [a for a in actions[:3] if a in ("select", HELP, "dismiss_notices")]
    return lead + first + [a for a in actions if a not in lead and a not in first]


def fit_keys(items: Sequence[tuple[str, str, str]], width: int, required: str = HELP) -> list[tuple[str, str, str]]:
    """The ``(action, key, label)`` items that fit in ``width`` cells, in order, ``required`` kept first.

    Each item takes ``key label`` plus a separator; one that does not fit whole is left out and the
    next (shorter) ones are still tried.
    """
    def cost(item: tuple[str, str, str]) -> int:
        return cell_len(f"{item[1]} {item[2]}") + len(SEPARATOR)

    budget = width - 1  # a leading space
    chosen: set[int] = set()
    for i, item in enumerate(items):
        if item[0] == required and cost(item) - len(SEPARATOR) <= budget:
            chosen.add(i)
            budget -= cost(item)
    for i, item in enumerate(items):
        if i not in chosen and cost(item) - len(SEPARATOR) <= budget:
            chosen.add(i)
            budget -= cost(item)
    return [item for i, item in enumerate(items) if i in chosen]


class KeyFooter(Widget):
    """One line of ``key label`` pairs; a click on one presses its key."""

    COMPONENT_CLASSES = {"key-footer--key", "key-footer--label"}

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self._spans: list[tuple[int, int, str]] = []  # (start, end, key) of each item drawn
        self._keys: dict[str, str] = {}  # action -> the key that runs it

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, _screen: Any) -> None:
        self.refresh()

    def pane(self) -> str:
        """Which pane has focus: list, terminal, detail, chat, or typing (into the agent)."""
        app: Any = self.app
        terminal = getattr(app, "terminal", None)
        if terminal is not None and getattr(terminal, "input_mode", False):
            return "typing"
        node: DOMNode | None = self.screen.focused
        while node is not None:
            if node.id in ("terminal", "detail", "chat"):
                return node.id
            if node.id == "sessions":
                return "list"
            node = node.parent
        return "list"

    def items(self) -> list[tuple[str, str, str]]:
        """``(action, key as shown, label)`` for the focused pane, most useful first."""
        app: Any = self.app
        session = app.focused_session() if hasattr(app, "focused_session") else None
        found: dict[str, tuple[str, Binding]] = {}  # action -> (key, binding); a shown binding wins
        for key, active in self.screen.active_bindings.items():
            if not active.enabled:
                continue
            before = found.get(active.binding.action)
            if before is None or (active.binding.show and not before[1].show):
                found[active.binding.action] = (key, active.binding)
        out = []
        self._keys = {}
        toasts = bool(getattr(app, "notices", ()))
        for action in ordered(PRIORITIES[self.pane()], session):
            if action == "dismiss_notices" and not toasts:
                continue
            if action in found and useful(action, session):
                key, binding = found[action]
                out.append((action, app.get_key_display(binding), LABELS.get(action, binding.description)))
                self._keys[action] = key
        return out

    def render(self) -> Text:
        width = self.size.width or self.app.size.width
        key_style = self.get_component_rich_style("key-footer--key")
        label_style = self.get_component_rich_style("key-footer--label")
        text = Text(" ", no_wrap=True, end="")
        self._spans = []
        pane = self.pane()
        note = NOTES.get(pane, "")
        if note:
            app: Any = self.app
            session = app.focused_session() if hasattr(app, "focused_session") else None
            note = note.format(session=clean(session.id) if session else "the agent")
        items = self.items()
        shown = fit_keys(items, width - (cell_len(note) + len(SEPARATOR) if note else 0))
        for n, (action, key, label) in enumerate(shown):
            if n:
                text.append(SEPARATOR)
            start = text.cell_len
            text.append(key, key_style)
            text.append(f" {label}", label_style)
            self._spans.append((start, text.cell_len, self._keys[action]))
        if note and text.cell_len + len(SEPARATOR) + cell_len(note) <= width:
            text.append(SEPARATOR + note, label_style)
        return text

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return

    def shown_text(self) -> str:
        """The line as drawn (for tests)."""
        return self.render().plain


__all__ = ["KeyFooter", "PRIORITIES", "fit_keys", "useful"]
