"""Command palette providers: jump to a session, run an action, switch theme.

A session is found by id, PR number (``#1121``, or ``#11`` for every PR starting
with 11), task id, branch, status or title words. Exact id and PR matches rank first.
Older finished sessions, which the list leaves out, are found the same way (not by status).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from ao_tui.attention import ZONE_TITLES, zone_of
from ao_tui.models import Session
from ao_tui.tui.bindings import APP_BINDINGS
from ao_tui.tui.text import clean
from ao_tui.tui.wording import status_words

if TYPE_CHECKING:
    from ao_tui.tui.app import AoApp


def session_label(session: Session) -> Text:
    text = Text(clean(session.id), style="bold")
    if session.pr and session.pr.number is not None:
        text.append(f"  #{session.pr.number}", style="bold")
    text.append(f"  {clean(session.title)}")
    zone, words = ZONE_TITLES[zone_of(session)], status_words(session.status)
    status = zone if words.lower() == zone.lower() else f"{zone} · {words}"
    text.append(f"  {status} · {clean(session.branch)}", style="dim")
    return text


def match_session(query: str, session: Session) -> tuple[float, str] | None:
    """(score, what matched) for a palette query, or None."""
    q = query.strip().lower()
    if not q:
        return None
    number = q.lstrip("#")
    if q == session.id.lower():
        return 1.0, "id"
    if number.isdigit() and session.pr and session.pr.number is not None:
        if int(number) == session.pr.number:
            return 1.0 if q.startswith("#") else 0.95, "pr"
        if q.startswith("#") and str(session.pr.number).startswith(number):
            # ``#3`` lists PRs 3, 31, 312...: the shorter the number, the closer the match (exact first).
            return 0.9 - 0.01 * min(10, len(str(session.pr.number)) - len(number)), "pr"
    if session.task_id and number == session.task_id.lower():
        return 0.9, "task"
    if q in (session.status.value, status_words(session.status).lower(), zone_of(session).value,
             ZONE_TITLES[zone_of(session)].lower()):
        return 0.7, "status"
    if q in session.id.lower():
        return 0.8, "id"
    if len(q) >= 3 and q in status_words(session.status).lower():
        return 0.65, "status"
    if q in session.branch.lower():
        return 0.6, "branch"
    if q in session.title.lower():
        return 0.5, "title"
    return None


class SessionCommands(Provider):
    """Jump to a session."""

    @property
    def _app(self) -> AoApp:
        return self.app  # type: ignore[return-value]

    async def search(self, query: str) -> Hits:
        for session in self._app.all_sessions:
            found = match_session(query, session)
            if found is None:
                continue
            score, matched = found
            yield Hit(score, session_label(session), partial(self._app.jump_to, session.id),
                      text=f"{session.id} {session.title}", help=f"jump to session (matched {matched})")
        # The older finished sessions the list leaves out: the store finds the few that mention the query.
        for session in self._app.find_older(query):
            found = match_session(query, session)
            if found is None or found[1] == "status":  # "done" would list the whole history
                continue
            score, matched = found
            yield Hit(score * 0.98, session_label(session), partial(self._app.jump_to, session.id),
                      text=f"{session.id} {session.title}", help=f"jump to an older session (matched {matched})")

    async def discover(self) -> Hits:
        for session in self._app.all_sessions:
            yield DiscoveryHit(session_label(session), partial(self._app.jump_to, session.id),
                               text=f"{session.id} {session.title}", help="jump to session")


class ActionCommands(Provider):
    """Every footer action, by name."""

    def _actions(self) -> list[tuple[str, str, Any]]:
        app = self.app
        out = []
        for binding in APP_BINDINGS:
            if binding.id in ("palette", "palette_alt", "back", "leave_input") or (binding.id or "").startswith("row_"):
                continue
            out.append((binding.description, binding.tooltip or binding.description,
                        partial(app.run_action, binding.action)))
        return out

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for description, explanation, action in self._actions():
            score = matcher.match(description)
            if score > 0:
                yield Hit(score * 0.5, matcher.highlight(description), action, text=description, help=explanation)

    async def discover(self) -> Hits:
        for description, explanation, action in self._actions():
            yield DiscoveryHit(description, action, text=description, help=explanation)


class ThemeCommands(Provider):
    """``theme: <name>`` switches (and remembers) the theme."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        app: Any = self.app
        for name in app.ao_theme_names:
            label = f"theme: {name}"
            score = matcher.match(label)
            if score > 0:
                yield Hit(score * 0.6, matcher.highlight(label), partial(app.set_ao_theme, name), text=label,
                          help="switch theme (remembered)")

    async def discover(self) -> Hits:
        app: Any = self.app
        for name in app.ao_theme_names:
            yield DiscoveryHit(f"theme: {name}", partial(app.set_ao_theme, name), text=f"theme: {name}",
                               help="switch theme (remembered)")
