"""The focused session in detail: PR and checks, review, commits, files, last words, cost, history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ao_tui.attention import ZONE_TITLES, zone_of
from ao_tui.durations import ago
from ao_tui.models import CheckState, Event, Session
from ao_tui.tui.glyphs import CI_GLYPHS, REVIEW_GLYPHS
from ao_tui.tui.text import clean, clean_block, compact
from ao_tui.tui.widgets.session_list import activity_text
from ao_tui.tui.wording import (
    CI_WORDS,
    REVIEW_WORDS,
    event_kind,
    event_summary,
    humanize,
    status_since,
    status_words,
)

CHECK_STYLES = {
    CheckState.PASSED: "green",
    CheckState.FAILED: "red",
    CheckState.PENDING: "yellow",
    CheckState.RUNNING: "yellow",
    CheckState.NONE: "",
}


@dataclass
class WorkInfo:
    """What git says about a session's workspace (loaded off the UI thread)."""

    commits: list[Any] = field(default_factory=list)  # ao_tui.engine.Commit
    files: list[Any] = field(default_factory=list)  # ao_tui.engine.ChangedFile
    error: str = ""
    conflicts: list[dict[str, Any]] = field(default_factory=list)  # Overlap.as_dict(), conflicts first
    train: dict[str, Any] | None = None  # its place on a merge train: {"position", "of", "state", "reason"}


def _heading(title: str) -> Text:
    return Text(title, style="bold underline")


def _kv(key: str, value: str | Text, style: str = "") -> Text:
    line = Text(f"{key:<9}", style="dim")
    line.append(value if isinstance(value, Text) else Text(clean(value), style=style))
    return line


def render_detail(
    session: Session,
    work: WorkInfo | None,
    events: Sequence[Event],
    now: datetime,
) -> list[RenderableType]:
    """The detail pane's sections as Rich renderables (all untrusted text escaped)."""
    out: list[RenderableType] = []
    head = Text()
    head.append(clean(session.id), style="bold")
    head.append("  ")
    head.append(ZONE_TITLES[zone_of(session)], style="reverse")
    head.append(f"  {status_since(session, now)}", style="dim")
    out.append(head)
    out.append(Text(clean(session.title) or "(no title)", overflow="fold"))
    out.append(_kv("project", session.project))
    out.append(_kv("branch", session.branch))
    out.append(_kv("agent", f"{session.agent}{' · ' + session.model if session.model else ''}"))
    if session.host != "local":
        where = str(session.extra.get("remote_workspace") or "")
        out.append(_kv("host", clean(f"{session.host}{': ' + where if where else ''}")))
    out.append(_kv("now", activity_text(session, now), "bold" if session.escalation else ""))
    if session.exit_code is not None:
        out.append(_kv("exit", str(session.exit_code)))

    usage = session.usage
    line = Text(f"{compact(usage.total_tokens)} tokens ({compact(usage.input_tokens)} in, "
                f"{compact(usage.output_tokens)} out, {compact(usage.cache_read_input_tokens)} cached)")
    if usage.cost_usd:
        line.append(f"  ${usage.cost_usd:.2f}", style="bold")
    out.append(_kv("usage", line))
    if session.ci_cycles or session.review_rounds:
        out.append(_kv("rounds", f"{session.ci_cycles} CI fixes, {session.review_rounds} review rounds"))

    out.append(Text())
    pr = session.pr
    out.append(_heading("Pull request"))
    if pr is None:
        out.append(Text("no PR yet", style="dim"))
    else:
        title = Text(f"#{pr.number} " if pr.number is not None else "", style="bold")
        title.append(clean(pr.title or session.title))
        title.append(f"  {clean(pr.state)}", style="dim")
        out.append(title)
        if pr.url:
            out.append(Text(clean(pr.url), style="dim", overflow="fold"))
        ci = Text(f"{CI_GLYPHS[pr.ci]} {CI_WORDS[pr.ci]}", style=CHECK_STYLES[pr.ci])
        out.append(_kv("CI", ci))
        review_style = {"approved": "green", "changes_requested": "red"}.get(pr.review.value, "")
        out.append(_kv("review", Text(f"{REVIEW_GLYPHS[pr.review]} {REVIEW_WORDS[pr.review]}", style=review_style)))
        if pr.has_conflicts:
            out.append(_kv("merge", Text("has conflicts", style="red")))
        if work is not None and work.train:
            t = work.train
            place = f"{t['position']} of {t['of']} · {t['state']}" + (f" · {t['reason']}" if t.get("reason") else "")
            out.append(_kv("train", Text(clean(place), style="red" if t["state"] == "left" else "")))
        for check in pr.checks:
            row = Text("  ")
            row.append(f"{CI_GLYPHS[check.state]} ", style=CHECK_STYLES[check.state])
            row.append(clean(check.name))
            if check.summary:
                row.append(f"  {clean(check.summary)}", style="dim")
            row.no_wrap, row.overflow = True, "ellipsis"
            out.append(row)
        open_comments = [c for c in pr.comments if not c.resolved]
        if open_comments:
            out.append(Text())
            out.append(_heading(f"Unresolved comments ({len(open_comments)})"))
            for c in open_comments[:20]:
                where = f"{c.path}:{c.line}" if c.path and c.line else (c.path or "")
                who = Text(clean(c.author or "reviewer"), style="bold")
                if where:
                    who.append(f"  {clean(where)}", style="dim")
                out.append(who)
                out.append(Text(clean_block(c.body)[:2000], overflow="fold"))

    if work is not None and work.conflicts:
        out.append(Text())
        out.extend(_conflicts_section(session, work.conflicts))

    out.append(Text())
    out.append(_heading("Commits"))
    if work is None:
        out.append(Text("loading…", style="dim"))
    elif work.error:
        out.append(Text(clean(work.error), style="dim"))
    elif not work.commits:
        out.append(Text("no commits yet", style="dim"))
    else:
        for commit in work.commits[:10]:
            row = Text(commit.sha[:8] + " ", style="yellow")
            row.append(clean(commit.subject))
            row.no_wrap, row.overflow = True, "ellipsis"
            out.append(row)
    if work is not None and not work.error:
        out.append(Text())
        out.append(_heading(f"Changed files ({len(work.files)})" if work.files else "Changed files"))
        if not work.files:
            out.append(Text("none", style="dim"))
        for f in work.files[:30]:
            row = Text()
            if f.untracked:
                row.append("  new ", style="green")
            else:
                row.append(f"+{f.added}".rjust(5), style="green")
                row.append(f" -{f.deleted}".ljust(6), style="red")
            row.append(clean(f.path))
            row.no_wrap, row.overflow = True, "ellipsis"
            out.append(row)
        if len(work.files) > 30:
            out.append(Text(f"… {len(work.files) - 30} more (d: diff)", style="dim"))

    if session.last_message:
        out.append(Text())
        out.append(_heading("Agent's last message"))
        out.append(Text(clean_block(session.last_message)[-3000:], overflow="fold"))

    if events:
        out.append(Text())
        out.append(_heading("History"))
        for ev in list(events)[-15:][::-1]:
            row = Text(f"{ago(ev.at, now):>4} ", style="dim")
            if ev.kind == "status":
                row.append(f"{status_words(ev.from_status or '?')} → {status_words(ev.to_status or '?')}")
                reason = ev.data.get("reason")
                if reason:
                    row.append(f"  {humanize(clean(str(reason)))}", style="dim")
            elif (summary := event_summary(ev.kind, ev.data)) is not None:
                row.append(clean(summary[0]))
                if summary[1]:
                    row.append(f"  {clean(summary[1])}", style="dim")
            else:
                row.append(event_kind(clean(ev.kind)))
                extra = ev.data.get("reason") or ev.data.get("action") or ev.data.get("event") or ""
                if extra:
                    row.append(f"  {humanize(clean(str(extra)))}", style="dim")
            row.no_wrap, row.overflow = True, "ellipsis"
            out.append(row)
    return out


def _conflicts_section(session: Session, clashes: Sequence[dict[str, Any]]) -> list[RenderableType]:
    """Other live branches this one changes the same files as; for conflicts, the colliding hunks."""
    out: list[RenderableType] = []
    n = sum(1 for c in clashes if c.get("conflict"))
    out.append(_heading(f"Conflicts ({n} predicted)" if n else "Conflicts (same files, none predicted)"))
    for c in clashes[:8]:
        other = clean(str(c.get("with", "?")))
        row = Text()
        if c.get("conflict"):
            row.append("× ", style="bold red")
            row.append(other, style="bold")
            row.append("  would conflict", style="red")
            row.append("  (you committed later: yours to resolve)" if c.get("later") else "  (it committed later)",
                       style="dim")
        else:
            row.append("∩ ", style="yellow")
            row.append(other, style="bold")
            row.append("  changes the same files", style="dim")
        out.append(row)
        files = Text("  ")
        files.append(clean(", ".join(c.get("files", [])[:8])), style="dim")
        files.no_wrap, files.overflow = True, "ellipsis"
        out.append(files)
        for conflict in (c.get("conflicts") or [])[:4]:
            hunks = conflict.get("hunks") or []
            if not hunks:
                out.append(Text(f"  {clean(conflict.get('path', ''))}: {clean(conflict.get('message', ''))}",
                                style="red", overflow="fold"))
            for h in hunks[:3]:
                out.append(Text(f"  {clean(conflict.get('path', ''))}:{h.get('line', '?')}", style="red"))
                for label, lines, style in ((session.id, h.get("ours") or [], "green"),
                                            (other, h.get("theirs") or [], "magenta")):
                    for line in (lines or ["(nothing)"])[:5]:
                        text = Text(f"    {clean(label)[:10]:<10} ", style="dim")
                        text.append(clean(line), style=style)
                        text.no_wrap, text.overflow = True, "ellipsis"
                        out.append(text)
    return out


class DetailPane(ScrollView, can_focus=True):
    """Scrollable detail of one session; ``show`` re-renders it.

    A line-API view over pre-rendered strips: updating it repaints this pane
    only, never the screen's layout (which would redraw every pane).
    """

    BINDINGS = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("end,G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, *, clock: Callable[[], datetime] | None = None, id: str | None = None,  # noqa: A002
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.session_id: str | None = None
        self._renderables: list[RenderableType] = [EMPTY]
        self._strips: list[Strip] = []
        self._width = 0

    def show(self, session: Session | None, work: WorkInfo | None = None, events: Sequence[Event] = ()) -> None:
        if session is None:
            self.session_id = None
            self._renderables = [EMPTY]
        else:
            if session.id != self.session_id:
                self.scroll_to(0, 0, animate=False, immediate=True)
            self.session_id = session.id
            self._renderables = render_detail(session, work, events, self._clock())
        self._render_strips()

    def text(self) -> str:
        """The pane's content as plain text (all of it, not just what is scrolled into view)."""
        return "\n".join(strip.text.rstrip() for strip in self._strips)

    def _render_strips(self) -> None:
        width = self.scrollable_content_region.width or self.size.width
        self._width = width
        if width <= 0:
            self._strips = []
            return
        console = self.app.console
        options = console.options.update_width(width)
        lines = console.render_lines(Group(*self._renderables), options, pad=False, new_lines=False)
        self._strips = [Strip(line).adjust_cell_length(width) for line in lines]
        # A new virtual size costs a layout pass of the whole screen, so the height moves in steps
        # of 40 lines (the scrollbar is always shown) and most session switches repaint this pane only.
        height = -(-max(len(self._strips), 1) // 40) * 40
        size = Size(width, height)
        if size != self.virtual_size:
            self.virtual_size = size
        self.refresh()

    def on_resize(self, _: events.Resize) -> None:
        if (self.scrollable_content_region.width or self.size.width) != self._width:
            self._render_strips()

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width or self.size.width
        style = self.rich_style
        if 0 <= index < len(self._strips):
            return self._strips[index].apply_style(style)
        return Strip.blank(width, style)


EMPTY = Text("No session selected. Press n to start one.", style="dim")
