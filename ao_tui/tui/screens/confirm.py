"""Confirmations: a plain yes/no, and the merge/approve check that refuses red or unreviewed PRs."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ao_tui.models import CheckState, ReviewState, Session
from ao_tui.tui.glyphs import CI_GLYPHS, REVIEW_GLYPHS
from ao_tui.tui.text import clean
from ao_tui.tui.wording import CI_WORDS, REVIEW_WORDS


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing something that cannot be undone. Dismisses with True or False."""

    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm_yes"),
        Binding("n,escape", "cancel", "No", id="confirm_no"),
    ]

    def __init__(self, title: str, body: Text | str, confirm_label: str = "Yes", *, danger: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._body = body if isinstance(body, Text) else Text(body)
        self._confirm_label = confirm_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self._title, style="bold"), classes="dialog-title")
            yield Static(self._body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self._confirm_label} (y)", id="yes", variant="error" if self._danger else "primary")
                yield Button("Cancel (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


def pr_summary(session: Session) -> Text:
    """PR, CI checks and review state, as the merge and approve dialogs show them."""
    pr = session.pr
    out = Text()
    out.append(f"{clean(session.id)}  ", style="bold")
    out.append(clean(session.title))
    out.append("\n")
    if pr is None:
        out.append("no PR", style="dim")
        return out
    out.append(f"PR #{pr.number}  " if pr.number is not None else "PR  ", style="bold")
    out.append(f"CI {CI_GLYPHS[pr.ci]} {CI_WORDS[pr.ci]}", style={"passed": "green", "failed": "red"}.get(pr.ci.value, "yellow"))
    out.append("   ")
    out.append(f"review {REVIEW_GLYPHS[pr.review]} {REVIEW_WORDS[pr.review]}",
               style={"approved": "green", "changes_requested": "red"}.get(pr.review.value, "yellow"))
    if pr.has_conflicts:
        out.append("   conflicts", style="red")
    for check in pr.checks[:8]:
        out.append(f"\n  {CI_GLYPHS[check.state]} ", style={"passed": "green", "failed": "red"}.get(check.state.value, "yellow"))
        out.append(clean(check.name))
    unresolved = [c for c in pr.comments if not c.resolved]
    if unresolved:
        out.append(f"\n{len(unresolved)} unresolved comment(s)", style="yellow")
    return out


class MergeScreen(ModalScreen[tuple[bool, bool]]):
    """Merge (or approve) confirmation. With blockers, Enter/y refuse; the person must insist
    (``f``, then confirm). Dismisses with (go, force)."""

    BINDINGS = [
        Binding("y", "confirm", "Merge", id="merge_yes"),
        Binding("f", "insist", "Insist", id="merge_insist"),
        Binding("n,escape", "cancel", "Cancel", id="merge_no"),
    ]

    def __init__(self, session: Session, blockers: Sequence[str], *, verb: str = "Merge") -> None:
        super().__init__(classes="dialog-screen")
        self.session = session
        self.blockers = list(blockers)
        self.verb = verb
        self.insisting = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"{self.verb} {clean(self.session.id)}?", style="bold"), classes="dialog-title")
            yield Static(pr_summary(self.session), classes="dialog-body")
            yield Static(self._verdict(), id="verdict", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._label(), id="yes", variant="primary", disabled=bool(self.blockers))
                if self.blockers:
                    yield Button(f"{self.verb} anyway (f)", id="insist", variant="error")
                yield Button("Cancel (n)", id="no")

    def _label(self) -> str:
        return f"{self.verb} (y)"

    def _verdict(self) -> Group | Text:
        if not self.blockers:
            return Text(self._ready_text(), style="green")
        if self.insisting:
            return Text(f"Insisting despite: {', '.join(self.blockers)}. Press y to {self.verb.lower()} anyway.",
                        style="bold red")
        return Text(f"Refusing to {self.verb.lower()}: {', '.join(self.blockers)}. Press f to insist.",
                    style="bold red")

    def _ready_text(self) -> str:
        """Why going ahead is fine, in words that match the PR line above it."""
        pr = self.session.pr
        if self.verb != "Approve" or pr is None:
            return f"Approved and green: ready to {self.verb.lower()}."
        if pr.review is ReviewState.APPROVED:
            return "Already approved" + (" and CI green" if pr.ci is CheckState.PASSED else "") + \
                ": nothing to add; M merges it."
        if pr.ci is CheckState.PASSED:
            return "CI green: ready for your approval."
        return "No CI checks reported: approve on your own review."

    def action_insist(self) -> None:
        if not self.blockers:
            return
        self.insisting = True
        self.query_one("#verdict", Static).update(self._verdict())
        yes = self.query_one("#yes", Button)
        yes.disabled = False
        yes.label = f"{self.verb} anyway (y)"
        yes.variant = "error"
        yes.focus()

    def action_confirm(self) -> None:
        if self.blockers and not self.insisting:
            self.notify(f"Refused: {', '.join(self.blockers)} (f to insist)", severity="warning")
            return
        self.dismiss((True, bool(self.blockers)))

    def action_cancel(self) -> None:
        self.dismiss((False, False))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_confirm()
        elif event.button.id == "insist":
            self.action_insist()
        else:
            self.action_cancel()
