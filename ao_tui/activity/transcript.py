"""Claude Code transcripts (``<session-id>.jsonl``) read incrementally into a TranscriptState.

The format is described in /work/shared/reference/claude-code.md. What matters
for activity: a user prompt starts a turn; an assistant ``tool_use`` stays open
until a user record carries its ``tool_result``; ``end_turn`` or a ``system``
``turn_duration`` record ends the turn; an assistant record with
``isApiErrorMessage`` is an API failure after Claude Code's own retries; a user
text ``[Request interrupted by user`` is the human pressing Esc. Unknown record
types are ignored, and subagent (``isSidechain``) records only add usage.

A large existing file is not parsed whole: the state comes from its last few
MB, and usage from a streaming pass that parses only the lines that can carry
usage or PR links (``TranscriptReader.load``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ao_tui.activity.codex_rollout import ROLLOUT_TYPES, apply_rollout_record
from ao_tui.activity.gemini_chat import apply_gemini_record, is_gemini_record
from ao_tui.activity.pricing import cost_usd
from ao_tui.activity.records import PR_URL, Kind, OpenTool, text_of
from ao_tui.activity.tail import LineTail, TruncatedLine
from ao_tui.activity.usage_count import UsageCount, named_model
from ao_tui.models import ActivityState, Usage

#: Files up to this size are parsed whole on first sight.
FULL_PARSE_LIMIT = 8 << 20
#: For larger files, the state is decided by the records in this many final bytes.
STATE_TAIL_BYTES = 4 << 20
STREAM_CHUNK = 1 << 20
#: Appended bytes parsed per batch.
READ_BATCH = 4 << 20
#: What makes an old line worth parsing in the usage pass. (GitLab merge request
#: links are found in the state tail and in new lines, not in the old prefix:
#: one more full scan of the file is not worth it.)
_PREFIX_NEEDLES = (b'"usage"', b"/pull/", b'"token_count"', b'"tokens"', b"> Tokens: ")

_TOOL_USE_ID = re.compile(rb'"tool_use_id"\s*:\s*"([^"\\]+)"')
_TYPE_FIELD = re.compile(rb'"type"\s*:\s*"([a-z_-]+)"')
_SIDECHAIN = re.compile(rb'"isSidechain"\s*:\s*true')
_INTERRUPTED = "[Request interrupted by user"
_LOCAL_COMMAND_PREFIXES = ("<command-name>", "<command-message>", "<local-command", "<bash-input>", "<bash-stdout>")
#: tool_input fields that say what a tool is about, most telling first.
_TARGET_FIELDS = ("file_path", "notebook_path", "command", "pattern", "url", "query", "path", "description", "prompt",
                  "plan")


def _lines_with(data: bytes, end: int, needles: tuple[bytes, ...]) -> list[tuple[int, int]]:
    """(start, stop) of each line in ``data[:end]`` containing any needle, in order, once."""
    spans: set[tuple[int, int]] = set()
    for needle in needles:
        i = data.find(needle, 0, end)
        while i >= 0:
            start = data.rfind(b"\n", 0, i) + 1
            stop = data.find(b"\n", i, end)
            stop = end if stop < 0 else stop
            spans.add((start, stop))
            i = data.find(needle, stop, end)
    return sorted(spans)


#: Claude Code 2.1.3xx records pasted text inside these tags (2.1.197 did not).
_PASTED = re.compile(r'<pasted_content id="[^"]*">\n?(.*?)\n?</pasted_content id="[^"]*">', re.DOTALL)


def unwrap_pasted(text: str) -> str:
    """A user turn as it was typed or pasted, without the tags newer Claude Code wraps pastes in."""
    return _PASTED.sub(lambda m: m.group(1), text).strip() if "<pasted_content" in text else text


def asks_question(text: str) -> bool:
    """Whether the agent's last words end by asking the human something.

    The last line ends with '?', or the text ends with a list of options
    introduced by a line ending with '?'.
    """
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return False

    def bare(line: str) -> str:
        return line.rstrip("*_`\"')] ").rstrip()

    if bare(lines[-1]).endswith("?"):
        return True
    i = len(lines) - 1
    while i >= 0 and re.match(r"^(?:[-*•]|\d+[.)]|[a-zA-Z][.)])\s", lines[i]):
        i -= 1
    return i < len(lines) - 1 and i >= 0 and bare(lines[i]).endswith(("?", "?:"))


def question_of(text: str, limit: int = 300) -> str:
    """The line that asks (the last one ending with '?'), else the last line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.rstrip("*_`\"')] ").endswith(("?", "?:")):
            return line[:limit]
    return lines[-1][:limit] if lines else ""


def human_tool_detail(name: str, target: str) -> str:
    if name == "ExitPlanMode":
        return f"approve the plan: {target}" if target else "approve the plan"
    return target or name


def parse_time(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


#: Tools that stop for the human rather than run: their open tool_use is a wait, not work.
HUMAN_TOOLS = {"AskUserQuestion": ActivityState.WAITING_INPUT, "ExitPlanMode": ActivityState.WAITING_PERMISSION}


def tool_target(tool_input: object) -> str:
    if not isinstance(tool_input, dict):
        return ""
    questions = tool_input.get("questions")  # AskUserQuestion
    if isinstance(questions, list) and questions and isinstance(questions[0], dict):
        return str(questions[0].get("question", ""))[:200]
    for name in _TARGET_FIELDS:
        value = tool_input.get(name)
        if isinstance(value, str) and value:
            value = value.strip().splitlines()[0] if value.strip() else ""
            return value[:200]
    return ""


@dataclass
class TranscriptState:
    """What a transcript says about its agent, up to the last complete line read."""

    kind: str = Kind.NONE
    at: float | None = None  # the deciding record's own timestamp (epoch seconds)
    open_tools: dict[str, OpenTool] = field(default_factory=dict)
    turn_ended: bool = False
    stop_reason: str = ""
    last_text: str = ""  # the last thing the agent said
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    pr_links: list[str] = field(default_factory=list)
    api_error: str = ""  # set while the last turn ended in an API error
    api_error_status: int | None = None
    agent_session_id: str = ""
    cwd: str = ""
    git_branch: str = ""
    records: int = 0  # JSON records read (all types, main and sidechain)
    sidechain_records: int = 0
    bad_lines: int = 0  # garbage or truncated lines skipped
    revision: int = 0  # bumped whenever anything above changes

    @property
    def current_tool(self) -> OpenTool | None:
        return next(reversed(self.open_tools.values()), None) if self.open_tools else None

    def verdict(self) -> tuple[ActivityState, str, str | None]:
        """The transcript's own opinion: (state, detail, tool)."""
        if self.kind == Kind.NONE:
            return ActivityState.UNKNOWN, "", None
        if self.kind == Kind.API_ERROR:
            return ActivityState.ERRORED, self.api_error, None
        tool = self.current_tool
        if tool is not None:
            waiting = HUMAN_TOOLS.get(tool.name)
            if waiting is not None:
                return waiting, human_tool_detail(tool.name, tool.target), tool.name
            return ActivityState.RUNNING_TOOL, tool.label, tool.name
        if self.kind == Kind.INTERRUPT:
            return ActivityState.IDLE, "interrupted", None
        if self.turn_ended:
            if asks_question(self.last_text):
                return ActivityState.WAITING_INPUT, question_of(self.last_text), None
            return ActivityState.IDLE, "turn finished", None
        if self.kind == Kind.RETRYING:
            return ActivityState.WORKING, self.api_error or "API error, retrying", None
        return ActivityState.WORKING, "", None

    def copy(self) -> TranscriptState:
        return replace(self, open_tools=dict(self.open_tools), pr_links=list(self.pr_links),
                       usage=self.usage.model_copy())


class TranscriptParser:
    """Applies transcript records, in order, to a TranscriptState."""

    def __init__(self, state: TranscriptState | None = None) -> None:
        self.state = state or TranscriptState()
        u = self.state.usage
        self._count = UsageCount([u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
                                  u.cache_read_input_tokens, u.cost_usd])
        self._totals = self._count.totals  # the same list: set/add_totals change it in place
        self._usage_dirty = False

    # -- lines -----------------------------------------------------------------

    def feed_line(self, line: bytes) -> None:
        if isinstance(line, TruncatedLine):
            self._feed_truncated(line)
            return
        try:
            record = json.loads(line)
        except ValueError:
            self.state.bad_lines += 1
            self.state.revision += 1
            return
        if isinstance(record, dict):
            self.apply(record)
        else:
            self.state.bad_lines += 1

    def _feed_truncated(self, head: bytes) -> None:
        """A line too long to parse: learn what its head can tell (tool results it closes)."""
        st = self.state
        st.bad_lines += 1
        st.revision += 1
        types = _TYPE_FIELD.findall(head[:4096])
        if b"user" in types and not _SIDECHAIN.search(head[:4096]):
            closed = [m.decode() for m in _TOOL_USE_ID.findall(head)]
            if closed:
                for tool_id in closed:
                    st.open_tools.pop(tool_id, None)
                st.kind = Kind.TOOL_RESULT
                st.turn_ended = False

    def account_line(self, line: bytes) -> None:
        """The cheap pass over old lines: only usage, model and PR links (call ``sync_usage`` after)."""
        if isinstance(line, TruncatedLine):
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict):
            self.apply(record, state_too=False)

    # -- records ---------------------------------------------------------------

    def apply(self, record: dict[str, Any], *, state_too: bool = True) -> None:
        st = self.state
        st.records += 1
        st.revision += 1
        rtype = record.get("type")
        if rtype in ROLLOUT_TYPES:  # a Codex CLI rollout, not a Claude Code transcript
            apply_rollout_record(self, record, parse_time(record.get("timestamp")), state_too=state_too)
            return
        if is_gemini_record(record):  # a Gemini CLI saved chat
            apply_gemini_record(self, record, state_too=state_too)
            return
        sidechain = bool(record.get("isSidechain"))
        if sidechain:
            st.sidechain_records += 1
        if rtype == "assistant":
            self._account_usage(record)
        elif rtype == "pr-link":
            self.add_pr_link(record.get("prUrl"))
            return
        if rtype in ("assistant", "user"):
            self._collect_prs(record)
        if not state_too or sidechain:
            return
        if not st.agent_session_id and isinstance(record.get("sessionId"), str):
            st.agent_session_id = record["sessionId"]
        if isinstance(record.get("cwd"), str):
            st.cwd = record["cwd"]
        if isinstance(record.get("gitBranch"), str):
            st.git_branch = record["gitBranch"]
        at = parse_time(record.get("timestamp"))
        if rtype == "user":
            self._user(record, at)
        elif rtype == "assistant":
            self._assistant(record, at)
        elif rtype == "system":
            self._system(record, at)

    def decided(self, kind: str, at: float | None) -> None:
        """The latest record that says what the agent is doing is of ``kind`` (written at ``at``)."""
        self.state.kind = kind
        if at is not None:
            self.state.at = at

    def _user(self, record: dict[str, Any], at: float | None) -> None:
        st = self.state
        content = (record.get("message") or {}).get("content")
        if isinstance(content, str):
            if record.get("isMeta") or content.lstrip().startswith(_LOCAL_COMMAND_PREFIXES):
                return
            if content.startswith(_INTERRUPTED):
                self.interrupted(at)
                return
            self.prompt_started(at)
            return
        if not isinstance(content, list):
            return
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        if any(isinstance(t, str) and t.startswith(_INTERRUPTED) for t in texts):
            self.interrupted(at)
            return
        if results:
            for block in results:
                st.open_tools.pop(str(block.get("tool_use_id", "")), None)
            st.turn_ended = False
            self.decided(Kind.TOOL_RESULT, at)
            return
        if record.get("isMeta"):
            return
        if any(isinstance(t, str) and t.lstrip().startswith(_LOCAL_COMMAND_PREFIXES) for t in texts):
            return
        self.prompt_started(at)

    def prompt_started(self, at: float | None) -> None:
        """A prompt reached the agent: a new turn begins."""
        st = self.state
        st.open_tools.clear()
        st.turn_ended = False
        st.api_error = ""
        st.api_error_status = None
        st.stop_reason = ""
        self.decided(Kind.PROMPT, at)

    def interrupted(self, at: float | None) -> None:
        """The human interrupted the turn (Esc)."""
        st = self.state
        st.open_tools.clear()
        st.turn_ended = True
        self.decided(Kind.INTERRUPT, at)

    def _assistant(self, record: dict[str, Any], at: float | None) -> None:
        st = self.state
        message = record.get("message") or {}
        if not isinstance(message, dict):
            return
        stop = message.get("stop_reason")
        if record.get("isApiErrorMessage"):
            st.api_error = text_of(message.get("content")).strip()[:500] or str(record.get("error") or "API error")
            status = record.get("apiErrorStatus")
            st.api_error_status = status if isinstance(status, int) else None
            st.open_tools.clear()
            st.turn_ended = True
            self.decided(Kind.API_ERROR, at)
            return
        kind = None
        for block in message.get("content") or []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text":
                text = block.get("text")
                if isinstance(text, str) and text.strip():
                    st.last_text = text[-4000:]
                kind = Kind.TEXT
            elif btype in ("thinking", "redacted_thinking"):
                kind = kind or Kind.TEXT
            elif btype in ("tool_use", "server_tool_use"):
                tool_id = str(block.get("id", ""))
                st.open_tools[tool_id] = OpenTool(
                    id=tool_id, name=str(block.get("name", "tool")), target=tool_target(block.get("input")), at=at
                )
                kind = Kind.TOOL_USE
        if isinstance(stop, str):
            st.stop_reason = stop
        if stop in ("end_turn", "refusal") and not st.open_tools:
            st.turn_ended = True
            self.decided(Kind.TURN_END, at)
        elif kind is not None:
            st.turn_ended = False
            self.decided(kind, at)

    def _system(self, record: dict[str, Any], at: float | None) -> None:
        st = self.state
        subtype = record.get("subtype")
        if subtype == "turn_duration":
            st.turn_ended = True
            st.open_tools.clear()
            if st.kind != Kind.API_ERROR:
                self.decided(Kind.TURN_END, at)
        elif subtype == "api_error":  # a failed attempt Claude Code is about to retry
            err = record.get("error")
            detail = ""
            if isinstance(err, dict):
                detail = str(err.get("message") or err.get("status") or "")
            attempt, most = record.get("retryAttempt"), record.get("maxRetries")
            st.api_error = f"API error, retry {attempt}/{most}: {detail}".strip(": ")
            self.decided(Kind.RETRYING, at)

    # -- usage and PRs ---------------------------------------------------------

    def _account_usage(self, record: dict[str, Any]) -> None:
        model = named_model(record)
        if model:
            self.state.model = model
        if self._count.account(record, self.state.model):
            self._usage_dirty = True

    def _add_usage(self, entry: tuple[str, int, int, int, int], sign: int) -> None:
        self._count.add(entry, sign)
        self._usage_dirty = True

    def set_totals(self, model: str, i: int, o: int, cw: int, cr: int) -> None:
        """Replace the running totals with ones the agent keeps itself (Codex's token_count)."""
        self._totals[:] = [i, o, cw, cr, cost_usd(model, i, o, cw, cr)]
        self._usage_dirty = True

    def add_totals_for(self, model: str, i: int, o: int, cw: int, cr: int) -> None:
        """Add one response's usage counted by the agent itself (Gemini CLI's per-message tokens)."""
        self._add_usage((model, i, o, cw, cr), 1)

    def add_totals(self, delta: list[float]) -> None:
        """Add usage counted elsewhere (a subagent's file)."""
        for k, v in enumerate(delta):
            self._totals[k] += v
        self._usage_dirty = True

    def sync_usage(self) -> None:
        """Publish the running totals to ``state.usage`` (kept apart: pydantic setattr is slow)."""
        if not self._usage_dirty:
            return
        self._usage_dirty = False
        i, o, cw, cr, cost = self._totals
        self.state.usage = Usage(input_tokens=int(i), output_tokens=int(o), cache_creation_input_tokens=int(cw),
                                 cache_read_input_tokens=int(cr), cost_usd=max(0.0, cost))
        self.state.revision += 1

    def _collect_prs(self, record: dict[str, Any]) -> None:
        message = record.get("message")
        if not isinstance(message, dict):
            return
        content = message.get("content")
        if isinstance(content, str):
            if record.get("type") == "assistant":
                for url in PR_URL.findall(content):
                    self.add_pr_link(url)
            return
        if not isinstance(content, list):
            return
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and record.get("type") == "assistant":
                text = block.get("text")
            elif block.get("type") == "tool_result":
                text = text_of(block.get("content"))
                if "/pull/" not in text and "/merge_requests/" not in text:
                    continue
            else:
                continue
            if isinstance(text, str) and ("/pull/" in text or "/merge_requests/" in text):
                for url in PR_URL.findall(text):
                    self.add_pr_link(url)

    def add_pr_link(self, url: object) -> None:
        """A PR link the agent printed (kept once)."""
        if isinstance(url, str) and url and url not in self.state.pr_links:
            self.state.pr_links.append(url)


class TranscriptReader:
    """Follows one transcript file (and its subagents' files) into a TranscriptState.

    ``make_parser`` reads its lines (JSON lines by default; see ``session_file.reader_for``).
    """

    def __init__(self, path: Path, make_parser: Callable[[], TranscriptParser] = TranscriptParser) -> None:
        self.path = Path(path)
        self.make_parser = make_parser
        self.parser = make_parser()
        self._tail = LineTail(self.path)
        self._loaded = False
        self._subagents: dict[Path, tuple[LineTail, TranscriptParser]] = {}

    @property
    def state(self) -> TranscriptState:
        return self.parser.state

    @property
    def subagent_dir(self) -> Path:
        return self.path.with_suffix("") / "subagents"

    def poll(self) -> bool:
        """Read what was appended; True if the state changed."""
        before = self.state.revision
        if not self._loaded:
            if not self.path.exists():
                return False
            self.load()
        else:
            self._read_new()
        self._poll_subagents()
        self.parser.sync_usage()
        return self.state.revision != before

    def _read_new(self) -> None:
        """Feed appended lines, a bounded batch at a time (memory stays flat after a burst)."""
        while True:
            read = self._tail.read(limit=READ_BATCH)
            if read.reset:
                self._reset()
                self.load()
                return
            for line in read.lines:
                self.parser.feed_line(line)
            if not read.more:
                return

    def _reset(self) -> None:
        self.parser = self.make_parser()
        self._tail = LineTail(self.path)
        self._subagents.clear()
        self._loaded = False

    def load(self) -> None:
        """First read: whole file if small, else a usage pass plus the state from the tail."""
        self._loaded = True
        try:
            size = self.path.stat().st_size
        except OSError:
            return
        if size > FULL_PARSE_LIMIT:
            boundary = self._tail.start_near_end(STATE_TAIL_BYTES)
            self._account_prefix(boundary)
        self._read_new()
        self.state.revision += 1

    def _account_prefix(self, end: int) -> None:
        """Stream bytes [0, end) in chunks, accounting usage without building state.

        Only lines holding a ``"usage"`` key or a PR URL are parsed; they are
        found by searching each chunk (C speed), never by splitting it.
        """
        parser = self.parser
        carry = b""
        with open(self.path, "rb") as f:
            pos = 0
            while pos < end:
                chunk = f.read(min(STREAM_CHUNK, end - pos))
                if not chunk:
                    break
                pos += len(chunk)
                data = carry + chunk if carry else chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data if len(data) <= self._tail.max_line else b""
                    continue
                carry = data[cut:]
                for start, stop in _lines_with(data, cut, _PREFIX_NEEDLES):
                    parser.account_line(data[start:stop])
        parser.sync_usage()

    def _poll_subagents(self) -> None:
        sub = self.subagent_dir
        try:
            names = [p for p in sub.iterdir() if p.suffix == ".jsonl"]
        except OSError:
            return
        for path in names:
            if path not in self._subagents:
                # usage only: a subagent never decides the main state
                self._subagents[path] = (LineTail(path), TranscriptParser(TranscriptState()))
            tail, parser = self._subagents[path]
            before = list(parser._totals)  # noqa: SLF001
            for line in tail.read().lines:
                if b'"usage"' in line:
                    parser.account_line(line)
            delta = [a - b for a, b in zip(parser._totals, before)]  # noqa: SLF001
            if any(delta):
                self.parser.add_totals(delta)
                self.parser.sync_usage()
