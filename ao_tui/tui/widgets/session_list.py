"""The session list: attention zones, most urgent first, one line a session.

A line-API ``ScrollView`` (``render_line``), not a widget per row, so a list
of hundreds of sessions costs the same per keypress as one of ten. The cursor
follows a session *id*: when a session moves to another zone the cursor moves
with it (or stays on the same row when its session disappears).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ao_tui.attention import ZONE_ORDER, ZONE_TITLES, Zone, zone_of
from ao_tui.durations import ago
from ao_tui.models import Session, SessionStatus
from ao_tui.tui.bindings import LIST_BINDINGS
from ao_tui.tui.glyphs import clash_glyph, pr_label, status_glyph
from ao_tui.tui.text import clean, fit, usage_short
from ao_tui.tui.wording import fit_doing, since_when, what_matters


@dataclass(frozen=True)
class Row:
    """A line of the list: a zone header (``session`` is None), a session, or (``older``) the
    line after the Done zone's sessions counting the older finished ones it leaves out."""

    zone: Zone
    session: Session | None = None
    count: int = 0
    older: bool = False


def order_sessions(sessions: Sequence[Session], older: int = 0) -> list[Row]:
    """Rows grouped by zone in ``ZONE_ORDER``; in each zone the longest-waiting first
    (Done: most recent first, then a line for the ``older`` finished sessions not shown, if any)."""
    by_zone: dict[Zone, list[Session]] = {zone: [] for zone in ZONE_ORDER}
    for s in sessions:
        by_zone[zone_of(s)].append(s)
    rows: list[Row] = []
    for zone in ZONE_ORDER:
        members = by_zone[zone]
        members.sort(key=lambda s: (s.status_since, s.id), reverse=zone is Zone.DONE)
        rows.append(Row(zone, None, len(members)))
        rows.extend(Row(zone, s) for s in members)
        if zone is Zone.DONE and older:
            rows.append(Row(zone, None, older, older=True))
    return rows


def older_text(count: int, width: int, jump_key: str = "/") -> str:
    """The Done zone's last line: how many older finished sessions there are and how to see them
    (``jump_key`` opens the palette, which finds them)."""
    for text in (f"… {count:,} older finished · {jump_key} finds one by id or #PR · ao ls --all lists them",
                 f"… {count:,} older finished · {jump_key} finds one · ao ls --all",
                 f"… {count:,} older · ao ls --all", f"… {count:,} older"):
        if cell_len(text) + 4 <= width:
            return text
    return text


#: From this many columns the list has a branch column.
BRANCH_WIDTH = 90
#: A mixed fleet (more than one kind of agent) shows each session's agent from this many columns.
AGENT_WIDTH = 80
#: Short names for the agent column.
AGENT_LABELS = {"claude-code": "claude"}


def agent_label(agent: str) -> str:
    return AGENT_LABELS.get(agent, agent)


def activity_text(session: Session, now: datetime | None = None) -> str:
    """What matters about the session in its zone (``wording.what_matters``)."""
    return what_matters(session, now or datetime.now(UTC))


class SessionList(ScrollView, can_focus=True):
    """Sessions by attention zone. Posts ``Highlighted`` when the cursor's session changes."""

    BINDINGS: ClassVar[list[BindingType]] = [*LIST_BINDINGS]

    COMPONENT_CLASSES = {
        "session-list--cursor",
        "session-list--header",
        "session-list--hint",
        "session-list--dim",
        "session-list--id",
        "session-list--pr",
        "session-list--agent",
        "session-list--clash",
        "session-list--overlap",
        *(f"session-list--zone-{zone.value}" for zone in ZONE_ORDER),
    }

    DEFAULT_CSS = """
    SessionList { height: 1fr; }
    """

    class Highlighted(Message):
        def __init__(self, session_id: str | None) -> None:
            super().__init__()
            self.session_id = session_id

    class Selected(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.rows: list[Row] = order_sessions([])
        self._session_before: list[int] = []  # session rows above each row index
        self._index_of: dict[str, int] = {}
        self.cursor_id: str | None = None
        self._cursor_row = 0
        self.show_project = False
        self.show_agent = False  # more than one kind of agent in the list
        self.host_width = 0  # a host column (its width) once a session runs on another machine
        self._branch_len = 0  # the longest branch name: the branch column is no wider
        self._cache: dict[tuple[object, ...], Strip] = {}
        #: Sessions marked (space) for a merge train; ``M`` merges them in turn.
        self.marked: set[str] = set()
        #: The key that opens the palette (``tui.keys`` may move it), named on the older sessions' line.
        self.jump_key = "/"
        self._reindex()

    # -- data --------------------------------------------------------------

    def set_sessions(self, sessions: Sequence[Session], older: int = 0) -> None:
        """Replace the list's sessions, keeping the cursor on the same session id; ``older``
        finished sessions left out are counted on a line after the Done zone's."""
        old_row = self._cursor_row
        self.rows = order_sessions(sessions, older)
        open_prs = {s.id for s in sessions if s.pr is not None and s.status not in (SessionStatus.MERGED, SessionStatus.DONE)}
        self.marked &= open_prs
        self._reindex()
        self._cache.clear()
        self.show_project = len({s.project for s in sessions}) > 1
        self.show_agent = len({s.agent for s in sessions}) > 1
        remote = {s.host for s in sessions} - {"local"}
        self.host_width = min(13, max(6, *(len(h) + 1 for h in remote))) if remote else 0
        self._branch_len = max((cell_len(clean(s.branch)) for s in sessions), default=0)
        if self.cursor_id in self._index_of:
            self._cursor_row = self._index_of[self.cursor_id]
        else:
            self._cursor_row = self._nearest_session_row(old_row)
        self._after_cursor_change(scroll=True)
        self.virtual_size = Size(self.size.width, len(self.rows))
        self.refresh()

    def _reindex(self) -> None:
        self._index_of = {}
        before, count = [], 0
        for i, row in enumerate(self.rows):
            before.append(count)
            if row.session is not None:
                self._index_of[row.session.id] = i
                count += 1
        self._session_before = before

    @property
    def session_rows(self) -> list[int]:
        return [i for i, row in enumerate(self.rows) if row.session is not None]

    @property
    def cursor_session(self) -> Session | None:
        if 0 <= self._cursor_row < len(self.rows):
            return self.rows[self._cursor_row].session
        return None

    def session_at_hint(self, number: int) -> Session | None:
        """The session numbered ``number`` (1-9) among the rows on screen."""
        top = int(self.scroll_offset.y)
        for i in range(top, min(top + self.size.height, len(self.rows))):
            if self.rows[i].session is not None and self._hint(i) == number:
                return self.rows[i].session
        return None

    def _hint(self, index: int) -> int | None:
        top = int(self.scroll_offset.y)
        if not top <= index < top + self.size.height:
            return None
        n = self._session_before[index] - (self._session_before[top] if top < len(self._session_before) else 0) + 1
        return n if n <= 9 else None

    # -- cursor --------------------------------------------------------------

    def _nearest_session_row(self, index: int) -> int:
        rows = self.session_rows
        if not rows:
            return 0
        below = [i for i in rows if i >= index]
        return below[0] if below else rows[-1]

    def select_session(self, session_id: str) -> bool:
        """Move the cursor to ``session_id``; False when it is not in the list."""
        index = self._index_of.get(session_id)
        if index is None:
            return False
        self._move_to(index)
        return True

    def _move_to(self, index: int) -> None:
        if index == self._cursor_row and self.cursor_session and self.cursor_session.id == self.cursor_id:
            return
        old, top = self._cursor_row, self.scroll_offset.y
        self._cursor_row = index
        self._after_cursor_change(scroll=True)
        if self.scroll_offset.y == top:
            self.refresh_line(old)  # only the two rows that changed: a keypress stays cheap
            self.refresh_line(index)
        else:
            self.refresh()

    def _after_cursor_change(self, *, scroll: bool) -> None:
        session = self.cursor_session
        new_id = session.id if session else None
        if scroll and self.rows:
            # Show the zone header too when the cursor is on a zone's first session, and the older
            # sessions' line when it is on the last.
            top = self._cursor_row - 1 if self._cursor_row > 0 and self.rows[self._cursor_row - 1].session is None else self._cursor_row
            after = self._cursor_row + 1
            bottom = after if after < len(self.rows) and self.rows[after].older else self._cursor_row
            self.scroll_to_region(Region(0, top, 1, bottom - top + 1), animate=False, immediate=True)
        if new_id != self.cursor_id:
            self.cursor_id = new_id
            self.post_message(self.Highlighted(new_id))

    def _step(self, delta: int) -> None:
        rows = self.session_rows
        if not rows:
            return
        if self._cursor_row not in rows:
            self._move_to(self._nearest_session_row(self._cursor_row))
            return
        pos = rows.index(self._cursor_row)
        self._move_to(rows[max(0, min(len(rows) - 1, pos + delta))])

    def action_cursor_up(self) -> None:
        self._step(-1)

    def action_cursor_down(self) -> None:
        self._step(1)

    def action_cursor_first(self) -> None:
        rows = self.session_rows
        if rows:
            self._move_to(rows[0])

    def action_cursor_last(self) -> None:
        rows = self.session_rows
        if rows:
            self._move_to(rows[-1])

    def action_page_up(self) -> None:
        self._step(-max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self._step(max(1, self.size.height - 2))

    def action_toggle_mark(self) -> None:
        session = self.cursor_session
        if session is None:
            return
        if session.id in self.marked:
            self.marked.discard(session.id)
        elif session.pr is not None and session.status not in (SessionStatus.MERGED, SessionStatus.DONE):
            self.marked.add(session.id)
        else:
            self.app.notify(f"{session.id} has no open PR to put on a merge train", severity="warning", timeout=3)
            return
        self._cache.clear()
        self.refresh()

    def action_select(self) -> None:
        if self.cursor_id:
            self.post_message(self.Selected(self.cursor_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:  # on the frame
            return
        index = int(self.scroll_offset.y) + offset.y
        if 0 <= index < len(self.rows) and self.rows[index].session is not None:
            self._move_to(index)
            if event.chain >= 2 and self.cursor_id:
                self.post_message(self.Selected(self.cursor_id))

    def on_resize(self, event: events.Resize) -> None:
        self._cache.clear()
        self.virtual_size = Size(event.size.width, len(self.rows))
        self._after_cursor_change(scroll=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def refresh_times(self) -> None:
        """Redraw the 'how long' column (called on a slow timer)."""
        self._cache.clear()
        self.refresh()

    # -- drawing -----------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.size.width
        if index >= len(self.rows) or width <= 0:
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        cursor = index == self._cursor_row and row.session is not None
        hint = self._hint(index) if row.session is not None else None
        session = row.session
        key = (index, session.updated_at if session else row.count, session.id if session else row.zone, width,
               cursor, hint, self.has_focus, session is not None and session.id in self.marked)
        strip = self._cache.get(key)
        if strip is None:
            if row.older:
                text = Text("    " + older_text(row.count, width, self.jump_key), style=self.get_component_rich_style("session-list--dim"),
                            no_wrap=True, end="")
            else:
                text = self._header_text(row, width) if session is None else self._row_text(session, width, hint)
            base = self.rich_style
            segments = list(text.render(self.app.console))
            if cursor:
                cursor_style = self.get_component_rich_style("session-list--cursor")
                base = base + cursor_style
                if not self.has_focus:
                    base = base + Style(bold=False)
                # Column styles carry the list's own background: the cursor's goes over every cell.
                over = Style(bgcolor=cursor_style.bgcolor)
                segments = [Segment(seg.text, (seg.style or Style()) + over) for seg in segments]
            strip = Strip(segments).adjust_cell_length(width, base).apply_style(base)
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[key] = strip
        return strip

    def _header_text(self, row: Row, width: int) -> Text:
        style = self.get_component_rich_style(f"session-list--zone-{row.zone.value}")
        if row.count == 0:
            style = self.get_component_rich_style("session-list--dim")
        title = f" {ZONE_TITLES[row.zone]} {row.count} "
        rule = "─" * max(0, width - len(title) - 1)
        return Text.assemble(("─", style), (title, style + Style(bold=True)), (rule, style))

    def _row_text(self, session: Session, width: int, hint: int | None) -> Text:
        now = self._clock()
        zone_style = self.get_component_rich_style(f"session-list--zone-{zone_of(session).value}")
        dim = self.get_component_rich_style("session-list--dim")
        hint_style = self.get_component_rich_style("session-list--hint")
        since = session.activity.since if zone_of(session) in (Zone.NEEDS_YOU, Zone.WORKING) else session.status_since
        if session.status is SessionStatus.STUCK:  # quiet since its last output, not since it was called stuck
            age = ago(since_when(session), now)
        else:
            age = ago(max(since, session.status_since) if since else session.status_since, now)
        usage = usage_short(session.usage)
        pr = pr_label(session.pr)
        # Fixed columns: hint 2, glyph 2, id, [project], pr, age 5, usage 7.
        id_w = min(14, max(8, len(session.id) + 1))
        pr_w = 9
        tail_w = 5 + 7
        project_w = 12 if (self.show_project and width >= 140) else 0
        agent_w = 8 if (self.show_agent and width >= AGENT_WIDTH) else 0
        host_w = self.host_width if width >= AGENT_WIDTH else 0
        flexible = width - 4 - id_w - project_w - agent_w - host_w - pr_w - tail_w - 1
        wide = width >= 80
        # The branch has its own column from BRANCH_WIDTH on (the list pane of a 200-column screen);
        # narrower, it follows the title when the title leaves room for it.
        branch_w = min(28, flexible // 4, max(8, self._branch_len + 1)) if width >= BRANCH_WIDTH else 0
        rest = max(0, flexible - branch_w)
        # Title and "doing" share the rest: the title a little more, unless the branch took its part.
        title_w = rest if not wide else max(10, rest * (9 if branch_w else 11) // 20)
        activity_w = 0 if not wide else max(0, rest - title_w)
        marked = session.id in self.marked
        parts: list[tuple[str, Style] | str] = [
            ("+ " if marked else f"{hint} " if hint else "  ",
             self.get_component_rich_style("session-list--id") if marked else hint_style),
            (f"{status_glyph(session)} ", zone_style),
            (fit(clean(session.id), id_w - 1).ljust(id_w), self.get_component_rich_style("session-list--id")),
        ]
        if project_w:
            parts.append((fit(clean(session.project), project_w - 1).ljust(project_w), dim))
        if agent_w:
            parts.append(_cell(clean(agent_label(session.agent)), agent_w,
                               self.get_component_rich_style("session-list--agent")))
        if host_w:  # this machine's sessions leave it blank: the eye finds the others
            parts.append(_cell("" if session.host == "local" else clean(session.host), host_w,
                               self.get_component_rich_style("session-list--agent")))
        clash = clash_glyph(session)
        if clash and title_w > 12:  # the mark goes before the title: × would conflict, ∩ same files
            style = self.get_component_rich_style("session-list--clash" if clash == "×" else "session-list--overlap")
            parts.append((f"{clash} ", style))
            title_w -= 2
        title = clean(session.title) or clean(session.prompt)
        branch = clean(session.branch)
        if not branch_w and branch and cell_len(title) + 2 + cell_len(branch) <= title_w - 1:
            parts.append((title + "  ", Style()))
            parts.append(_cell(branch, title_w - cell_len(title) - 2, dim))
        else:
            parts.append(_cell(title, title_w, Style()))
        if branch_w:
            parts.append(_cell(clean(session.branch), branch_w, dim))
        parts.append((fit(pr, pr_w - 1).ljust(pr_w), self.get_component_rich_style("session-list--pr")))
        if activity_w:
            doing = fit_doing(clean(activity_text(session, now)), activity_w - 1)  # the file name goes last
            parts.append(_cell(doing, activity_w, zone_style if zone_of(session) is Zone.NEEDS_YOU else dim))
        parts.append((age.rjust(4) + " ", dim))
        parts.append((usage.rjust(6) + " ", dim))
        return Text.assemble(*parts, no_wrap=True, end="")


def _cell(text: str, width: int, style: Style) -> tuple[str, Style]:
    """``text`` fitted and padded to exactly ``width`` cells (plus nothing)."""
    if width <= 0:
        return ("", style)
    body = fit(text, width - 1)
    return (body + " " * (width - cell_len(body)), style)


__all__ = ["Row", "SessionList", "activity_text", "older_text", "order_sessions"]
