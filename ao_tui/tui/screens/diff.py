"""``d``: the session's changed files and the diff of the highlighted one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ao_tui.tui.text import clean, clean_block


def diff_text(diff: str) -> Text:
    """A unified diff coloured by line kind; its content stays text."""
    out = Text()
    for line in clean_block(diff[:400_000]).split("\n"):
        style = ""
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith(("diff ", "index ", "+++", "---")):
            style = "bold"
        out.append(line + "\n", style=style)
    return out


class DiffScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,d", "close", "Close", id="diff_close")]

    def __init__(self, session_id: str, files: Sequence[Any], span: Any = None) -> None:
        super().__init__(classes="dialog-screen")
        self.session_id = session_id
        self.files = list(files)
        #: Where the work was read (``session_changes.WorkSpan``): a retired one's is in the repository.
        self.span = span

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-full"):
            title = Text(f"Changes in {clean(self.session_id)}", style="bold")
            if self.span is not None and self.span.retired:
                title.append(f"  from its commits {self.span.base[:8]}..{self.span.head[:8]} (the workspace is gone)",
                             style="dim")
            yield Static(title, classes="dialog-title")
            with Horizontal():
                options = []
                for f in self.files:
                    label = Text("new " if f.untracked else f"+{f.added} -{f.deleted} ",
                                 style="green" if f.untracked else "dim")
                    label.append(clean(f.path))
                    options.append(Option(label, id=f.path))
                if not options:
                    options.append(Option(Text("no changes", style="dim"), disabled=True))
                yield OptionList(*options, id="diff-files")
                with VerticalScroll(id="diff-scroll"):
                    yield Static(Text("", style="dim"), id="diff-body")

    def on_mount(self) -> None:
        self.query_one("#diff-files", OptionList).focus()
        if self.files:
            self._load(self.files[0].path)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._load(event.option.id)

    def _load(self, path: str) -> None:
        loader = getattr(self.app, "load_diff", None)
        if loader is not None:
            loader(self.session_id, path, self)

    def show_diff(self, diff: str) -> None:
        self.query_one("#diff-body", Static).update(diff_text(diff) if diff else Text("(no textual diff)", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
