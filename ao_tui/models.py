"""The data ao works with: sessions, their activity, tasks, PRs and events.

Plain pydantic models with no behaviour beyond derived properties, shared by
the engine, the store, the plugins and the UI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class SessionStatus(StrEnum):
    """Where a session is in its life. Changes go through ``lifecycle``."""

    SPAWNING = "spawning"
    WORKING = "working"
    NEEDS_INPUT = "needs_input"
    IDLE = "idle"
    PR_OPEN = "pr_open"
    CI_FAILED = "ci_failed"
    REVIEW_PENDING = "review_pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    MERGEABLE = "mergeable"
    MERGED = "merged"
    DONE = "done"
    STUCK = "stuck"
    ERRORED = "errored"
    EXITED = "exited"
    KILLED = "killed"


class ActivityState(StrEnum):
    """What the agent is doing right now, as the activity detector sees it."""

    UNKNOWN = "unknown"
    WORKING = "working"
    RUNNING_TOOL = "running_tool"
    WAITING_PERMISSION = "waiting_permission"
    WAITING_INPUT = "waiting_input"
    IDLE = "idle"
    ERRORED = "errored"
    EXITED = "exited"
    #: Stopped by the provider's usage limit; ``Activity.until`` says when it lifts.
    RATE_LIMITED = "rate_limited"


class Activity(BaseModel):
    """An activity state with the signal that decided it and what it is about."""

    state: ActivityState = ActivityState.UNKNOWN
    source: str = ""  # "hook", "transcript", "screen", "title", "runtime"
    since: datetime = Field(default_factory=utcnow)
    detail: str = ""  # tool and file, the permission asked, the question, the error
    tool: str | None = None
    until: datetime | None = None  # rate_limited: when the limit lifts (None: the agent did not say)


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


class CheckState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    NONE = "none"


class ReviewState(StrEnum):
    NONE = "none"
    PENDING = "pending"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    COMMENTED = "commented"


class Check(BaseModel):
    name: str
    state: CheckState
    id: str = ""  # the SCM's id for this run, used as the reaction key
    url: str = ""
    summary: str = ""


class ReviewComment(BaseModel):
    id: str
    author: str = ""
    body: str
    path: str | None = None
    line: int | None = None
    resolved: bool = False


class PullRequest(BaseModel):
    """A PR as the SCM reports it. For the local SCM the number is synthetic."""

    number: int | None = None
    url: str = ""
    title: str = ""
    branch: str = ""
    base: str = ""
    state: str = "open"  # open, merged, closed
    head_sha: str = ""
    checks: list[Check] = Field(default_factory=list)
    ci: CheckState = CheckState.NONE
    review: ReviewState = ReviewState.NONE
    comments: list[ReviewComment] = Field(default_factory=list)
    mergeable: bool | None = None
    has_conflicts: bool = False


class Task(BaseModel):
    """A unit of work from a tracker (a backlog entry, an issue) or a free prompt."""

    id: str
    title: str
    body: str = ""
    url: str = ""
    labels: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list)
    status: str = "open"  # open, in_progress, done


class Session(BaseModel):
    """One agent working on one task in its own workspace and runtime."""

    id: str
    project: str
    task_id: str | None = None
    task_title: str = ""
    prompt: str = ""
    branch: str = ""
    workspace: str = ""  # absolute path
    runtime: str = "tmux"
    runtime_handle: str = ""  # e.g. the tmux session name
    host: str = "local"  # the machine it runs on (``hosts:``); not local: reached through ao there
    agent: str = "claude-code"
    agent_session_id: str = ""
    model: str = ""
    status: SessionStatus = SessionStatus.SPAWNING
    status_since: datetime = Field(default_factory=utcnow)
    activity: Activity = Field(default_factory=Activity)
    pr: PullRequest | None = None
    escalation: str = ""  # why a human is needed, when one is
    last_message: str = ""  # the agent's last words, for the UI
    pr_links: list[str] = Field(default_factory=list)  # PR URLs the agent printed (from its transcript)
    usage: Usage = Field(default_factory=Usage)
    ci_cycles: int = 0
    review_rounds: int = 0
    exit_code: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    pr_opened_at: datetime | None = None
    merged_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def title(self) -> str:
        if self.task_title:
            return self.task_title
        first = self.prompt.strip().splitlines()[0] if self.prompt.strip() else ""
        return first[:80]


class Event(BaseModel):
    """Something that happened to a session, kept in the store in order."""

    id: int | None = None
    session_id: str
    at: datetime = Field(default_factory=utcnow)
    kind: str  # "status", "activity", "reaction", "message", "pr", ...
    from_status: str | None = None
    to_status: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
