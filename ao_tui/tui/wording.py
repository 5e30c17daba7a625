"""Plain words for every state the control room shows.

The engine's names (``review_pending``, ``needs_input``, ``ci_failed``) are
identifiers, not English: every place the TUI shows a status, an activity,
a CI or review state, goes through here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ao_tui.attention import Zone, zone_of
from ao_tui.config import EVENT_WORDS
from ao_tui.durations import ago
from ao_tui.models import ActivityState, CheckState, PullRequest, ReviewState, Session, SessionStatus

#: A session's status in a few words.
STATUS_WORDS: dict[SessionStatus, str] = {
    SessionStatus.SPAWNING: "starting",
    SessionStatus.WORKING: "working",
    SessionStatus.NEEDS_INPUT: "needs your answer",
    SessionStatus.IDLE: "idle",
    SessionStatus.PR_OPEN: "PR open",
    SessionStatus.CI_FAILED: "CI failed",
    SessionStatus.REVIEW_PENDING: "waiting for review",
    SessionStatus.CHANGES_REQUESTED: "changes requested",
    SessionStatus.APPROVED: "approved",
    SessionStatus.MERGEABLE: "ready to merge",
    SessionStatus.MERGED: "merged",
    SessionStatus.DONE: "done",
    SessionStatus.STUCK: "no output",
    SessionStatus.ERRORED: "error",
    SessionStatus.EXITED: "agent exited",
    SessionStatus.KILLED: "killed",
}

#: "<status> for 12m" or "<status> 12m ago": how long it has been so, in a sentence.
_STATUS_SINCE: dict[SessionStatus, str] = {
    SessionStatus.SPAWNING: "starting for {d}",
    SessionStatus.WORKING: "working for {d}",
    SessionStatus.NEEDS_INPUT: "waiting for your answer for {d}",
    SessionStatus.IDLE: "idle for {d}",
    SessionStatus.PR_OPEN: "PR open for {d}",
    SessionStatus.CI_FAILED: "CI failed {d} ago",
    SessionStatus.REVIEW_PENDING: "waiting for review for {d}",
    SessionStatus.CHANGES_REQUESTED: "changes requested {d} ago",
    SessionStatus.APPROVED: "approved {d} ago",
    SessionStatus.MERGEABLE: "ready to merge for {d}",
    SessionStatus.MERGED: "merged {d} ago",
    SessionStatus.DONE: "done {d} ago",
    SessionStatus.STUCK: "no output for {d}",
    SessionStatus.ERRORED: "error {d} ago",
    SessionStatus.EXITED: "agent exited {d} ago",
    SessionStatus.KILLED: "killed {d} ago",
}

#: What the agent is doing, as the activity detector sees it.
ACTIVITY_WORDS: dict[ActivityState, str] = {
    ActivityState.UNKNOWN: "no signal yet",
    ActivityState.WORKING: "working",
    ActivityState.RUNNING_TOOL: "running a tool",
    ActivityState.WAITING_PERMISSION: "asking permission",
    ActivityState.WAITING_INPUT: "needs your answer",
    ActivityState.IDLE: "at its prompt",
    ActivityState.ERRORED: "error",
    ActivityState.EXITED: "exited",
    ActivityState.RATE_LIMITED: "usage limit",
}

CI_WORDS: dict[CheckState, str] = {
    CheckState.PENDING: "pending",
    CheckState.RUNNING: "running",
    CheckState.PASSED: "passed",
    CheckState.FAILED: "failed",
    CheckState.NONE: "no checks",
}

REVIEW_WORDS: dict[ReviewState, str] = {
    ReviewState.NONE: "no review yet",
    ReviewState.PENDING: "pending",
    ReviewState.APPROVED: "approved",
    ReviewState.CHANGES_REQUESTED: "changes requested",
    ReviewState.COMMENTED: "commented",
}

#: Any engine identifier a history line may carry (statuses, activities, reaction events).
_IDENTIFIER_WORDS: dict[str, str] = {
    **{a.value: w for a, w in ACTIVITY_WORDS.items()},
    **{s.value: w for s, w in STATUS_WORDS.items()},
    **EVENT_WORDS,
    "send_to_agent": "sent to the agent",
    "request_changes": "request changes",
}
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def status_words(status: SessionStatus | str) -> str:
    """``review_pending`` → ``waiting for review`` (an unknown value loses its underscores)."""
    try:
        return STATUS_WORDS[SessionStatus(status)]
    except ValueError:
        return str(status).replace("_", " ")


def since_when(session: Session) -> datetime:
    """When the session's state began, as a person counts it.

    A stuck session has been quiet since its agent's last activity, not since the engine
    noticed (``stuck_after`` later): "no output for" counts from the activity.
    """
    if session.status is SessionStatus.STUCK and session.activity.since < session.status_since:
        return session.activity.since
    return session.status_since


def status_since(session: Session, now: datetime) -> str:
    """The status and how long it has held: ``no output for 55m``, ``merged 5h ago``."""
    return _STATUS_SINCE[session.status].format(d=ago(since_when(session), now))


def activity_words(state: ActivityState) -> str:
    return ACTIVITY_WORDS[state]


_PATH = re.compile(r"(?<![\w.~/:-])~?/[^\s'\"`:;,)]+")


def short_paths(text: str, workspace: str = "") -> str:
    """Paths in ``text`` made short, the file name always kept.

    Inside the workspace a path becomes relative to it (``/tmp/ws/app-1/src/app.py`` → ``src/app.py``);
    any other path longer than two parts keeps its last two (``/usr/lib/x/y/z.py`` → ``…/y/z.py``).
    """
    root = workspace.rstrip("/")

    def shorten(match: re.Match[str]) -> str:
        path = match.group(0)
        if root and path.startswith(root + "/") and len(path) > len(root) + 1:
            return path[len(root) + 1:]
        if root and path == root:
            return "."
        parts = [p for p in path.split("/") if p]
        if len(parts) > 2:
            return "…/" + "/".join(parts[-2:])
        return path

    return _PATH.sub(shorten, text)


def fit_doing(text: str, width: int) -> str:
    """``text`` (what the agent does) in ``width`` cells, the file name the last thing to go.

    Too long, paths lose their folders (``permission: Edit app.py``), then ``permission:`` becomes
    ``allow?``; only then is the end cut.
    """
    from rich.cells import cell_len

    from ao_tui.tui.text import fit

    if cell_len(text) <= width:
        return text
    text = _PATH_OR_RELATIVE.sub(lambda m: m.group(0).rsplit("/", 1)[-1] or m.group(0), text)
    if cell_len(text) > width and text.startswith("permission: "):
        text = "allow? " + text[len("permission: "):]
    return fit(text, width)


#: A path with at least one folder (``src/app.py``, ``…/y/z.py``, ``/abs/file``), not a URL.
_PATH_OR_RELATIVE = re.compile(r"(?<![\w.~/:-])(?:~|…|\.{1,2})?/?[\w.@+-]+(?:/[\w.@+-]+)+(?![\w/])")


def what_agent_does(session: Session) -> str:
    """The agent's own activity: the tool and file, the question, or its state in words.

    The tool is named once (``permission: Edit app.py``, never ``Edit: permission: Edit …``) and paths
    are shortened relative to the session's workspace, so the file name stays in view.
    """
    detail, tool = session.activity.detail, session.activity.tool
    detail = short_paths(detail, session.workspace) if detail else ""
    if tool and detail and not re.search(rf"(?<!\w){re.escape(tool)}(?!\w)", detail):
        return f"{tool} {detail}"
    return detail or tool or ACTIVITY_WORDS[session.activity.state]


def _checks(pr: PullRequest, state: CheckState) -> str:
    names = [c.name for c in pr.checks if c.state is state]
    if len(names) == 1:
        summary = next(c.summary for c in pr.checks if c.state is state)
        return names[0] + (f" ({summary})" if summary else "")
    return ", ".join(names)


def _ci_phrase(pr: PullRequest) -> str:
    if pr.ci is CheckState.PASSED:
        return "CI green"
    if pr.ci is CheckState.FAILED:
        failing = _checks(pr, CheckState.FAILED)
        return f"CI failed: {failing}" if failing else "CI failed"
    if pr.ci in (CheckState.PENDING, CheckState.RUNNING):
        return "CI running"
    return ""


def what_matters(session: Session, now: datetime) -> str:
    """One line for the session list: what matters about this session in its attention zone.

    Needs you: why (the question, the escalation). Ready to merge: CI and review. Failing: the
    failing checks or the requested changes. In review: what it waits for. Done: merged/killed
    and when. Working: the agent's tool and file. Never an activity left over from an earlier stage.
    """
    zone, pr, status = zone_of(session), session.pr, session.status
    if session.escalation:
        return session.escalation
    if status is SessionStatus.EXITED or (zone is Zone.NEEDS_YOU and session.activity.state is ActivityState.EXITED):
        return f"exited (code {session.exit_code})" if session.exit_code is not None else "agent exited"
    if zone is Zone.NEEDS_YOU:
        if status is SessionStatus.STUCK:
            return status_since(session, now)
        return what_agent_does(session) if session.activity.detail else STATUS_WORDS[status]
    if zone is Zone.DONE:
        if status is SessionStatus.KILLED:
            return "killed"
        return status_since(session, now)
    parts: list[str] = []
    if zone is Zone.READY_TO_MERGE and pr is not None:
        parts = [_ci_phrase(pr), REVIEW_WORDS[pr.review] if pr.review is ReviewState.APPROVED else STATUS_WORDS[status]]
    elif zone is Zone.FAILING and pr is not None:
        parts = [_ci_phrase(pr) if pr.ci is CheckState.FAILED else "",
                 STATUS_WORDS[status] if status is SessionStatus.CHANGES_REQUESTED else ""]
        open_comments = sum(1 for c in pr.comments if not c.resolved)
        if status is SessionStatus.CHANGES_REQUESTED and open_comments:
            parts.append(f"{open_comments} comment{'s' if open_comments > 1 else ''}")
    elif zone is Zone.IN_REVIEW and pr is not None:
        parts = [STATUS_WORDS[status] if status is SessionStatus.REVIEW_PENDING else "waiting for review",
                 _ci_phrase(pr) if pr.ci is not CheckState.PASSED else ""]
        if pr.review is ReviewState.COMMENTED:
            parts.append("commented")
    elif zone is Zone.WORKING:
        if session.activity.state is ActivityState.RATE_LIMITED:
            return usage_limit_line(session, now)
        if status in (SessionStatus.SPAWNING, SessionStatus.IDLE):
            return STATUS_WORDS[status] if session.activity.state is not ActivityState.IDLE else "at its prompt"
        return what_agent_does(session)
    if pr is not None and pr.has_conflicts:
        parts.append("conflicts")
    return " · ".join(p for p in parts if p) or STATUS_WORDS[status]


def countdown(seconds: float) -> str:
    """``3725`` → ``1h 02m``; ``125`` → ``2m 05s``; ``40`` → ``40s``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d {hours % 24:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def usage_limit_line(session: Session, now: datetime) -> str:
    """A session waiting out its usage limit: ``usage limit · continues in 42m 10s (04:21)``."""
    until = session.activity.until
    if until is None:
        return "usage limit · reset time not given: ao waits its default, then continues"
    left = (until - now).total_seconds()
    when = until.astimezone().strftime("%H:%M")
    if left <= 0:
        return f"usage limit lifted at {when} · continuing"
    return f"usage limit · continues in {countdown(left)} ({when})"


def event_summary(kind: str, data: dict[str, Any]) -> tuple[str, str] | None:
    """History lines for the autonomy events: (what happened, the detail), or None for the plain form."""
    if kind == "answered_by_orchestrator":
        return f"answered by the orchestrator: {data.get('answer', '')}", f"{data.get('reason', '')} · U undoes"
    if kind == "orchestrator_recommends":
        return f"orchestrator recommends: {data.get('recommendation') or '-'}", str(data.get("reason", ""))
    if kind == "orchestrator_answer_undone":
        return "orchestrator's answer undone", str(data.get("answer", ""))
    if kind == "usage_limit":
        return f"usage limit: {data.get('message', '')}", str(data.get("note", ""))
    if kind == "usage_limit_reset":
        return "usage limit lifted: ao continued the agent", ""
    if kind in ("budget_warn", "budget_over"):
        return ("budget reached" if kind == "budget_over" else "budget warning"), str(data.get("words", ""))
    return None


def humanize(text: str) -> str:
    """Engine identifiers inside a line of engine text (a history reason, an event name) in words.

    Only known identifiers are replaced, so a file name such as ``my_app.py`` in a reason stays as written.
    """
    return _SNAKE.sub(lambda m: _IDENTIFIER_WORDS.get(m.group(0), m.group(0)), text)


def event_kind(kind: str) -> str:
    """An event's kind (``cleanup_refused``) as words."""
    return kind.replace("_", " ")


__all__ = [
    "ACTIVITY_WORDS", "CI_WORDS", "REVIEW_WORDS", "STATUS_WORDS", "activity_words", "countdown", "event_kind",
    "humanize", "usage_limit_line",
    "fit_doing", "short_paths", "since_when", "status_since", "status_words", "what_agent_does", "what_matters",
]
