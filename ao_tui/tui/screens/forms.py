"""Forms: start a session (a backlog task or a prompt), send a message, request changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from ao_tui.models import Task
from ao_tui.tui.text import clean


@dataclass(frozen=True)
class NewSessionRequest:
    project: str
    task_id: str | None
    prompt: str | None


class TextPromptScreen(ModalScreen[str | None]):
    """A multi-line text box. ctrl+s sends; escape cancels. Dismisses with the text or None."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Send", id="form_submit", priority=True),
        Binding("escape", "cancel", "Cancel", id="form_cancel"),
    ]

    def __init__(self, title: str, subtitle: Text | str = "", submit_label: str = "Send",
                 placeholder: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._subtitle = subtitle if isinstance(subtitle, Text) else Text(subtitle, style="dim")
        self._submit_label = submit_label
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            if self._subtitle.plain:
                yield Static(self._subtitle, classes="dialog-body")
            yield TextArea(id="text", placeholder=self._placeholder, soft_wrap=True, show_line_numbers=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._submit_label} (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#text", TextArea).focus()

    def action_submit(self) -> None:
        text = self.query_one("#text", TextArea).text
        if not text.strip():
            self.notify("Type something first", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_submit() if event.button.id == "submit" else self.action_cancel()


class NewSessionScreen(ModalScreen[NewSessionRequest | None]):
    """Pick a backlog task (enter) or type a prompt (ctrl+s). Tasks load after the screen opens."""

    BINDINGS = [
        Binding("ctrl+s", "submit_prompt", "Start with prompt", id="new_submit", priority=True),
        Binding("escape", "cancel", "Cancel", id="new_cancel"),
    ]

    def __init__(self, projects: Sequence[str], project: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.projects = list(projects)
        self.project = project if project in self.projects else (self.projects[0] if self.projects else "")
        self.tasks: list[Task] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-wide"):
            yield Static(Text("Start a session", style="bold"), classes="dialog-title")
            if len(self.projects) > 1:
                yield Select([(p, p) for p in self.projects], value=self.project, allow_blank=False, id="project")
            yield Static(Text("Backlog (enter starts the highlighted task)", style="dim"), classes="dialog-label")
            yield OptionList(Option(Text("loading backlog…", style="dim"), disabled=True), id="tasks")
            yield Static(Text("…or describe the work (ctrl+s starts it)", style="dim"), classes="dialog-label")
            yield TextArea(id="prompt", soft_wrap=True, show_line_numbers=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start with prompt (ctrl+s)", id="start", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#tasks", OptionList).focus()
        self._load_tasks()

    def _load_tasks(self) -> None:
        app = self.app
        loader = getattr(app, "load_backlog", None)
        if loader is not None:
            loader(self.project, self)

    def set_tasks(self, tasks: Sequence[Task], error: str = "") -> None:
        """Offer what can start now first: open tasks whose dependencies are done, then open tasks
        still waiting for others, then tasks already in progress (another session has them)."""
        done = {t.id for t in tasks if t.status == "done"}
        known = {t.id for t in tasks}

        def rank(task: Task) -> int:
            if task.status == "in_progress":
                return 2
            return 0 if all(d in done or d not in known for d in task.depends_on) else 1

        waiting = {t.id: [d for d in t.depends_on if d in known and d not in done] for t in tasks}
        self.tasks = sorted((t for t in tasks if t.status != "done"), key=rank)  # stable: backlog order kept
        options = self.query_one("#tasks", OptionList)
        options.clear_options()
        if error:
            options.add_option(Option(Text(clean(error), style="dim"), disabled=True))
        elif not self.tasks:
            options.add_option(Option(Text("the backlog is empty", style="dim"), disabled=True))
        for task in self.tasks:
            label = Text(f"{clean(task.id)}  ", style="bold")
            label.append(clean(task.title))
            if task.status == "in_progress":
                label.append("  in progress", style="dim")
            elif waiting.get(task.id):
                label.append(f"  after {', '.join(clean(d) for d in waiting[task.id])}", style="dim")
            options.add_option(Option(label, id=f"task:{task.id}"))
        if self.tasks:
            options.highlighted = 0  # enter starts the first task without hunting for it

    def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.project:
            self.project = event.value
            self._load_tasks()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id.startswith("task:"):
            self.dismiss(NewSessionRequest(self.project, option_id[5:], None))

    def action_submit_prompt(self) -> None:
        prompt = self.query_one("#prompt", TextArea).text
        if not prompt.strip():
            self.notify("Type a prompt, or pick a task with enter", severity="warning")
            self.query_one("#prompt", TextArea).focus()
            return
        self.dismiss(NewSessionRequest(self.project, None, prompt))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_submit_prompt() if event.button.id == "start" else self.action_cancel()
