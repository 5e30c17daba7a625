"""Pick one of a few things: a project to filter by, a theme."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ao_tui.tui.text import clean


class PickerScreen(ModalScreen[str | None]):
    """A titled list; enter picks (dismisses with the option id), escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker_cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], current: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._choices = list(choices)
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            options = []
            for key, label in self._choices:
                text = Text(clean(label))
                if key == self._current:
                    text.append("  (current)", style="dim")
                options.append(Option(text, id=key))
            yield OptionList(*options, id="choices")

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        options.focus()
        for index, (key, _) in enumerate(self._choices):
            if key == self._current:
                options.highlighted = index

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        preview = getattr(self, "preview", None)
        if preview is not None and event.option.id:
            preview(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


ALL_PROJECTS = "*"
