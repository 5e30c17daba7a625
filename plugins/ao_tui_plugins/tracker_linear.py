"""Tracker ``linear``: a Linear team's backlog through Linear's GraphQL API.

Options (``tracker: {plugin: linear, team: ENG, ...}``):

* ``team`` (required): the team key, as in issue identifiers (``ENG`` for ``ENG-12``).
* ``label``: a label name, or a list of names; when set only issues carrying
  one of them are tasks (default: every issue of the team).
* ``state_types``: the workflow state types that form the backlog, among
  ``triage``, ``backlog`` and ``unstarted`` (default ``[backlog, unstarted]``).
* ``states``: workflow state names that form the backlog instead (e.g. ``[Todo]``).
* ``started_state`` / ``done_state``: the state names a task moves to when a
  session starts / its PR merges (default: the team's first state of type
  ``started`` / ``completed``).
* ``api_url`` (default ``https://api.linear.app/graphql``), ``timeout`` (default 20s).

The key comes from ``LINEAR_API_KEY`` (sent as ``Authorization: <key>``, as
Linear asks of personal API keys). It is read from the environment on each
request and is never logged, written anywhere, or put in an error message:
messages from Linear are scrubbed of it, and redirects are refused so it never
follows one to another host.

A task's id is the issue identifier (``ENG-12``). Status: an issue in a
``completed`` or ``canceled`` state is ``done``, one in a ``started`` state is
``in_progress``, else ``open``. The listing holds the backlog states plus the
started ones (and the done ones with ``include_done``), most urgent first, then
oldest first. ``depends_on`` lists the unfinished issues that block it (Linear
"blocks" relations), so a task whose blockers are all finished is ready even
when a blocker sits outside the backlog.

Every value travels as a GraphQL variable: the query texts are constants.
Rate limiting (HTTP 429, or a ``RATELIMITED`` error) raises ``LinearRateLimited``
naming the reset time, and later calls raise it at once, without a request,
until then: nothing here ever sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any, NoReturn
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ao_tui.errors import AoError, NotFound, PluginError
from ao_tui.models import Task
from ao_tui.slots.base import PluginContext, PluginOptions, Seconds
from ao_tui.slots.tracker import Tracker

log = logging.getLogger("ao.tracker.linear")

API_URL = "https://api.linear.app/graphql"
KEY_VARIABLE = "LINEAR_API_KEY"
STATUSES = ("open", "in_progress", "done")
BACKLOG_TYPES = ("triage", "backlog", "unstarted")
DONE_TYPES = ("completed", "canceled")
PAGE_SIZE = 100
MAX_PAGES = 20  # 2000 issues: a backlog beyond that is a filter missing, not a list to walk
TEAM_TTL = 300.0  # seconds a team's workflow states are trusted before being read again

_IDENTIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-(\d+)$")
_TEAM_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")

_ISSUE_FIELDS = """
fragment AoIssueFields on Issue {
  id identifier title description url priority createdAt
  state { id name type }
  labels { nodes { name } }
  inverseRelations { nodes { type issue { identifier state { type } } } }
}
"""
_STATES = "states { nodes { id name type position } }"
Q_TEAM = f"""
query AoTeam($key: String!) {{
  teams(filter: {{ key: {{ eq: $key }} }}) {{ nodes {{ id key name {_STATES} }} }}
}}
"""
Q_ISSUES = _ISSUE_FIELDS + """
query AoIssues($filter: IssueFilter, $first: Int, $after: String) {
  issues(filter: $filter, first: $first, after: $after) {
    nodes { ...AoIssueFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
Q_ISSUE = _ISSUE_FIELDS + f"""
query AoIssue($id: String!) {{
  issue(id: $id) {{ ...AoIssueFields team {{ id key {_STATES} }} }}
}}
"""
Q_LABELS = """
query AoLabels($names: [String!]) {
  issueLabels(filter: { name: { in: $names } }, first: 100) { nodes { id name team { id } } }
}
"""
M_ISSUE_UPDATE = """
mutation AoIssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { id identifier state { id name type } } }
}
"""
M_COMMENT_CREATE = """
mutation AoCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}
"""
M_ISSUE_CREATE = _ISSUE_FIELDS + """
mutation AoIssueCreate($input: IssueCreateInput!) {
  issueCreate(input: $input) { success issue { ...AoIssueFields } }
}
"""
M_RELATION_CREATE = """
mutation AoIssueRelationCreate($input: IssueRelationCreateInput!) {
  issueRelationCreate(input: $input) { success }
}
"""


class LinearError(AoError):
    """Linear refused or failed a request; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LinearRateLimited(LinearError):
    """Linear's rate limit is spent; nothing is sent to Linear before ``reset_at`` (epoch seconds)."""

    def __init__(self, reset_at: float) -> None:
        self.reset_at = reset_at
        super().__init__(f"Linear rate limit: resets at {datetime.fromtimestamp(reset_at).strftime('%H:%M:%S')}",
                         status=429)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """The key is in a header: following a redirect could hand it to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def _option_error(option: str, problem: str) -> PluginError:
    return PluginError(f"tracker linear: option `{option}` {problem}")


def _reset_at(headers: Message | Mapping[str, str] | None, now: float) -> float:
    """When the budget comes back: Linear's reset headers (epoch ms), else ``Retry-After``, else a minute."""
    resets: list[float] = []
    for name in ("X-RateLimit-Requests-Reset", "X-RateLimit-Complexity-Reset", "X-RateLimit-Endpoint-Requests-Reset"):
        raw = headers.get(name) if headers is not None else None
        try:
            value = float(raw) if raw is not None else 0.0
        except ValueError:
            continue
        if value > 0:
            resets.append(value / 1000 if value > 1e11 else value)  # documented as ms; accept seconds
    if resets:
        return max(max(resets), now + 1)
    retry = headers.get("Retry-After") if headers is not None else None
    try:
        return now + max(1.0, float(retry)) if retry is not None else now + 60
    except ValueError:
        return now + 60


@dataclass
class _Team:
    id: str
    key: str
    states: list[dict[str, Any]]
    read_at: float


class LinearTracker(Tracker):
    """Issues of one Linear team (optionally with a label) in its backlog states."""

    class Options(PluginOptions):
        team: str = Field(description="The team key, as in issue identifiers (ENG for ENG-12).")
        label: list[str] = Field(default_factory=list, description="Only issues with this label (or these labels).")
        state_types: list[str] = Field(default_factory=lambda: ["backlog", "unstarted"],
                                       description="Which issues form the backlog: triage, backlog, unstarted.")
        states: list[str] = Field(default_factory=list, description="Or the backlog by workflow state name.")
        started_state: str | None = Field(default=None, description="Where a started session moves its issue "
                                                                    "(default: the first started state).")
        done_state: str | None = Field(default=None, description="Where a merged PR moves its issue "
                                                                 "(default: the first completed state).")
        api_url: str = API_URL
        timeout: Seconds = 20.0

        @field_validator("team", mode="before")
        @classmethod
        def _team(cls, value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError("is required: the team key, as in issue identifiers (ENG for ENG-12)")
            if not _TEAM_KEY.match(value.strip()):
                raise ValueError(f"{value!r} is not a team key (letters and digits, e.g. ENG)")
            return value.strip().upper()

        @field_validator("label", "state_types", "states", mode="before")
        @classmethod
        def _names(cls, value: Any) -> list[str]:
            if value in (None, "", []):
                return []
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
                raise ValueError("must be a name or a list of names")
            return [v.strip() for v in items]

        @field_validator("state_types")
        @classmethod
        def _backlog_types(cls, value: list[str]) -> list[str]:
            if not value or any(t not in BACKLOG_TYPES for t in value):
                raise ValueError(f"takes {', '.join(BACKLOG_TYPES)} (started issues are in progress and "
                                 "completed or canceled ones done, never backlog)")
            return value

        @field_validator("started_state", "done_state", mode="before")
        @classmethod
        def _state_name(cls, value: Any) -> str | None:
            if value in (None, ""):
                return None
            if not isinstance(value, str) or not value.strip():
                raise ValueError("must be a workflow state name")
            return value.strip()

        @field_validator("api_url")
        @classmethod
        def _url(cls, value: str) -> str:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"must be an http(s) URL, got {value!r}")
            return value

        @field_validator("timeout")
        @classmethod
        def _positive(cls, value: float) -> float:
            if value <= 0:
                raise ValueError("must be more than 0s")
            return value

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.team_key = self.options.team
        self.labels = self.options.label
        self.state_types = self.options.state_types
        self.state_names = self.options.states
        self.started_state = self.options.started_state
        self.done_state = self.options.done_state
        self.api_url = self.options.api_url
        self.timeout = self.options.timeout
        self._team: _Team | None = None
        self._uuids: dict[str, str] = {}  # identifier -> Linear's id, so a comment needs no look-up
        self._blocked_until = 0.0
        self.clock = time.time

    # -- the wire ----------------------------------------------------------------------------

    def _key(self) -> str:
        key = os.environ.get(KEY_VARIABLE, "").strip()
        if not key:
            raise LinearError(f"tracker linear: set {KEY_VARIABLE} to a Linear API key "
                              "(Linear: Settings > Security & access > Personal API keys)")
        if not key.isascii() or not key.isprintable():
            # http.client would quote the whole header value in its error
            raise LinearError(f"tracker linear: {KEY_VARIABLE} holds characters an HTTP header cannot carry")
        return key

    @staticmethod
    def _scrub(text: str, key: str) -> str:
        """One line of at most 300 characters without the key, whatever Linear sent back."""
        text = " ".join(str(text).split())
        if key:
            text = text.replace(key, "[LINEAR_API_KEY]")
        return text[:300]

    def _raise_errors(self, errors: list[Any], what: str, key: str, status: int | None,
                      headers: Message | None) -> NoReturn:
        first: dict[str, Any] = errors[0] if errors and isinstance(errors[0], dict) else {}
        ext: dict[str, Any] = first["extensions"] if isinstance(first.get("extensions"), dict) else {}
        code = str(ext.get("code") or "")
        message = self._scrub(ext.get("userPresentableMessage") or first.get("message") or "unknown error", key)
        if code == "RATELIMITED":
            self._blocked_until = _reset_at(headers, self.clock())
            raise LinearRateLimited(self._blocked_until)
        if code == "AUTHENTICATION_ERROR" or status == 401:
            raise LinearError(f"Linear refused the key in {KEY_VARIABLE} ({message}); check it", status)
        if str(first.get("message", "")).startswith("Entity not found") or code == "ENTITY_NOT_FOUND":
            raise NotFound(f"Linear: {what}: not found")
        raise LinearError(f"Linear: {what} failed: {message}", status)

    def _call(self, operation: str, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """POST one operation; its ``data``, or a one-line ``AoError`` (never holding the key)."""
        if self.clock() < self._blocked_until:
            raise LinearRateLimited(self._blocked_until)
        key = self._key()
        payload = json.dumps({"operationName": operation, "query": query, "variables": variables}).encode()
        request = urllib.request.Request(self.api_url, data=payload, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json", "User-Agent": "ao-tui",
            "Authorization": key,
        })
        host = urlsplit(self.api_url).netloc
        started = time.monotonic()
        status: int | None
        headers: Message | None
        try:
            with _opener.open(request, timeout=self.timeout) as response:  # noqa: S310 (scheme checked)
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            try:
                raw = exc.read()
            except OSError:
                raw = b""
            finally:
                exc.close()
        except urllib.error.URLError as exc:
            reason = getattr(exc.reason, "strerror", None) or type(exc.reason).__name__
            raise LinearError(f"Linear: {what} failed: cannot reach {host} ({self._scrub(reason, key)})") from None
        except TimeoutError:
            raise LinearError(f"Linear: {what} failed: no answer from {host} within {self.timeout:g}s") from None
        except OSError as exc:
            raise LinearError(f"Linear: {what} failed: {type(exc).__name__} talking to {host}") from None
        log.debug("linear %s: HTTP %s in %.0f ms", operation, status, (time.monotonic() - started) * 1000)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if status == 429:
            self._blocked_until = _reset_at(headers, self.clock())
            raise LinearRateLimited(self._blocked_until)
        if isinstance(errors, list) and errors:
            self._raise_errors(errors, what, key, status, headers)
        if status == 401 or status == 403:
            raise LinearError(f"Linear refused the key in {KEY_VARIABLE} (HTTP {status}); check it", status)
        if status is None or status >= 300:
            hint = " (redirects are not followed)" if status is not None and 300 <= status < 400 else ""
            raise LinearError(f"Linear: {what} failed: HTTP {status}{hint}", status)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise LinearError(f"Linear: {what} failed: the answer was not GraphQL JSON", status)
        data: dict[str, Any] = body["data"]
        return data

    # -- reading ----------------------------------------------------------------------------

    def _team_info(self) -> _Team:
        if self._team is None or self.clock() - self._team.read_at > TEAM_TTL:
            data = self._call("AoTeam", Q_TEAM, {"key": self.team_key}, f"reading team {self.team_key}")
            nodes = (data.get("teams") or {}).get("nodes") or []
            if not nodes:
                raise PluginError(f"tracker linear: option `team`: no Linear team with key {self.team_key!r}")
            team = nodes[0]
            self._team = _Team(team["id"], team["key"], list((team.get("states") or {}).get("nodes") or []),
                               self.clock())
        return self._team

    def _task(self, issue: dict[str, Any]) -> Task:
        self._uuids[issue["identifier"]] = issue["id"]
        kind = ((issue.get("state") or {}).get("type") or "").lower()
        status = "done" if kind in DONE_TYPES else "in_progress" if kind == "started" else "open"
        labels = [l["name"] for l in (issue.get("labels") or {}).get("nodes") or []]
        blockers = [r["issue"] for r in (issue.get("inverseRelations") or {}).get("nodes") or []
                    if r.get("type") == "blocks" and isinstance(r.get("issue"), dict)]
        depends = [b["identifier"] for b in blockers
                   if ((b.get("state") or {}).get("type") or "") not in DONE_TYPES]
        return Task(id=issue["identifier"], title=issue.get("title") or "", body=issue.get("description") or "",
                    url=issue.get("url") or "", labels=labels, depends_on=depends, status=status)

    def issue_filter(self, team_id: str, include_done: bool) -> dict[str, Any]:
        """The ``IssueFilter``: the team, the labels, and backlog-or-started(-or-done) states."""
        backlog = ({"state": {"name": {"in": self.state_names}}} if self.state_names
                   else {"state": {"type": {"in": self.state_types}}})
        kinds = ["started", *(DONE_TYPES if include_done else ())]
        result: dict[str, Any] = {"team": {"id": {"eq": team_id}},
                                  "or": [backlog, {"state": {"type": {"in": kinds}}}]}
        if self.labels:
            result["labels"] = {"some": {"name": {"in": self.labels}}}
        return result

    def list_tasks(self, include_done: bool = False) -> list[Task]:
        """The team's backlog: most urgent first (no priority last), then oldest first."""
        variables: dict[str, Any] = {"filter": self.issue_filter(self._team_info().id, include_done),
                                     "first": PAGE_SIZE, "after": None}
        issues: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = self._call("AoIssues", Q_ISSUES, variables, f"listing {self.team_key} issues")["issues"]
            issues.extend(page.get("nodes") or [])
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                break
            variables["after"] = info["endCursor"]
        else:
            log.warning("tracker linear: listing stopped at %d issues; narrow it with `label` or `states`",
                        len(issues))
        issues.sort(key=lambda i: (i.get("priority") or 5, i.get("createdAt") or ""))
        return [self._task(i) for i in issues]

    def _identifier(self, task_id: str) -> str:
        match = _IDENTIFIER.match(str(task_id).strip())
        if not match:
            raise NotFound(f"{task_id!r} is not a Linear issue identifier (like {self.team_key}-12)")
        return f"{match.group(1).upper()}-{match.group(2)}"

    def _issue(self, task_id: str) -> dict[str, Any]:
        identifier = self._identifier(task_id)
        try:
            issue = self._call("AoIssue", Q_ISSUE, {"id": identifier}, f"reading issue {identifier}").get("issue")
        except NotFound:
            issue = None
        if not isinstance(issue, dict):
            raise NotFound(f"no Linear issue {identifier}")
        self._uuids[issue["identifier"]] = issue["id"]
        return issue

    def get_task(self, task_id: str) -> Task:
        return self._task(self._issue(task_id))

    # -- writing ----------------------------------------------------------------------------

    def _target_state(self, states: list[dict[str, Any]], status: str) -> dict[str, Any]:
        """The workflow state a task in ``status`` moves to."""
        ordered = sorted(states, key=lambda s: s.get("position") or 0)
        if status == "open":
            if self.state_names:
                named = {s["name"]: s for s in ordered}
                wanted = [named[n] for n in self.state_names if n in named]
            else:  # "unstarted" (Todo) before "backlog": a task given back is ready again
                wanted = sorted((s for s in ordered if s["type"] in self.state_types),
                                key=lambda s: ("unstarted", "backlog", "triage").index(s["type"]))
            option = "states" if self.state_names else "state_types"
            kinds = (f"named {', '.join(self.state_names)}" if self.state_names
                     else f"of type {', '.join(self.state_types)}")
        else:
            option = "started_state" if status == "in_progress" else "done_state"
            name = self.started_state if status == "in_progress" else self.done_state
            kind = "started" if status == "in_progress" else "completed"
            wanted = [s for s in ordered if (s["name"] == name if name else s["type"] == kind)]
            kinds = f"named {name!r}" if name else f"of type {kind}"
        if not wanted:
            raise PluginError(f"tracker linear: option `{option}`: the team has no workflow state {kinds}")
        return wanted[0]

    def _move(self, issue: dict[str, Any], status: str) -> None:
        kind = (issue.get("state") or {}).get("type")
        if status == "done" and kind in DONE_TYPES or status == "in_progress" and kind == "started":
            return
        if status == "open" and ((issue.get("state") or {}).get("name") in self.state_names if self.state_names
                                 else kind in self.state_types):
            return
        states = list(((issue.get("team") or {}).get("states") or {}).get("nodes") or [])
        target = self._target_state(states, status)
        data = self._call("AoIssueUpdate", M_ISSUE_UPDATE, {"id": issue["id"], "input": {"stateId": target["id"]}},
                          f"moving {issue['identifier']} to {target['name']}")
        if not (data.get("issueUpdate") or {}).get("success"):
            raise LinearError(f"Linear: moving {issue['identifier']} to {target['name']} was refused")

    def set_status(self, task_id: str, status: str) -> None:
        """Move the issue to a workflow state of the status's type (nothing if it is in one already)."""
        if status not in STATUSES:
            raise AoError(f"unknown task status {status!r}; use one of {', '.join(STATUSES)}")
        self._move(self._issue(task_id), status)

    def _comment(self, task_id: str, body: str) -> None:
        identifier = self._identifier(task_id)
        uuid = self._uuids.get(identifier) or self._issue(identifier)["id"]
        data = self._call("AoCommentCreate", M_COMMENT_CREATE, {"input": {"issueId": uuid, "body": body}},
                          f"commenting on {identifier}")
        if not (data.get("commentCreate") or {}).get("success"):
            raise LinearError(f"Linear: commenting on {identifier} was refused")

    def on_session_started(self, task: Task, session_id: str, branch: str) -> None:
        self._comment(task.id, f"ao session {session_id} started on branch `{branch}`.")

    def on_merged(self, task: Task, session_id: str, pr_url: str) -> None:
        """Comment with the PR, and complete the issue unless Linear's GitHub integration already did."""
        self._comment(task.id, f"Merged in {pr_url or 'a pull request'} (ao session {session_id}).")
        self._move(self._issue(task.id), "done")

    def _label_ids(self, team_id: str, names: list[str]) -> list[str]:
        """Ids of the team's (or workspace's) labels by name; the filter labels must exist."""
        if not names:
            return []
        data = self._call("AoLabels", Q_LABELS, {"names": names}, "reading labels")
        found: dict[str, str] = {}
        for node in (data.get("issueLabels") or {}).get("nodes") or []:
            team = node.get("team")
            if team is None or team.get("id") == team_id:
                found.setdefault(node["name"], node["id"])
        missing = [n for n in names if n not in found]
        if self.labels and self.labels[0] in missing:
            raise PluginError(f"tracker linear: option `label`: no label {self.labels[0]!r} in team {self.team_key}")
        if missing:
            log.warning("tracker linear: labels not in team %s, left off: %s", self.team_key, ", ".join(missing))
        return [found[n] for n in names if n in found]

    def create_task(self, title: str, body: str = "", depends_on: list[str] | None = None,
                    labels: list[str] | None = None) -> Task:
        """A new issue in the team's backlog, blocked by the ``depends_on`` issues."""
        if not title.strip():
            raise AoError("a task needs a title")
        blockers = [self._issue(d)["id"] for d in depends_on or []]  # all known before anything is created
        team = self._team_info()
        names = [*self.labels[:1], *[l for l in labels or [] if l not in self.labels[:1]]]
        state = self._target_state(team.states, "open")
        issue_input: dict[str, Any] = {"teamId": team.id, "title": title.strip(), "description": body,
                                       "stateId": state["id"]}
        label_ids = self._label_ids(team.id, names)
        if label_ids:
            issue_input["labelIds"] = label_ids
        data = self._call("AoIssueCreate", M_ISSUE_CREATE, {"input": issue_input}, "creating an issue")
        created = data.get("issueCreate") or {}
        if not created.get("success") or not isinstance(created.get("issue"), dict):
            raise LinearError("Linear: creating an issue was refused")
        issue = created["issue"]
        for blocker in blockers:
            self._call("AoIssueRelationCreate", M_RELATION_CREATE,
                       {"input": {"issueId": blocker, "relatedIssueId": issue["id"], "type": "blocks"}},
                       f"marking {issue['identifier']} as blocked")
        if blockers:
            return self.get_task(issue["identifier"])
        return self._task(issue)
