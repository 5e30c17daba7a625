"""Aider's chat history (``.aider.chat.history.md`` in the worktree) read into a TranscriptState.

Aider 0.86.2 appends to it as things happen (aider/io.py, observed in
tests/fixtures/events/aider/0.86.2/chat.history.md):

- ``# aider chat started at <time>``: it (re)started, at its prompt;
- ``#### <line>``: a message the human (or ao) submitted, one such line per line;
- plain lines: its answer, written whole once streamed;
- ``> <line>``: what it printed besides: ``Tokens: N sent, M received. Cost: ...``,
  an answered question (``Create new file? (Y)es/(N)o [Yes]: y``), an error
  (``litellm.BadRequestError: ...``), ``Retrying in 0.5 seconds...``, edits and commits.

It says when a turn starts, fails, is retried or gets an answer, never when it
ends: aider's prompt (and the question it asks before it is answered) is on its
screen only, which ao reads alongside (``ActivityMonitor.track(screen_polled=True)``).
"""

from __future__ import annotations

import re

from ao_tui.activity.records import Kind
from ao_tui.activity.tail import TruncatedLine
from ao_tui.activity.transcript import TranscriptParser
from ao_tui.models import Usage

FILE_NAME = ".aider.chat.history.md"

TOKENS = re.compile(r"Tokens: ([\d.,]+[kM]?) sent(?:, ([\d.,]+[kM]?) cache write)?(?:, ([\d.,]+[kM]?) cache hit)?, "
                    r"([\d.,]+[kM]?) received\.(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?")
_ERROR = re.compile(r"^(?:litellm\.\w*(?:Error|Exception)|\w*(?:Error|Exception): )")
#: aider's own words for litellm's errors (aider/exceptions.py), printed after them.
_ABOUT_ERROR = re.compile(r"^(?:The API provider|Insufficient credits with the API provider)")
_RETRY = re.compile(r"^Retrying in [\d.]+ seconds")
_ANSWERED = re.compile(r"\(Y\)es/\(N\)o.*\]:\s*\S")


def count(value: str | None) -> int:
    """A token count as aider prints it ("1.2k", "598")."""
    if not value:
        return 0
    scale = {"k": 1_000, "M": 1_000_000}.get(value[-1], 1)
    try:
        return int(float(value.rstrip("kM").replace(",", "")) * scale)
    except ValueError:
        return 0


def usage_from_history(text: str) -> Usage | None:
    """The sums of aider's per-answer token lines (rounded as it prints them: "1.2k"); cost from the last one."""
    parser = AiderHistoryParser()
    for line in text.splitlines():
        parser.account_line(line.encode())
    parser.sync_usage()
    return parser.state.usage if parser.answers else None


class AiderHistoryParser(TranscriptParser):
    """Applies chat history lines, in order, to a TranscriptState (the interface of TranscriptParser)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0  # token lines seen
        self._answer: list[str] = []  # the answer being read
        self._error = ""  # the error lines just read (until a retry or another line)
        self._session_cost = 0.0  # aider's own running total (a restarted aider counts again from 0)
        self._cost_before = 0.0  # what earlier runs in the same file cost

    def feed_line(self, line: bytes) -> None:
        if isinstance(line, TruncatedLine):
            self.state.bad_lines += 1
            return
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        self.state.records += 1
        self.state.revision += 1
        self._line(text, state_too=True)

    def account_line(self, line: bytes) -> None:
        if not isinstance(line, TruncatedLine):
            self._line(line.decode("utf-8", "replace").rstrip("\r\n"), state_too=False)

    def _line(self, text: str, *, state_too: bool) -> None:
        st = self.state
        body = text.strip()
        if body and not body.startswith("> "):
            self._error = ""
        if body.startswith("> "):
            quoted = body[2:].strip()
            tokens = TOKENS.search(quoted)
            if tokens:
                self._tokens(tokens)
                return
            if not state_too:
                return
            if _RETRY.match(quoted):
                st.api_error = f"{self._error} ({quoted})"[:500] if self._error else quoted[:500]
                self._error = ""
                st.turn_ended = False
                self.decided(Kind.RETRYING, None)
            elif _ERROR.match(quoted) or _ABOUT_ERROR.match(quoted):
                # aider prints litellm's error, then its own words for it ("The API provider has rate
                # limited you..."): one error, both lines
                self._error = f"{self._error} · {quoted}" if self._error else quoted
                st.api_error = self._error[:500]
                st.turn_ended = True
                self.decided(Kind.API_ERROR, None)
            elif _ANSWERED.search(quoted):
                self._error = ""
                st.turn_ended = False
                self.decided(Kind.TOOL_RESULT, None)  # the human answered its question: it goes on
            else:
                self._error = ""
            return
        if not state_too:
            return
        if body.startswith("# aider chat started at"):
            self._answer = []
            st.last_text = ""
            st.turn_ended = True
            self.decided(Kind.TURN_END, None)
        elif body.startswith("####"):
            self._answer = []
            self.prompt_started(None)
        elif body and st.kind in (Kind.PROMPT, Kind.TEXT, Kind.TOOL_RESULT, Kind.RETRYING):
            self._answer.append(body)
            st.last_text = "\n".join(self._answer)[-4000:]
            st.turn_ended = False
            self.decided(Kind.TEXT, None)

    def _tokens(self, found: re.Match[str]) -> None:
        self.answers += 1
        session_cost = float(found.group(6)) if found.group(6) else None
        if session_cost is not None:
            if session_cost < self._session_cost:  # aider restarted: its session total began again
                self._cost_before += self._session_cost
            self._session_cost = session_cost
        t = self._totals
        t[0] += count(found.group(1))
        t[1] += count(found.group(4))
        t[2] += count(found.group(2))
        t[3] += count(found.group(3))
        t[4] = self._cost_before + self._session_cost
        self._usage_dirty = True
