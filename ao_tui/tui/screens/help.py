"""``?``: every key, generated from the real binding lists (so nothing goes undocumented).

App and list keys come grouped by what they do; the terminal, detail and chat
panes' keys are read from their widgets' bindings (inherited ones included).
The table drops its "Id" column on narrow screens and scrolls with the
arrow keys, j/k and page keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ao_tui.tui.bindings import APP_BINDINGS, LIST_BINDINGS

#: Binding ids by what they are for; any id not named here lands in "Other keys".
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Move around", ("list_up", "list_down", "row_1", "list_first", "list_last", "list_page_up",
                     "list_page_down", "list_open", "next_tab", "prev_tab", "back", "palette", "palette_alt")),
    ("Act on the session under the cursor", ("input_mode", "leave_input", "attach", "send_message", "approve",
                                             "merge", "request_changes", "kill", "restore", "diff", "undo_answer")),
    ("Everything else", ("new_session", "toggle_chat", "filter_project", "pick_theme", "stats", "dismiss_notices",
                         "help", "quit")),
)

#: Scrolling sideways is no use in these panes: not listed.
SKIPPED_ACTIONS = frozenset({"scroll_left", "scroll_right", "page_left", "page_right"})

#: The note under the terminal pane's keys.
TYPING_NOTE = ("While typing (i), every key goes to the agent except ctrl+] and shift+↑ shift+↓ shift+pgup shift+pgdn "
               "(they scroll).")


def _keys(binding: Binding, keymap: Mapping[str, str], display: object) -> str:
    keys = keymap.get(binding.id or "", binding.key)
    shown = []
    for key in keys.split(","):
        key = key.strip()
        try:
            shown.append(display(Binding(key, "", "")))  # type: ignore[operator]
        except Exception:
            shown.append(key)
    return " ".join(shown)


def _describe(binding: Binding) -> str:
    return binding.tooltip or binding.description


def _table(with_ids: bool) -> Table:
    table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
    table.add_column("Key", no_wrap=True, width=12)
    table.add_column("Action", ratio=1)
    if with_ids:
        table.add_column("Id", style="dim", no_wrap=True, width=16)
    return table


def binding_sections(keymap: Mapping[str, str], display: object, *, with_ids: bool = True) -> list[tuple[str, Table]]:
    """The app's and the session list's keys, one table a section."""
    by_id = {b.id: b for b in (*LIST_BINDINGS, *APP_BINDINGS) if b.id}
    placed: set[str] = {f"row_{n}" for n in range(2, 10)}  # 1…9 is one line
    out: list[tuple[str, Table]] = []
    sections = [*SECTIONS, ("Other keys", tuple(i for i in by_id if i not in {x for _, ids in SECTIONS for x in ids}))]
    for title, ids in sections:
        table = _table(with_ids)
        for binding_id in ids:
            binding = by_id.get(binding_id)
            if binding is None or binding_id in placed:
                continue
            placed.add(binding_id)
            key, description = _keys(binding, keymap, display), _describe(binding)
            if binding_id == "row_1":
                key, description = "1…9", "Move the cursor to the numbered row (acts on nothing)"
            row = [Text(key), Text(description)] + ([Text(binding_id)] if with_ids else [])
            table.add_row(*row)
        if table.row_count:
            out.append((title, table))
    return out


def class_bindings(widget_class: type) -> dict[str, list[Binding]]:
    """The bindings instances of ``widget_class`` get, key by key: each class's ``BINDINGS`` from the
    base down, a subclass's binding of a key replacing its base's (as Textual merges them). Read from
    the public ``BINDINGS`` and ``BindingsMap``; none of the widgets shown turns inheriting off."""
    from textual.binding import BindingsMap

    keys: dict[str, list[Binding]] = {}
    for base in reversed(widget_class.__mro__):
        declared = vars(base).get("BINDINGS")
        if declared:
            keys.update(BindingsMap(declared).key_to_bindings)
    return keys


def widget_keys(widget_class: type, display: object) -> Table:
    """Every key ``widget_class`` answers to (its own and inherited bindings), one line an action."""
    by_action: dict[str, tuple[list[str], str]] = {}
    for bindings in class_bindings(widget_class).values():
        for b in bindings:
            if b.action in SKIPPED_ACTIONS:
                continue
            keys, _ = by_action.get(b.action, ([], ""))
            key = _keys(b, {}, display)
            if key not in keys:
                keys.append(key)
            by_action[b.action] = (keys, _describe(b))  # the subclass's words win
    table = _table(False)
    for keys, description in by_action.values():
        table.add_row(Text(" ".join(keys)), Text(description))
    return table


#: The key column never grows past this (a remapped key list longer than it wraps).
MAX_KEY_WIDTH = 24


def align_key_columns(tables: list[Table]) -> int:
    """Give every table's key column the width of the longest key shown, so none is cut."""
    from rich.cells import cell_len

    widest = 8
    for table in tables:
        for cell in table.columns[0].cells:
            plain = cell.plain if isinstance(cell, Text) else str(cell)
            widest = max(widest, cell_len(plain))
    widest = min(widest, MAX_KEY_WIDTH)
    for table in tables:
        table.columns[0].width = widest
        table.columns[0].no_wrap = widest < MAX_KEY_WIDTH
    return widest


def pane_tables(display: object) -> list[tuple[str, Table, str]]:
    """Keys of the terminal, detail and chat panes (their own widgets; not remappable here). Imported when
    help opens: the terminal's emulator (pyte) stays off the first frame."""
    from ao_tui.tui.chat_pane import ChatPane
    from ao_tui.tui.terminal_view import TerminalView
    from ao_tui.tui.widgets.detail import DetailPane

    panes: list[tuple[str, type, str]] = [("In the terminal pane", TerminalView, TYPING_NOTE),
                                         ("In the detail pane", DetailPane, ""), ("In the chat pane", ChatPane, "")]
    return [(title, widget_keys(widget, display), note) for title, widget, note in panes]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help_close"),
        Binding("j", "scroll(1)", "Down", show=False),
        Binding("k", "scroll(-1)", "Up", show=False),
    ]

    def compose(self) -> ComposeResult:
        app = self.app
        keymap = dict(getattr(app, "key_remaps", {}))  # AoApp's tui.keys (another app: none)
        with_ids = app.size.width >= 100
        sections = binding_sections(keymap, app.get_key_display, with_ids=with_ids)
        panes = pane_tables(app.get_key_display)
        align_key_columns([table for _, table in sections] + [table for _, table, _ in panes])
        title = Text("Keys", style="bold")
        title.append("   ↑↓ j k pgup pgdn scroll · esc closes · remap an id with tui.keys in ao.config.yaml",
                     style="dim")
        with Vertical(classes="dialog dialog-wide", id="help"):
            yield Static(title, classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                for heading, table in sections:
                    yield Static(Text(heading, style="bold"), classes="dialog-label")
                    yield Static(table)
                for heading, table, note in panes:
                    yield Static(Text(heading, style="bold"), classes="dialog-label")
                    yield Static(table)
                    if note:
                        yield Static(Text(note, style="dim"))
                yield Static(Text("In a dialog", style="bold"), classes="dialog-label")
                yield Static(Text("y confirms, n or esc cancels; f insists on a refused merge.", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_scroll(self, step: int) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        # immediate: a burst of j moves as far as it has keys (a deferred scroll starts each
        # press from where the last one had not yet arrived, and a burst of ten moved one line).
        scroll.scroll_relative(y=step, animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)
