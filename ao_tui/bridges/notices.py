"""The notifications that matter on a phone, derived from session changes.

Needs you (a question, a permission, stuck, or escalated: CI still failing
after its retries, for one), ready to merge, a green PR waiting for your
review, and all done. Each is said once per change, with the buttons that act
on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ao_tui.attention import Zone, zone_of
from ao_tui.models import CheckState, ReviewState, Session


@dataclass(frozen=True)
class Notice:
    kind: str  # needs_you, ready_to_merge, review, all_done
    session_id: str | None
    text: str
    actions: tuple[str, ...] = ()  # approve, merge, open


def why_needed(session: Session) -> str:
    if session.escalation:
        return session.escalation
    return session.activity.detail or session.status.value.replace("_", " ")


class NoticeWatch:
    """Compares each session with how it was last seen; ``seed`` first so old news is not news."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Zone, CheckState | None, str]] = {}
        self._review_asked: set[tuple[str, str]] = set()
        self._live: set[str] = set()
        self._had_live = False

    def seed(self, sessions: list[Session]) -> None:
        for s in sessions:
            self._seen[s.id] = self._key(s)
            if zone_of(s) is not Zone.DONE:
                self._live.add(s.id)
            if self._awaits_review(s):
                self._review_asked.add((s.id, s.pr.head_sha if s.pr else ""))
        self._had_live = bool(self._live)

    @staticmethod
    def _key(s: Session) -> tuple[Zone, CheckState | None, str]:
        return zone_of(s), s.pr.ci if s.pr else None, s.escalation or ""

    @staticmethod
    def _awaits_review(s: Session) -> bool:
        pr = s.pr
        return (zone_of(s) is Zone.IN_REVIEW and pr is not None and pr.ci in (CheckState.PASSED, CheckState.NONE)
                and pr.review is not ReviewState.APPROVED and not pr.has_conflicts)

    def changed(self, s: Session) -> list[Notice]:
        before = self._seen.get(s.id)
        now = self._key(s)
        self._seen[s.id] = now
        notices: list[Notice] = []
        zone = now[0]
        old_zone = before[0] if before else None
        title = s.task_title or s.title
        if zone is Zone.NEEDS_YOU and (old_zone is not Zone.NEEDS_YOU or (before and now[2] and now[2] != before[2])):
            notices.append(Notice("needs_you", s.id, f"{s.id} needs you: {why_needed(s)}\n{title}", ("open",)))
        elif zone is Zone.READY_TO_MERGE and old_zone is not Zone.READY_TO_MERGE:
            pr = f"PR #{s.pr.number} " if s.pr else ""
            notices.append(Notice("ready_to_merge", s.id, f"{s.id}: {pr}approved and green, ready to merge\n{title}",
                                  ("merge", "open")))
        elif self._awaits_review(s) and (s.id, s.pr.head_sha if s.pr else "") not in self._review_asked:
            self._review_asked.add((s.id, s.pr.head_sha if s.pr else ""))
            notices.append(Notice("review", s.id, f"{s.id}: PR #{s.pr.number if s.pr else '?'} is green and waits "
                                                  f"for your review\n{title}", ("approve", "open")))
        if zone is Zone.DONE:
            self._live.discard(s.id)
        else:
            self._live.add(s.id)
            self._had_live = True
        if self._had_live and not self._live:
            self._had_live = False
            notices.append(Notice("all_done", None, "All done: no session is working or waiting any more."))
        return notices
