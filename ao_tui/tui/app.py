"""``AoApp``: the control room.

Sessions come from the store (one query) and live updates arrive two ways:
the in-process engine's listener (its threads post messages to the app) and
a watchfiles watch on the store's directory for writes by other processes
(``ao run``, another ``ao-tui``). Nothing here polls.

Every engine call that may touch tmux, git or the network runs in a thread
worker; an ``AoError`` becomes a notification, never a traceback.
"""

from __future__ import annotations

import gc
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.notifications import Notification, Notify, SeverityLevel
from textual.widgets import Static, Tab, Tabs

from ao_tui.attention import Zone, zone_of
from ao_tui.errors import AoError
from ao_tui.lifecycle import AT_REST
from ao_tui.models import ActivityState, CheckState, Session
from ao_tui.session_changes import WorkSpan, work_visible
from ao_tui.tui.attach import detach_hint
from ao_tui.tui.bindings import APP_BINDINGS, keymap
from ao_tui.tui.palette import ActionCommands, SessionCommands, ThemeCommands
from ao_tui.tui.screens.confirm import ConfirmScreen, MergeScreen, message_context, pr_summary
from ao_tui.tui.screens.forms import NewSessionRequest, NewSessionScreen, TextPromptScreen
from ao_tui.tui.screens.help import HelpScreen
from ao_tui.tui.screens.pickers import ALL_PROJECTS, PickerScreen
from ao_tui.tui.text import clean
from ao_tui.tui.themes import DEFAULT_THEME, load_themes
from ao_tui.tui.widgets.detail import DetailPane, WorkInfo
from ao_tui.tui.widgets.key_footer import KeyFooter
from ao_tui.tui.widgets.notices import NoticeRack, NoticeToast
from ao_tui.tui.widgets.session_list import SessionList
from ao_tui.tui.widgets.status_bar import StatusBar
from ao_tui.tui.widgets.terminal_pane import TerminalPane
from ao_tui.tui.wording import short_paths, status_since, what_agent_does, what_matters

log = logging.getLogger("ao.tui")

#: Below this width the panes become tabs.
NARROW_WIDTH = 120
#: Seconds the "how to come back" toast shows before the first attach takes the terminal over
#: (later attaches in the same run are immediate: the user has read it once).
ATTACH_DELAY = 1.2
THEME_SETTING = "tui.theme"
TABS = ("list", "terminal", "detail", "chat")


class SessionChanged(Message):
    """The in-process engine changed a session (posted from engine threads)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session


class EngineNotice(Message):
    """Something the engine told its notifiers (posted from engine threads)."""

    def __init__(self, title: str, body: str, urgency: str, session_id: str | None = None) -> None:
        super().__init__()
        self.title, self.body, self.urgency = title, body, urgency
        self.session_id = session_id


class StoreChanged(Message):
    """Some process wrote the store."""


class EngineState(Message):
    def __init__(self, state: str, error: str = "") -> None:
        super().__init__()
        self.state = state
        self.error = error


#: Older finished sessions kept in the list once jumped to.
PINNED_MAX = 10


def _conflicts_of(engine: Any, session_id: str) -> list[dict[str, Any]]:
    """The live branches a session changes the same files as, from the store (the engine loop keeps them)."""
    from ao_tui.conflicts import overlaps_for

    session = engine.session(session_id)
    if not session.extra.get("conflicts"):
        return []
    default = engine.project_config(session.project).default_branch
    return [o.as_dict(default) for o in overlaps_for(engine.store, session_id, session.project)]


def _train_of(engine: Any, session_id: str) -> dict[str, Any] | None:
    """Where the session is on its project's merge train, if it is on one."""
    session = engine.session(session_id)
    rows = engine.store.train(session.project)
    for n, row in enumerate(rows, 1):
        if row["session_id"] == session_id:
            return {"position": n, "of": len(rows), "state": row["state"], "reason": row["data"].get("reason", "")}
    return None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _why_needed(session: Session, now: datetime) -> str:
    """Why a session needs the human, in the words of a notice body (the question, the permission)."""
    if session.activity.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT) \
            and session.activity.detail:
        return what_agent_does(session)
    return what_matters(session, now)


class AoApp(App[None]):
    """The ao-tui application.

    ``clock`` fixes "now" for durations (tests); ``start_engine`` runs the
    engine's watch loop (unless another process already does), the one ``make_loop`` builds
    (default ``orchestrator.loop_hooks.leader_loop``; the demo's retires merged sessions sooner);
    ``watch_store`` follows writes by other processes.
    """

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "ao"
    BINDINGS: ClassVar[list[BindingType]] = [*APP_BINDINGS]
    COMMANDS = {SessionCommands, ActionCommands, ThemeCommands}
    COMMAND_PALETTE_BINDING = "ctrl+p"

    def __init__(
        self,
        engine: Any,
        *,
        project: str | None = None,
        theme: str | None = None,
        clock: Callable[[], datetime] | None = None,
        start_engine: bool = True,
        observe_files: bool = False,
        watch_store: bool = True,
        terminal_source: Callable[[str], Any] | None = None,
        make_loop: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self._budget_asked = ""  # the reached budgets last asked about (asked again only when they change)
        self.terminal_source = terminal_source
        self.clock = clock or _utcnow
        self.start_engine = start_engine
        self.make_loop = make_loop
        #: With no engine here (``--no-engine``): while none runs anywhere either, each live agent's
        #: activity is read from its own files every couple of seconds (``Engine.observed_sessions``).
        self.observe_files = observe_files
        self.watch_store = watch_store
        self.project_filter: str | None = project
        #: The live sessions and the recently finished ones (``Engine.recent_sessions``), and any older
        #: finished one jumped to; the other finished ones are only counted (``older``).
        self.all_sessions: list[Session] = []
        self.older = 0
        #: Older finished sessions jumped to (by the palette): kept in the list, the last few only.
        self._pinned: dict[str, None] = {}
        self.engine_state = "off"
        self.narrow = False
        self.active_tab = "list"
        self.chat_visible = False
        self._startup_warnings: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._watch_stop = threading.Event()
        self._data_version = -1
        self._pending: dict[str, Session] = {}
        self._flush_scheduled = False
        self._work: dict[str, WorkInfo] = {}
        self._detail_timer: Any = None
        self._chat: Any = None
        self._bridges: Any = None  # ao_tui.bridges.BridgeRunner, while this app runs the engine
        #: What a following app last saw of each session (zone, CI), to derive notices from the store.
        self._seen: dict[str, tuple[Zone, CheckState | None]] | None = None
        #: What ``notify`` said that has not expired or been dismissed, oldest first (shown by ``NoticeRack``).
        self._notices: list[Notification] = []

        themes, errors = load_themes()
        self._startup_warnings += errors
        for t in themes.values():
            self.register_theme(t)
        self.ao_theme_names = list(themes)
        wanted = theme or self._saved_theme() or getattr(engine.config.tui, "theme", None) or DEFAULT_THEME
        if wanted not in themes:
            self._startup_warnings.append(f"no theme {wanted!r}; known: {', '.join(themes)}")
            wanted = DEFAULT_THEME
        self.theme = wanted
        self.key_remaps: dict[str, str] = {}  # tui.keys: binding id -> keys (the help screen shows them)
        try:
            self.key_remaps = keymap(engine.config.tui.keys, str(engine.config.path or "ao.config.yaml"))
            self.set_keymap(self.key_remaps)
        except AoError as exc:
            self._startup_warnings.append(str(exc))
        if project is not None and project not in engine.config.projects:
            self._startup_warnings.append(f"no project {project!r} in the config; showing all projects")
            self.project_filter = None

    # -- layout --------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield Tabs(
            Tab("Sessions", id="tab-list"), Tab("Terminal", id="tab-terminal"), Tab("Detail", id="tab-detail"),
            id="tabs",
        )
        self._list = SessionList(id="sessions", clock=self.clock, classes="pane")
        self._terminal = TerminalPane(self.engine, id="terminal", classes="pane", source_factory=self.terminal_source)
        self._detail = DetailPane(id="detail", clock=self.clock, classes="pane")
        with Horizontal(id="main", classes="-tab-list"):
            yield self._list
            with Vertical(id="right"):
                yield self._terminal
                yield self._detail
            yield Vertical(id="chat", classes="pane")
        yield KeyFooter(id="footer")

    @property
    def session_list(self) -> SessionList:
        return self._list

    @property
    def detail(self) -> DetailPane:
        return self._detail

    @property
    def terminal(self) -> TerminalPane:
        return self._terminal

    def _main(self, selector: str) -> Any:
        """A widget of the main screen, whatever modal is on top."""
        return self.screen_stack[0].query_one(selector) if self.screen_stack else self.query_one(selector)

    def on_mount(self) -> None:
        for warning in self._startup_warnings:
            self.notify(warning, severity="warning", timeout=10)
        self._main("#chat").display = False
        self._apply_size(self.size.width)
        palette_key = self.key_remaps.get("palette", "slash").split(",")[0].strip()
        self.session_list.jump_key = self.get_key_display(Binding(palette_key, "", ""))
        self.reload_sessions()
        self.session_list.focus()
        self._unsubscribe = self.engine.subscribe(lambda s: self.post_message(SessionChanged(s)))
        self._unsubscribe_notices = self.engine.subscribe_notifications(
            lambda n: self.post_message(EngineNotice(n.title, n.body, n.urgency, n.session_id))
        )
        self.call_after_refresh(self._start_background)
        # A dialog pushed or popped: the notices move to the screen now on top.
        self.screen_change_signal.subscribe(self, lambda _screen: self.call_later(self._show_notices))
        self.set_interval(15, self._refresh_ages)
        self.set_interval(1, self._refresh_countdowns)
        if self.observe_files:
            self.set_interval(2, self._observe)

    def _start_background(self) -> None:
        """The store watch and the engine loop start once the first frame is on screen."""
        # Everything made so far (modules, widgets, styles) lives as long as the app: keep it out of
        # the garbage collector's full passes, which otherwise scan it all and stall a keypress
        # 40-60 ms a few times a minute (bench_tui.py keys: p99 65-96 ms before, ~40 ms after).
        gc.freeze()
        if self.watch_store:
            self._watch_store()
        if self.start_engine:
            self._start_engine()

    def on_unmount(self) -> None:
        self._watch_stop.set()
        if self._bridges is not None:
            self._bridges.stop()
        if self._unsubscribe:
            self._unsubscribe()
        if getattr(self, "_unsubscribe_notices", None):
            self._unsubscribe_notices()
        if self.engine_state == "running":
            try:
                self.engine.stop()
            except Exception:
                log.exception("stopping the engine")

    def on_engine_notice(self, message: EngineNotice) -> None:
        session = next((s for s in self.all_sessions if s.id == message.session_id), None) \
            if message.session_id else None
        workspace = session.workspace if session is not None else ""
        # Paths in the session's workspace are said relative to it, as in the list (wording.short_paths).
        title, body = short_paths(message.title, workspace), short_paths(message.body, workspace)
        text = clean(title) + (f"\n{clean(body)}" if body else "")
        severity: SeverityLevel = "error" if message.urgency == "critical" else "information"
        self.notify(text, severity=severity, timeout=12 if severity == "error" else 6, markup=False)

    # -- notices (toasts) ---------------------------------------------------------

    def on_notify(self, event: Notify) -> None:
        """Every ``notify`` (ao's, a widget's, Textual's own) is shown by ao's ``NoticeRack``.

        ``prevent_default`` keeps Textual's toast rack out of it (App's own handler is its default).
        At 80x24 toasts would pile up over half the screen: one at a time, the newest.
        """
        event.prevent_default()
        notice = event.notification
        if self.narrow:
            self._notices.clear()
        self._notices.append(notice)
        self.set_timer(max(notice.time_left, 0.0), lambda: self.dismiss_notice(notice), name="notice expiry")
        self._show_notices()

    @property
    def notices(self) -> list[Notification]:
        """The notices on view, oldest first (the footer lists ctrl+l Clear while there are any)."""
        return list(self._notices)

    def dismiss_notice(self, notice: Notification) -> None:
        """A notice goes (it expired, or was clicked)."""
        if notice in self._notices:
            self._notices.remove(notice)
            self._show_notices()

    def clear_notifications(self) -> None:
        self._notices.clear()
        self._show_notices()

    def action_dismiss_notices(self) -> None:
        self.clear_notifications()

    def on_notice_toast_clicked(self, message: NoticeToast.Clicked) -> None:
        self.dismiss_notice(message.notice)

    def _keep_newest_notice(self) -> None:
        """A screen that turns narrow (a browser resized, or starting wide then sized to a phone) keeps
        only the newest of the toasts stacked while it was wide."""
        if len(self._notices) > 1:
            del self._notices[:-1]
            self._show_notices()

    def _show_notices(self) -> None:
        """The screen on top shows the notices; a screen under a dialog shows through it, so it shows none
        (they would be a second copy on screen). A screen gets its rack the first time it has something
        to show."""
        try:
            top, screens = self.screen, list(self.screen_stack)
        except Exception:  # no screen yet, or shutting down
            return
        for screen in screens:
            racks = list(screen.query_children(NoticeRack))
            if screen is top and self._notices and not racks:
                racks = [NoticeRack()]
                screen.mount(racks[0])
            for rack in racks:
                rack.show(self._notices if screen is top else ())
        self._refresh_footer()  # ctrl+l Clear is listed while there is something to clear

    # -- notices a following app derives from the store ---------------------------

    def _derive_notices(self) -> None:
        """Say what changed, as the engine would, when another process runs the engine.

        Notices come from the engine that acts (``subscribe_notifications``): in a following
        app (``ao run`` or another ao-tui runs the engine) there are none. So a following app
        compares what it sees in the store with what it saw before and says, once per change,
        that a session entered Needs you, that its CI failed, or that it is ready to merge.
        The app that runs the engine says nothing here: its engine already did.
        """
        seen, first = self._seen or {}, self._seen is None
        now: dict[str, tuple[Zone, CheckState | None]] = {}
        notices: list[tuple[str, str, str]] = []
        following = self.engine_state in ("following", "off")
        for session in self.all_sessions:
            zone, ci = zone_of(session), session.pr.ci if session.pr else None
            now[session.id] = (zone, ci)
            before = seen.get(session.id)
            if first or not following or before == (zone, ci):
                continue
            old_zone, old_ci = before if before is not None else (None, None)
            sid = clean(session.id)
            if zone is Zone.NEEDS_YOU and old_zone is not Zone.NEEDS_YOU:
                notices.append((f"{sid} needs you", clean(_why_needed(session, self.clock())), "critical"))
            elif zone is Zone.READY_TO_MERGE and old_zone is not Zone.READY_TO_MERGE:
                notices.append((f"{sid}: approved and green, ready to merge", clean(session.title), "normal"))
            elif ci is CheckState.FAILED and old_ci is not CheckState.FAILED and zone is not Zone.DONE:
                failing = [c.name for c in session.pr.checks if c.state is CheckState.FAILED] if session.pr else []
                body = f"failing: {', '.join(failing)}" if failing else clean(session.title)
                notices.append((f"{sid}: CI failed", clean(body), "normal"))
        self._seen = now
        for title, body, urgency in notices:
            self.on_engine_notice(EngineNotice(title, body, urgency))

    def on_resize(self, event: Any) -> None:
        self._apply_size(event.size.width)

    def _apply_size(self, width: int) -> None:
        narrow = width < NARROW_WIDTH
        self.narrow = narrow
        if narrow:
            self._keep_newest_notice()
        self.set_class(narrow, "-compact")
        main = self._main("#main")
        main.set_class(narrow, "-narrow")
        self._main("#tabs").display = narrow
        self._show_tab(self.active_tab, focus=False)

    def _show_tab(self, tab: str, *, focus: bool = True) -> None:
        if tab == "chat" and not self.chat_visible:
            tab = "list"
        self.active_tab = tab
        main = self._main("#main")
        for name in TABS:
            main.set_class(name == tab, f"-tab-{name}")
        tabs = self._main("#tabs")
        if tabs.active != f"tab-{tab}" and tabs.query(f"#tab-{tab}"):
            # Set by us, not clicked: no TabActivated (a queued one would switch back and forth forever).
            with self.prevent(Tabs.TabActivated):
                tabs.active = f"tab-{tab}"
        if focus:
            target = {"list": self.session_list, "terminal": self.terminal.view, "detail": self.detail,
                      "chat": self._chat}.get(tab)
            if target is not None:
                target.focus()

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """A tab clicked. Stale messages (the tab is no longer the active one) are ignored."""
        if event.tab.id != event.tabs.active:
            return
        name = (event.tab.id or "tab-list").removeprefix("tab-")
        if name != self.active_tab:
            self._show_tab(name)

    def _visible_tabs(self) -> list[str]:
        return [t for t in TABS if t != "chat" or self.chat_visible]

    def action_next_tab(self, step: int = 1) -> None:
        if not self.narrow:
            self.screen.focus_next() if step > 0 else self.screen.focus_previous()
            return
        tabs = self._visible_tabs()
        self._show_tab(tabs[(tabs.index(self.active_tab) + step) % len(tabs)])

    def action_prev_tab(self) -> None:
        self.action_next_tab(-1)

    async def action_back(self) -> None:
        if self.terminal.input_mode:
            return
        self._show_tab("list")

    # -- sessions --------------------------------------------------------------

    def visible_sessions(self) -> list[Session]:
        if self.project_filter is None:
            return self.all_sessions
        return [s for s in self.all_sessions if s.project == self.project_filter]

    def reload_sessions(self) -> None:
        """Read the live and recently finished sessions from the store (one query; the older finished
        ones, however many, are not read) and redraw."""
        try:
            self._data_version = self.engine.store.data_version()
            self.all_sessions = self._with_pinned(self.engine.recent_sessions(now=self.clock()))
        except AoError as exc:
            self.notify(clean(str(exc)), severity="error")
            return
        except Exception as exc:  # a damaged row must not take the control room down
            log.exception("loading sessions")
            self.notify(clean(f"cannot read sessions: {type(exc).__name__}: {exc}"), severity="error")
            return
        self._derive_notices()
        self._sessions_changed()
        if self.observe_files:
            self._observe()

    @work(thread=True, exclusive=True, group="observe", exit_on_error=False)
    def _observe(self) -> None:
        """Sessions as their agents' files say now (off the UI thread: files, maybe a screen)."""
        try:
            sessions = self._with_pinned(self.engine.observed_sessions(recent=True, now=self.clock()))
        except Exception as exc:  # noqa: BLE001 - the stored view stays on screen
            log.warning("reading the agents' files failed: %s", exc)
            return
        self.call_from_thread(self._apply_observed, sessions)

    def _apply_observed(self, sessions: list[Session]) -> None:
        self.all_sessions = sessions
        self._derive_notices()
        self._sessions_changed()

    def _with_pinned(self, sessions: list[Session]) -> list[Session]:
        """``sessions`` and the older finished sessions jumped to (each read by its id)."""
        present = {s.id for s in sessions}
        for sid in [k for k in list(self._pinned) if k not in present]:
            found = self.engine.store.find_session(sid)
            if found is None:  # deleted (archived by the store's retention)
                self._pinned.pop(sid, None)
            else:
                sessions.append(found)
        return sessions

    def _count_older(self, shown: list[Session]) -> int:
        """The finished sessions of the projects shown that the list leaves out (counted by the store)."""
        try:
            total = int(self.engine.count_at_rest(self.project_filter))
        except Exception:  # noqa: BLE001 - the store busy: the count is the one before
            return self.older
        return max(0, total - sum(1 for s in shown if s.status in AT_REST))

    def find_older(self, text: str, limit: int = 30) -> list[Session]:
        """Finished sessions the list leaves out whose id, PR number, title or branch mention ``text``
        (the palette's search of the history)."""
        text = text.strip().lstrip("#")
        if not text:
            return []
        present = {s.id for s in self.all_sessions}
        try:
            found = self.engine.search_at_rest(text, limit)
        except Exception:  # noqa: BLE001 - the store busy: the live sessions' hits only
            return []
        return [s for s in found if s.id not in present]

    def _sessions_changed(self) -> None:
        present = {s.id for s in self.all_sessions}
        for sid in [k for k in self._work if k not in present]:
            del self._work[sid]  # a deleted session's commits and files: a long run keeps none of them
        sessions = self.visible_sessions()
        self.older = self._count_older(sessions)
        self._refresh_dialogs()
        self.session_list.set_sessions(sessions, older=self.older)
        self._update_status()
        self._refresh_footer()
        self._refresh_focused(reload_work=False)

    def _update_status(self) -> None:
        bar = self._main("#status")
        bar.budget = self._budget_words()
        bar.trains = self._trains()
        bar.show(self.visible_sessions(), self.project_filter, self.engine_state, self.clock())

    def _trains(self) -> list[dict[str, Any]]:
        """Each running merge train of the projects shown, from the store (one small query)."""
        from ao_tui.merge_train import progress

        try:
            rows = self.engine.store.train(self.project_filter)
        except Exception:  # noqa: BLE001 - the store busy: no train this time, the next redraw has it
            return []
        by_project: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_project.setdefault(row["project"], []).append(row)
        shown = (progress(by_project[name]) for name in sorted(by_project))
        return [t for t in shown if t is not None]

    def _budget_words(self) -> Any:
        """The worst budget for the status bar; at a reached cap, ask once whether to go on."""
        from ao_tui import budget
        from ao_tui.tui.widgets.status_bar import budget_text

        try:
            shown = budget.shown_state(self.engine)
        except Exception:  # noqa: BLE001 - the store busy: no budget words this time
            return None
        over = [s for s in shown if s.get("state") == "over"]
        key = ",".join(sorted(s["scope"] for s in over))
        if over and key != self._budget_asked:
            self._budget_asked = key
            self.call_later(self._ask_go_on, over)
        return budget_text(shown)

    def _ask_go_on(self, over: list[dict[str, Any]]) -> None:
        from ao_tui import budget

        body = "\n".join(s["words"] for s in over) + (
            "\n\nao starts no new sessions and holds its own messages to agents (CI failures, review comments, "
            "continuing after a usage limit) until the budget is raised in ao.config.yaml or you go on for today. "
            "What you type is never held.")

        def answered(go: bool | None) -> None:
            if go:
                confirmed = budget.go_on(self.engine, now=self.clock())
                self.notify(f"going on past {len(confirmed)} budget{'s' if len(confirmed) != 1 else ''} for today",
                            timeout=5)
                self._update_status()

        self.push_screen(ConfirmScreen("Budget reached", body, "Go on for today"), answered)

    def on_session_changed(self, message: SessionChanged) -> None:
        self._pending[message.session.id] = message.session
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(0.03, self._flush_pending)

    def _flush_pending(self) -> None:
        """Apply engine updates in one redraw (a burst of events costs one frame)."""
        self._flush_scheduled = False
        if not self._list.is_attached:
            return
        pending, self._pending = self._pending, {}
        if not pending:
            return
        by_id = {s.id: i for i, s in enumerate(self.all_sessions)}
        for sid, session in pending.items():
            if sid in by_id:
                self.all_sessions[by_id[sid]] = session
            else:
                self.all_sessions.append(session)
        self._derive_notices()
        self._sessions_changed()

    def on_store_changed(self, _: StoreChanged) -> None:
        try:
            version = self.engine.store.data_version()
        except Exception:
            version = -2
        if version != self._data_version:
            self.reload_sessions()

    def on_engine_state(self, message: EngineState) -> None:
        self.engine_state = message.state
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
        self._update_status()

    def _refresh_ages(self) -> None:
        """The rows' "for 5m" and "3m ago" and the status bar move on with the clock."""
        self.session_list.refresh_times()
        self._update_status()

    def _refresh_countdowns(self) -> None:
        """Sessions waiting out a usage limit show a countdown: redrawn every second while there are any."""
        limited = [r.session for r in self.session_list.rows
                   if r.session is not None and r.session.activity.state is ActivityState.RATE_LIMITED]
        if not limited:
            return
        self.session_list.refresh_times()
        focused = self.focused_session()
        if focused is not None and focused.activity.state is ActivityState.RATE_LIMITED:
            self.detail.show(focused, self._work.get(focused.id), self.engine.events(focused.id, limit=30))

    @work(thread=True, exclusive=True, group="store-watch", exit_on_error=False)
    def _watch_store(self) -> None:
        from watchfiles import watch

        folder = Path(self.engine.store.path).parent
        name = Path(self.engine.store.path).name
        wanted = {name, f"{name}-wal"}

        def only_store(_change: Any, path: str) -> bool:
            return Path(path).name in wanted

        try:
            for _ in watch(folder, watch_filter=only_store, stop_event=self._watch_stop, recursive=False,
                           step=40, debounce=400, raise_interrupt=False):
                self.post_message(StoreChanged())
        except Exception as exc:  # the watch is a convenience: the app works without it
            log.warning("store watch stopped: %s", exc)

    @work(thread=True, exclusive=True, group="engine-start", exit_on_error=False)
    def _start_engine(self) -> None:
        from ao_tui.orchestrator.loop_hooks import leader_loop

        make_loop = self.make_loop or leader_loop
        self.post_message(EngineState("starting"))
        try:
            running = self.engine.start(make_loop)
        except AoError as exc:
            self.post_message(EngineState("off", str(exc)))
            return
        except Exception as exc:
            log.exception("engine start failed")
            self.post_message(EngineState("off", f"engine failed to start: {type(exc).__name__}: {exc}"))
            return
        self.post_message(EngineState("running" if running else "following"))
        if running:
            self._start_bridges()
        else:
            # A following app runs the engine the moment the process that ran it goes (kill -9
            # included): a thread sleeps until the engine lock is free (see ao_tui.leader).
            self.engine.start_when_free(
                make_loop, self._took_over, self._watch_stop,
                lambda exc: self.post_message(EngineState("following", f"taking over the engine failed: {exc}")))

    def _took_over(self) -> None:
        """From the takeover thread: this app now runs the engine."""
        self.post_message(EngineState("running"))
        self._start_bridges()

    def _start_bridges(self) -> None:
        """Chat bridges (``bridges:`` in the config) run where the engine runs; from a worker thread."""
        from ao_tui.bridges import start_bridges

        try:
            self._bridges, problems = start_bridges(self.engine)
        except Exception as exc:
            log.exception("starting the chat bridges")
            problems = [f"the chat bridges failed to start: {type(exc).__name__}: {exc}"]
        for problem in problems:
            self.call_from_thread(self.notify, problem, severity="warning", timeout=10)

    # -- focused session -----------------------------------------------------

    def focused_session(self) -> Session | None:
        return self.session_list.cursor_session

    def _require_session(self) -> Session | None:
        session = self.focused_session()
        if session is None:
            self.notify("No session selected", severity="warning")
        return session

    def _refresh_footer(self) -> None:
        """The key line depends on the cursor's session and on typing mode, not only on focus."""
        if not self.screen_stack:
            return
        for footer in self.screen_stack[0].query("#footer"):  # none while the app starts or stops
            footer.refresh()

    def on_session_list_highlighted(self, message: SessionList.Highlighted) -> None:
        self._refresh_footer()
        # Detail and terminal follow the cursor once it rests: holding j stays fast.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(0.08, lambda: self._refresh_focused(reload_work=True))

    def on_session_list_selected(self, message: SessionList.Selected) -> None:
        if self.narrow:
            self._show_tab("terminal")
        else:
            self.terminal.view.focus()

    def _refresh_focused(self, *, reload_work: bool) -> None:
        if not self._list.is_attached:
            return
        session = self.focused_session()
        # The terminal switch (a tmux round trip) runs as its own callback, so a key
        # pressed meanwhile is handled between the two halves rather than after both.
        self.call_later(self._show_terminal)
        if session is None:
            self.detail.show(None)
            return
        try:
            events = self.engine.events(session.id, limit=30)
        except Exception:
            events = []
        key = f"{session.id}@{session.updated_at.isoformat()}"
        work = self._work.get(session.id)
        self.detail.show(session, work, events)
        if reload_work or work is None or getattr(work, "key", None) != key:
            self._load_work(session.id, key)

    def _show_terminal(self) -> None:
        if self._list.is_attached:
            session = self.focused_session()
            self.terminal.show(session.id if session else None)

    @work(thread=True, exclusive=True, group="work", exit_on_error=False)
    def _load_work(self, session_id: str, key: str) -> None:
        info = WorkInfo()
        try:
            info.train = _train_of(self.engine, session_id)  # from the store: shown even without a workspace
            info.conflicts = _conflicts_of(self.engine, session_id)
            if not work_visible(self.engine.session(session_id)):
                raise AoError("no workspace (yet)")
            # From the workspace, or from the repository once the session is retired (workspace gone).
            info.commits = self.engine.commits(session_id, limit=10)
            info.files = self.engine.changed_files(session_id)
        except AoError as exc:
            info.error = str(exc)
        except Exception as exc:
            info.error = f"{type(exc).__name__}: {exc}"
        info.key = key  # type: ignore[attr-defined]
        self.call_from_thread(self._work_loaded, session_id, info)

    def _work_loaded(self, session_id: str, info: WorkInfo) -> None:
        if not any(s.id == session_id for s in self.all_sessions):
            return  # deleted while its work was read
        self._work[session_id] = info
        session = self.focused_session()
        if session is not None and session.id == session_id:
            try:
                events = self.engine.events(session.id, limit=30)
            except AoError:
                events = []
            self.detail.show(session, info, events)

    def jump_to(self, session_id: str) -> None:
        """Put the cursor on ``session_id`` (clearing a project filter that hides it); an older
        finished session the list leaves out is read and kept in the Done zone."""
        if not self.session_list.select_session(session_id):
            if not any(s.id == session_id for s in self.all_sessions):
                found = self.engine.store.find_session(session_id)
                if found is None:
                    self.notify(f"no session {session_id}", severity="warning")
                    return
                self._pinned[session_id] = None
                while len(self._pinned) > PINNED_MAX:
                    del self._pinned[next(iter(self._pinned))]
                self.all_sessions = [*self.all_sessions, found]
            if not any(s.id == session_id for s in self.visible_sessions()):
                self.project_filter = None
            self._sessions_changed()
            self.session_list.select_session(session_id)
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._refresh_focused(reload_work=True)  # a deliberate jump shows its session at once
        self._show_tab("list")

    def action_jump_row(self, number: int) -> None:
        session = self.session_list.session_at_hint(number)
        if session is not None:
            self.jump_to(session.id)

    # -- running engine calls ------------------------------------------------

    def run_engine(self, label: str, fn: Callable[..., Any], *args: Any,
                   on_done: Callable[[Any], None] | None = None, **kwargs: Any) -> None:
        """Call the engine off the UI thread; errors become notifications."""
        self._engine_call(label, fn, args, kwargs, on_done)

    @work(thread=True, group="engine-call", exit_on_error=False)
    def _engine_call(self, label: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                     on_done: Callable[[Any], None] | None) -> None:
        try:
            result = fn(*args, **kwargs)
        except AoError as exc:
            self.call_from_thread(self.notify, clean(str(exc)), title=label, severity="error", timeout=10)
            return
        except Exception as exc:
            log.exception("%s failed", label)
            self.call_from_thread(self.notify, clean(f"{type(exc).__name__}: {exc}"), title=f"{label} failed",
                                  severity="error", timeout=10)
            return
        if on_done is not None:
            self.call_from_thread(on_done, result)

    def load_backlog(self, project: str, screen: NewSessionScreen) -> None:
        def done(tasks: Any) -> None:
            if screen.is_attached:
                screen.set_tasks(tasks)

        self._backlog(project, screen, done)

    @work(thread=True, group="backlog", exclusive=True, exit_on_error=False)
    def _backlog(self, project: str, screen: NewSessionScreen, done: Callable[[Any], None]) -> None:
        try:
            tasks = self.engine.backlog(project)
        except Exception as exc:
            message = str(exc) if isinstance(exc, AoError) else f"backlog unavailable: {type(exc).__name__}: {exc}"
            self.call_from_thread(lambda: screen.set_tasks([], message) if screen.is_attached else None)
            return
        self.call_from_thread(done, tasks)

    def load_diff(self, session_id: str, path: str, screen: Any) -> None:
        self.run_engine("diff", self.engine.diff, session_id, path,
                        on_done=lambda text: screen.is_attached and screen.show_diff(text))

    def _diff_source(self, session_id: str) -> tuple[Any, WorkSpan]:
        """The changed files to show for ``d`` and where they come from (workspace, or the repository)."""
        return self.engine.changed_files(session_id), self.engine.work_span(session_id)

    # -- actions ---------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_undo_answer(self) -> None:
        """``U``: take back the orchestrator's last answer to the focused agent."""
        from ao_tui.errors import AoError
        from ao_tui.orchestrator.escalation import undo_answer

        session = self.focused_session()
        if session is None:
            return
        try:
            done = undo_answer(self.engine, session.id)
        except AoError as exc:
            self.notify(str(exc), severity="warning", timeout=5)
            return
        self.notify(f"{session.id}: the orchestrator's answer is undone ({done}); the question is yours",
                    timeout=8)
        self._refresh_focused(reload_work=False)

    def action_stats(self) -> None:
        """``$``: spend per day, per merged PR, task and agent kind; CI cycles and time to merge; budgets."""
        from ao_tui import budget
        from ao_tui.fleet_stats import fleet_stats
        from ao_tui.tui.screens.stats import StatsScreen

        now = self.clock()
        stats = fleet_stats(self.engine.store, self.project_filter, now=now)
        standings = [st.as_dict() for st in budget.standings(self.engine, now)]
        scope = f"project {self.project_filter}" if self.project_filter else "all projects"
        self.push_screen(StatsScreen(stats, standings, scope))

    def action_new_session(self) -> None:
        projects = list(self.engine.config.projects)
        if not projects:
            self.notify("No projects configured: run `ao init` in a repository", severity="error")
            return

        def chosen(request: NewSessionRequest | None) -> None:
            if request is None:
                return
            self.notify(f"Starting a session in {request.project}…", timeout=3)
            self.run_engine("new session", self.engine.spawn, request.project, task_id=request.task_id,
                            prompt=request.prompt, on_done=lambda s: self._spawned(s))

        self.push_screen(NewSessionScreen(projects, self.project_filter), chosen)

    def _spawned(self, session: Session) -> None:
        self.notify(f"Started {session.id}", timeout=4)
        self.reload_sessions()
        self.jump_to(session.id)

    def action_send_message(self) -> None:
        session = self._require_session()
        if session is None:
            return

        def send(text: str | None) -> None:
            if text:
                self.run_engine("send", self.engine.send, session.id, text,
                                on_done=lambda _: self.notify(f"Sent to {session.id}", timeout=3))

        self.push_screen(TextPromptScreen(f"Message to {clean(session.id)}", message_context(session), "Send"), send)

    def action_input_mode(self) -> None:
        session = self._require_session()
        if session is None:
            return
        if self.narrow:
            self._show_tab("terminal", focus=False)
        self.terminal.input_mode = True
        self._refresh_footer()

    def on_terminal_pane_left_input(self, _: TerminalPane.LeftInput) -> None:
        self._show_tab("list")
        self._refresh_footer()

    def action_leave_input(self) -> None:
        if self.terminal.input_mode:
            self.terminal.input_mode = False
            self._show_tab("list")
            self._refresh_footer()

    def action_attach(self) -> None:
        session = self._require_session()
        if session is None:
            return
        try:
            argv = self.engine.attach_argv(session.id)
        except AoError as exc:
            self.notify(clean(str(exc)), severity="error")
            return
        except Exception as exc:
            self.notify(clean(f"cannot attach: {type(exc).__name__}: {exc}"), severity="error")
            return
        # Say how to come back before the terminal is taken over: the toast is drawn and read first,
        # and the same line stays on the terminal under tmux's screen (seen again after detaching).
        hint = detach_hint(session.id, argv)
        self.notify(hint, title="attach", timeout=10)
        delay, self._attach_delay = getattr(self, "_attach_delay", ATTACH_DELAY), 0.05
        self.set_timer(delay, lambda: self._attach_terminal(argv, hint))

    def _attach_terminal(self, argv: list[str], hint: str) -> None:
        try:
            with self.suspend():
                if sys.__stdout__ is not None:
                    sys.__stdout__.write(f"{hint}\n")
                    sys.__stdout__.flush()
                subprocess.run(argv, check=False)
        except Exception as exc:  # SuspendNotSupported in a headless run
            self.notify(f"cannot suspend to attach ({type(exc).__name__}); run: {' '.join(argv)}",
                        severity="warning")
        self.refresh()

    def action_kill(self) -> None:
        session = self._require_session()
        if session is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_engine("kill", self.engine.kill, session.id,
                                on_done=lambda _: self.notify(f"Killed {session.id}", timeout=3))

        body = pr_summary(session)
        body.append("\n\nStops the agent and its terminal. The workspace and branch stay; r restores.", style="dim")
        self.push_screen(ConfirmScreen(f"Kill {clean(session.id)}?", body, "Kill", danger=True), confirmed)

    def action_restore(self) -> None:
        session = self._require_session()
        if session is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_engine("restore", self.engine.restore, session.id,
                                on_done=lambda _: self.notify(f"Restored {session.id}", timeout=3))

        body = pr_summary(session)
        body.append(f"\n\nNow: {status_since(session, self.clock())}. Restarts the agent in its workspace with its "
                    "conversation.", style="dim")
        self.push_screen(ConfirmScreen(f"Restore {clean(session.id)}?", body, "Restore"), confirmed)

    def action_approve(self) -> None:
        session = self._require_session()
        if session is None:
            return
        if session.pr is None:
            self.notify(f"{session.id} has no PR to approve", severity="warning")
            return
        blockers = self._blockers(session, "Approve")

        def chosen(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self.run_engine("approve", self.engine.approve, session.id,
                                on_done=lambda _: self.notify(f"Approved {session.id}", timeout=3))

        self.push_screen(MergeScreen(session, blockers, verb="Approve"), chosen)

    def action_merge(self) -> None:
        if self.session_list.marked:
            self._merge_train(sorted(self.session_list.marked))
            return
        session = self._require_session()
        if session is None:
            return
        if session.pr is None:
            self.notify(f"{session.id} has no PR to merge", severity="warning")
            return

        def chosen(result: tuple[bool, bool] | None) -> None:
            if result and result[0]:
                self.run_engine("merge", self.engine.merge, session.id, force=result[1],
                                on_done=lambda _: self.notify(f"Merged {session.id}", timeout=3))

        self.push_screen(MergeScreen(session, self._blockers(session, "Merge")), chosen)

    def _merge_train(self, ids: list[str]) -> None:
        """The marked PRs onto the merge train (ao_tui.merge_train), after a confirmation."""
        from ao_tui.merge_train import not_ready, plan_order

        by_id = {s.id: s for s in self.all_sessions}
        marked = [by_id[i] for i in ids if i in by_id]
        ready = [s for s in marked if not not_ready(s)]
        refused = [(s.id, not_ready(s)) for s in marked if not_ready(s)]
        body = Text()
        if ready:
            order = plan_order(self.engine.store, ready)
            body.append("Merged one at a time, each rebased onto the last and green again:\n")
            for n, s in enumerate(order, 1):
                body.append(f"  {n}. {clean(s.id)}  {clean(s.title)[:50]}\n")
        for sid, why in refused:
            body.append(f"  not ready: {clean(sid)} ({why})\n", style="red")
        if not ready:
            self.notify("none of the marked PRs is approved and green", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            from ao_tui.merge_train import enqueue

            def done(result: Any) -> None:
                added, _ = result
                self.session_list.marked.clear()
                self.session_list.refresh_times()
                self.notify(f"{len(added)} PR(s) on the merge train", timeout=4)

            self.run_engine("merge train", enqueue, self.engine, [s.id for s in ready], on_done=done)

        self.push_screen(ConfirmScreen(f"Merge {len(ready)} PR(s) by train?", body, "Start the train"), confirmed)

    def _blockers(self, session: Session, verb: str) -> list[str]:
        """Why the merge (or approve: only red or unfinished CI) dialog refuses."""
        blockers = self.engine.merge_blockers(session)
        return [b for b in blockers if b.startswith("CI")] if verb == "Approve" else blockers

    def _refresh_dialogs(self) -> None:
        """An open merge or approve dialog shows its session as it is now, not as it was when opened."""
        if len(self.screen_stack) < 2:
            return
        by_id = {s.id: s for s in self.all_sessions}
        for screen in self.screen_stack[1:]:
            if isinstance(screen, MergeScreen):
                session = by_id.get(screen.session.id)
                if session is not None and session != screen.session:
                    screen.update_facts(session, self._blockers(session, screen.verb))

    def action_request_changes(self) -> None:
        session = self._require_session()
        if session is None:
            return
        if session.pr is None:
            self.notify(f"{session.id} has no PR to review", severity="warning")
            return

        def send(text: str | None) -> None:
            if text:
                self.run_engine("request changes", self.engine.request_changes, session.id, text,
                                on_done=lambda _: self.notify(f"Changes requested on {session.id}", timeout=3))

        self.push_screen(TextPromptScreen(f"Request changes on {clean(session.id)}", pr_summary(session),
                                          "Request changes", placeholder="What should change?"), send)

    def action_diff(self) -> None:
        session = self._require_session()
        if session is None:
            return

        if not work_visible(session):
            self.notify(f"{session.id} has no workspace and no PR whose commits could be shown", severity="warning")
            return
        self.run_engine("diff", self._diff_source, session.id,
                        on_done=lambda found: self._show_diff(session.id, found))

    def _show_diff(self, session_id: str, found: tuple[Any, Any]) -> None:
        from ao_tui.tui.screens.diff import DiffScreen

        self.push_screen(DiffScreen(session_id, found[0], span=found[1]))

    def action_filter_project(self) -> None:
        projects = sorted({*self.engine.config.projects, *(s.project for s in self.all_sessions)})
        choices = [(ALL_PROJECTS, "All projects")] + [(p, p) for p in projects]

        def chosen(choice: str | None) -> None:
            if choice is None:
                return
            self.project_filter = None if choice == ALL_PROJECTS else choice
            self._sessions_changed()

        self.push_screen(PickerScreen("Show sessions of", choices, self.project_filter or ALL_PROJECTS), chosen)

    def action_pick_theme(self) -> None:
        before = self.theme
        screen = PickerScreen("Theme", [(n, n) for n in self.ao_theme_names], before)
        screen.preview = lambda name: setattr(self, "theme", name)  # type: ignore[attr-defined]

        def chosen(name: str | None) -> None:
            if name is None:
                self.theme = before
            else:
                self.set_ao_theme(name)

        self.push_screen(screen, chosen)

    def set_ao_theme(self, name: str) -> None:
        """Switch theme and remember it (store setting ``tui.theme``)."""
        self.theme = name
        try:
            self.engine.store.set_setting(THEME_SETTING, name)
        except Exception as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")

    def _saved_theme(self) -> str | None:
        try:
            saved: str | None = self.engine.store.get_setting(THEME_SETTING)
            return saved
        except Exception:
            return None

    def action_toggle_chat(self) -> None:
        chat = self._main("#chat")
        if self._chat is None:
            self._chat = self._make_chat()
            chat.mount(self._chat)
        self.chat_visible = not self.chat_visible
        chat.display = self.chat_visible
        tabs = self._main("#tabs")
        if self.chat_visible and not tabs.query("#tab-chat"):
            tabs.add_tab(Tab("Chat", id="tab-chat"))
        elif not self.chat_visible and tabs.query("#tab-chat"):
            tabs.remove_tab("tab-chat")
        if self.chat_visible:
            self._show_tab("chat") if self.narrow else self._chat.focus()
        else:
            self._show_tab("list")

    def _make_chat(self) -> Any:
        try:
            from ao_tui.tui.chat_pane import ChatPane

            return ChatPane(self.engine, id="chat-pane")
        except Exception as exc:  # a broken chat must not take the control room down
            log.exception("chat pane")
            return Static(f"The orchestrator chat failed to start: {clean(str(exc))}", id="chat-placeholder")
