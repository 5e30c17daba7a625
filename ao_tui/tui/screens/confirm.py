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

from ao_tui.models import ActivityState, CheckState, ReviewState, Session, SessionStatus
from ao_tui.tui.glyphs import CI_GLYPHS, REVIEW_GLYPHS
from ao_tui.tui.text import clean, clean_block, fit
from ao_tui.tui.wording import CI_WORDS, REVIEW_WORDS, what_agent_does


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


#: Lines of the agent's last message the send dialog shows (the rest is in the detail pane).
LAST_MESSAGE_LINES = 6


def message_context(session: Session) -> Text:
    """What the send dialog shows above the text box: the session, and what the agent asked.

    Waiting for an answer or a permission, the question (or the permission detail) comes first,
    then the end of the agent's last message; otherwise its last message, so the reply fits it.
    """
    out = pr_summary(session)
    activity = session.activity
    waiting = activity.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT) \
        or session.status is SessionStatus.NEEDS_INPUT
    last = clean_block(session.last_message).strip() if session.last_message else ""
    lines = [line for line in last.splitlines() if line.strip()][-LAST_MESSAGE_LINES:]
    said = fit("\n".join(lines), 600)
    asked = clean(what_agent_does(session)) if waiting and activity.detail else ""
    if waiting and (asked or said):
        label = "Asks permission:" if activity.state is ActivityState.WAITING_PERMISSION else "Asks:"
        if asked and " ".join(lines) and asked in " ".join(lines):  # the question is the end of its message
            asked = ""
        out.append(f"\n{label} ", style="bold yellow")
        if asked:
            out.append(fit(asked, 300))
        if said:
            out.append("\n" if asked else "")
            out.append(said, style="italic")
    elif said:
        out.append("\nIts last message:\n", style="dim")
        out.append(said, style="italic")
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
            yield Static(pr_summary(self.session), id="summary", classes="dialog-body")
            yield Static(self._verdict(), id="verdict", classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self._label(), id="yes", variant="primary", disabled=bool(self.blockers) or self.ended)
                insist = Button(f"{self.verb} anyway (f)", id="insist", variant="error")
                insist.display = bool(self.blockers) and not self.ended
                yield insist
                yield Button("Cancel (n)", id="no")

    @property
    def ended(self) -> bool:
        """The session finished (merged elsewhere, killed) while the dialog was open: nothing to do."""
        return self.session.status in (SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED) \
            or self.session.pr is None

    def update_facts(self, session: Session, blockers: Sequence[str]) -> None:
        """The session changed while the dialog is open: show its current CI and review.

        Insisting holds only for the blockers the person saw: a new one (CI went red) takes it back,
        so ``y`` never acts on facts nobody was shown. Blockers that cleared need no insisting.
        """
        new = list(blockers)
        if self.insisting and not set(new) <= set(self.blockers):
            self.insisting = False
        self.session, self.blockers = session, new
        if not self.is_mounted:
            return
        self.query_one("#summary", Static).update(pr_summary(session))
        self.query_one("#verdict", Static).update(self._verdict())
        yes, insist = self.query_one("#yes", Button), self.query_one("#insist", Button)
        insist.display = bool(new) and not self.ended
        yes.disabled = self.ended or (bool(new) and not self.insisting)
        if self.insisting and new:
            yes.label, yes.variant = f"{self.verb} anyway (y)", "error"
        else:
            yes.label, yes.variant = self._label(), "primary"

    def _label(self) -> str:
        return f"{self.verb} (y)"

    def _verdict(self) -> Group | Text:
        if self.ended:
            state = self.session.pr.state if self.session.pr else "gone"
            return Text(f"{clean(self.session.id)} is {clean(state)} now: nothing to {self.verb.lower()}.", style="bold")
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
        if not self.blockers or self.ended:
            return
        self.insisting = True
        self.query_one("#verdict", Static).update(self._verdict())
        yes = self.query_one("#yes", Button)
        yes.disabled = False
        yes.label = f"{self.verb} anyway (y)"
        yes.variant = "error"
        yes.focus()

    def action_confirm(self) -> None:
        if self.ended:
            self.notify(f"{self.session.id} has nothing to {self.verb.lower()} any more", severity="warning")
            return
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
