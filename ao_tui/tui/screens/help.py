"""``?``: every binding, generated from the binding lists (so nothing goes undocumented)."""

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


def bindings_table(keymap: Mapping[str, str], display: object) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", expand=True, padding=(0, 1))
    table.add_column("Key", no_wrap=True)
    table.add_column("Action")
    table.add_column("Id", style="dim", no_wrap=True)
    rows: list[tuple[str, str, str]] = []
    for binding in [*LIST_BINDINGS, *APP_BINDINGS]:
        if binding.id and binding.id.startswith("row_") and binding.id != "row_1":
            continue
        description = binding.description
        key = _keys(binding, keymap, display)
        if binding.id == "row_1":
            description, key = "Jump to row 1-9 on screen", "1…9"
        rows.append((key, description, binding.id or ""))
    for key, description, binding_id in rows:
        table.add_row(Text(key), Text(description), Text(binding_id))
    return table


def pane_tables(display: object) -> list[tuple[str, Table]]:
    """Keys of the terminal and chat panes (their own widgets; not remappable here)."""
    panes: list[tuple[str, str, str]] = [
        ("In the terminal pane", "ao_tui.tui.terminal_view", "TerminalView"),
        ("In the chat pane", "ao_tui.tui.chat_pane", "ChatPane"),
    ]
    out = []
    for title, module_name, class_name in panes:
        try:
            import importlib

            widget = getattr(importlib.import_module(module_name), class_name)
        except Exception:
            continue
        table = Table(box=None, show_header=False, expand=True, padding=(0, 1))
        table.add_column("Key", no_wrap=True, width=11)
        table.add_column("Action")
        for binding in getattr(widget, "BINDINGS", []):
            if isinstance(binding, Binding):
                table.add_row(Text(_keys(binding, {}, display)), Text(binding.description))
        out.append((title, table))
    return out


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help_close")]

    def compose(self) -> ComposeResult:
        app = self.app
        keymap = {k: v for k, v in getattr(app, "_keymap", {}).items()}
        with Vertical(classes="dialog dialog-wide", id="help"):
            yield Static(Text("Keys  (remap any id with tui.keys in ao.config.yaml)", style="bold"),
                         classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(bindings_table(keymap, app.get_key_display))
                for title, table in pane_tables(app.get_key_display):
                    yield Static(Text(title, style="bold"), classes="dialog-label")
                    yield Static(table)
            yield Static(Text("In a dialog: y confirms, n or esc cancels; f insists on a refused merge. "
                              "Typing into the agent: ctrl+] leaves.", style="dim"), classes="dialog-body")

    def action_close(self) -> None:
        self.dismiss(None)
