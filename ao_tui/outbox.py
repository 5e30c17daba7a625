"""The outbox: messages queued for an agent (reactions, the orchestrator, ``ao send --queue``),
typed in once it is at its prompt, each exactly once.

- **When:** only at the agent's prompt (idle, or a question asked in words; never a dialog), and
  not while it is *fenced*: after anything is typed into it (by ao, the human, another process),
  nothing more until it is seen busy, its screen shows it back at its prompt, or ``fence_seconds``
  passed (its hooks may not have reported the new turn yet).
- **Still relevant:** a CI failure or conflict keyed by a head commit the branch has moved past is
  dropped, not typed (``superseded``); a spent budget holds ao's own messages.
- **Once:** a message is marked attempted before it is typed and delivered after; a write a full
  disk refused is made on the next pass (never typed twice). After a crash, a message attempted
  but not recorded is looked for in the agent's transcript and hook events (and an input line
  holding it unsent is submitted) before it would be typed again (``resolve_interrupted``).

The loop (``ao_tui.engine_loop``) owns one and calls it on every pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ao_tui.activity.jsonl_tail import tail_objects
from ao_tui.activity.transcript import HUMAN_TOOLS
from ao_tui.budget import holds
from ao_tui.errors import AoError
from ao_tui.limit_resume import is_continue_key
from ao_tui.models import ActivityState, Event, Session, SessionStatus

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.loop")

#: Activity states at which a queued message may be typed into the agent.
AT_PROMPT = frozenset({ActivityState.IDLE, ActivityState.WAITING_INPUT})
#: How far back an interrupted delivery is looked for in the agent's events and transcript.
OUTBOX_TAIL_BYTES = 4 << 20


def at_prompt(state: ActivityState, tool: str | None) -> bool:
    """Whether typed text lands in the agent's prompt: idle, or a question asked in words. Never a
    dialog (AskUserQuestion's choices, plan approval): there text and Enter would pick an answer
    for the human."""
    return state in AT_PROMPT and tool not in HUMAN_TOOLS


def superseded(key: str, session: Session) -> str:
    """Why a queued reaction message no longer applies ("" if it does).

    A CI failure or merge conflict is keyed by the head commit it was seen on
    (``<session>:ci_failed:<head>``); once the PR's head has moved past it (the
    agent pushed a fix meanwhile), telling the agent about it would send it
    chasing a problem that may be gone. The new head gets its own verdict.
    """
    parts = key.split(":")
    if len(parts) < 3 or parts[1] not in ("ci_failed", "merge_conflict") or parts[-1] == "escalated":
        return ""
    head = session.pr.head_sha if session.pr else ""
    if head and parts[2] and head != parts[2]:
        return f"the branch moved from {parts[2][:8]} to {head[:8]}"
    return ""


class Outbox:
    """Queued messages typed into agents at their prompt (see the module's docstring)."""

    #: After typing into an agent, no further message until it is seen busy (or this long passed):
    #: its hooks may not have reported the new turn yet, and a second message must not land on top.
    fence_seconds = 10.0
    fence_screen_after = 1.0

    def __init__(self, engine: Engine, screen_reader: Callable[[str], tuple[str, str] | None]) -> None:
        self.engine = engine
        self.store = engine.store
        self._screen_reader = screen_reader  # the loop's: a session's screen, or None
        self.fences: dict[str, float] = {}  # session -> when something was typed into it (monotonic)
        self.fence_checked: dict[str, float] = {}  # session -> when its screen was last read for the fence
        # queued messages typed whose delivery was not recorded: id -> (session, key, chars)
        self._typed_unrecorded: dict[int, tuple[str, str | None, int]] = {}

    # -- fences --------------------------------------------------------------------------

    def fence(self, session_id: str) -> None:
        """Something was just typed into the agent: hold queued messages until it is seen busy."""
        self.fences[session_id] = time.monotonic()

    def unfence(self, session_id: str) -> None:
        """The agent took up what was typed (seen busy), or the typing failed."""
        self.fences.pop(session_id, None)

    def fence_recent(self, last_event: int) -> None:
        """Messages typed moments before this loop began (by the leader before it, or by hand):
        queued ones wait for the agent to take them up, as they would have under that leader."""
        for e in self.store.events(after_id=max(0, last_event - 500)):
            if e.kind == "message":
                self.fence_at(e.session_id, e.at)

    def fence_at(self, session_id: str, typed: datetime) -> None:
        """Fence a session for a message typed at ``typed`` (wall clock), if that is recent."""
        age = max(0.0, time.time() - typed.timestamp())
        if age < self.fence_seconds:
            self.fences[session_id] = max(self.fences.get(session_id, 0.0), time.monotonic() - age)

    def fenced(self, session: Session) -> bool:
        """Whether a message typed moments ago may still be unseen by the agent's signals.

        Cleared when the monitor reports the agent busy (``on_activity``); when its
        screen, read here at most once a second from a second after typing, shows it
        at its prompt again (a turn shorter than the monitor's look, or a screen-only
        agent); or after ``fence_seconds``.
        """
        typed = self.fences.get(session.id)
        if typed is None:
            return False
        now = time.monotonic()
        if now - typed >= self.fence_seconds:
            self.fences.pop(session.id, None)
            return False
        if now - typed >= self.fence_screen_after and now - self.fence_checked.get(session.id, 0.0) >= 1.0:
            self.fence_checked[session.id] = now
            guess = None
            try:
                screen = self._screen_reader(session.id)
                if screen is not None:
                    guess = self.engine.agent(session).read_screen(*screen)
            except Exception as exc:
                log.debug("fence screen check for %s failed: %s", session.id, exc)
            if guess is not None and at_prompt(guess.state, guess.tool):
                self.fences.pop(session.id, None)
                return False
        return True

    def deliver(self) -> None:
        """Type each queued message whose agent is at its prompt and not fenced; record it delivered."""
        for msg in self.store.pending_messages():
            if msg["id"] in self._typed_unrecorded:
                continue  # typed already; only its record waits for space
            try:
                session = self.engine.session(msg["session_id"])
            except AoError:
                continue
            if session.status in (SessionStatus.KILLED, SessionStatus.DONE, SessionStatus.MERGED, SessionStatus.EXITED):
                continue
            if is_continue_key(msg.get("key")):
                continue  # typed by self.limits.deliver, every limited agent at once
            if msg.get("key") and holds(self.engine, session):
                continue  # a spent budget: ao's own messages wait (what the human queued does not)
            if not at_prompt(session.activity.state, session.activity.tool) or self.fenced(session):
                continue
            stale = superseded(msg.get("key") or "", session)
            if stale:
                if self.store.mark_delivered(msg["id"]):  # never typed: the failure it reports is history
                    self.store.add_event(Event(session_id=session.id, kind="message_dropped",
                                               data={"key": msg["key"], "reason": stale}))
                continue
            self.store.mark_attempted(msg["id"])
            self.fence(session.id)
            try:
                self.engine.agent(session).submit(self.engine.runtime(session), session.runtime_handle, msg["text"])
            except Exception as exc:
                log.warning("delivery to %s failed: %s", session.id, exc)
                self.fences.pop(session.id, None)
                continue
            self._typed_unrecorded[msg["id"]] = (session.id, msg["key"], len(msg["text"]))
            self.record(msg["id"], session.id, msg["key"], len(msg["text"]))

    def record(self, msg_id: int, session_id: str, key: str | None, chars: int) -> None:
        """Mark a typed message delivered; a full disk leaves it to the next tick (it is never typed twice)."""
        try:
            if self.store.mark_delivered(msg_id):
                self.store.add_event(Event(session_id=session_id, kind="message",
                                           data={"from": "ao", "key": key, "chars": chars}))
        except Exception as exc:
            if not self.engine.disk.report(exc):
                raise
            return
        self._typed_unrecorded.pop(msg_id, None)

    def resolve_interrupted(self) -> None:
        """Messages typed just before a crash: delivered if the agent's transcript or its
        ``UserPromptSubmit`` hook event has them (else they are typed again)."""
        for msg in self.store.pending_messages():
            if not msg.get("attempted_at"):
                continue
            try:
                session = self.engine.session(msg["session_id"])
                agent = self.engine.agent(session)
                path = agent.transcript_path(self.engine.launch_spec(session)) if agent.has_transcript else None
                events = self.engine.events_file(session.id)
                since = datetime.fromisoformat(msg["attempted_at"]).timestamp() - 1.0
            except Exception:
                continue
            seen = (path is not None and path.exists() and _transcript_has_prompt(path, msg["text"])) or (
                events.exists() and _events_have_prompt(events, msg["text"], since))
            if not seen and self._typed_but_unsent(session, msg["text"]):
                # The crash fell between the paste and Enter: submit what is there, do not type it twice.
                try:
                    self.engine.runtime(session).send_keys(session.runtime_handle, "Enter")
                    seen = True
                except Exception as exc:
                    log.warning("submitting the typed message to %s failed: %s", session.id, exc)
            if seen and self.store.mark_delivered(msg["id"]):
                log.info("message %s to %s was delivered before the restart", msg["key"] or msg["id"], session.id)
                self.store.add_event(Event(session_id=session.id, kind="message",
                                           data={"from": "ao", "key": msg["key"], "chars": len(msg["text"]),
                                                 "found_after_restart": True}))

    def _typed_but_unsent(self, session: Session, text: str) -> bool:
        """Whether the agent's input line shows ``text`` typed and not submitted: its first
        line, or Claude Code's ``[Pasted text #n +k lines]`` with the same line count."""
        screen = self._screen_reader(session.id)
        if screen is None:
            return False
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")[:40]
        pasted = f"+{text.count(chr(10))} lines]"
        lines = screen[0].rstrip().splitlines()  # the screen below the input box is often empty
        for line in reversed(lines[-15:]):
            stripped = line.strip()
            if stripped.startswith(("❯", ">")):  # the input line: the lowest prompt on the screen
                typed = stripped.lstrip("❯>").strip()
                return bool(("[Pasted text #" in typed and pasted in typed) or (first and typed.startswith(first)))
        return False

    def record_typed(self) -> None:
        """Record the deliveries a full disk refused (the messages were typed; never again)."""
        for msg_id, (sid, key, chars) in sorted(self._typed_unrecorded.items()):
            self.record(msg_id, sid, key, chars)

    def forget(self, keep: set[str]) -> None:
        """Drop the fences of sessions not in ``keep`` (retired or deleted)."""
        for table in (self.fences, self.fence_checked):
            for sid in [k for k in table if k not in keep]:
                table.pop(sid, None)


def _same_prompt(seen: str, sent: str) -> bool:
    """Whether a prompt the agent reported is the text ao typed (whitespace aside; the hook
    trims long prompts, ending them with "…")."""
    a, b = " ".join(seen.rstrip("…").split()), " ".join(sent.split())
    if not a or not b:
        return False
    return a == b or (len(a) >= 40 and b.startswith(a)) or (len(b) >= 40 and a.startswith(b))


def _events_have_prompt(path: Path, text: str, since: float) -> bool:
    """Whether a ``UserPromptSubmit`` hook event at or after ``since`` carries ``text``."""
    for event in tail_objects(path, OUTBOX_TAIL_BYTES):
        if event.get("event") != "UserPromptSubmit":
            continue
        at = event.get("at")
        if isinstance(at, (int, float)) and at < since:
            continue
        if isinstance(event.get("prompt"), str) and _same_prompt(event["prompt"], text):
            return True
    return False


def _transcript_has_prompt(path: Path, text: str) -> bool:
    """Whether a user record near the end of a Claude transcript holds ``text``."""
    needle = text.strip()
    for record in tail_objects(path, OUTBOX_TAIL_BYTES):
        if record.get("type") != "user":
            continue
        content = record.get("message", {}).get("content")
        if isinstance(content, str) and needle in content:
            return True
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and needle in str(block.get("text", "")):
                    return True
    return False
