"""A local fake of Linear's GraphQL API, good enough for ao's ``linear`` tracker.

``FakeLinear`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port),
used as a context manager; ``url`` is its ``/graphql`` endpoint. It keeps teams
(with Linear's default workflow states), labels, issues, comments and "blocks"
relations in memory, and answers operations by their name, in the shapes
Linear's schema documents:

* ``teams(filter: {key: {eq}})`` with ``states { nodes { id name type position } }``
* ``issues(filter: IssueFilter, first, after)``: ``nodes`` and ``pageInfo``,
  newest first as Linear orders by default; the filter is evaluated for real
  (``and``/``or``, ``some``/``every`` on collections, ``eq``/``neq``/``in``/``nin``
  /``eqIgnoreCase``), so an unknown field is an error, as on Linear
* ``issue(id)`` by id or identifier (``Entity not found`` otherwise)
* ``issueLabels(filter: {name: {in}})``
* mutations ``issueUpdate(id, input: {stateId})``, ``commentCreate(input:
  {issueId, body})``, ``issueCreate(input: {teamId, title, description,
  stateId, labelIds})``, ``issueRelationCreate(input: {issueId, relatedIssueId,
  type})``, each answering ``success``

Requests must carry ``Authorization: <key>`` (else ``AUTHENTICATION_ERROR``).
Tests change the world through methods (``add_team``, ``add_issue``, ``block``...),
make the next answers fail (``rate_limit``, ``fail_next``) and read what the
client sent from ``requests`` (operation name, query text and variables).
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_STATES = (  # a new Linear team's workflow
    ("Backlog", "backlog"), ("Todo", "unstarted"), ("In Progress", "started"), ("In Review", "started"),
    ("Done", "completed"), ("Canceled", "canceled"), ("Duplicate", "canceled"),
)
MAX_PAGE = 250


@dataclass
class Request:
    operation: str
    query: str
    variables: dict[str, Any]
    status: int
    host: str
    authorized: bool


@dataclass
class _Failure:
    status: int
    errors: list[dict[str, Any]] | None = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


class GraphQLError(Exception):
    """Raised by a resolver: the answer is ``{"data": null, "errors": [...]}``."""

    def __init__(self, message: str, code: str = "INVALID_INPUT", status: int = 200, **extensions: Any) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.extensions = message, code, status, extensions

    def payload(self) -> dict[str, Any]:
        return {"message": self.message,
                "extensions": {"code": self.code, "type": self.code.lower().replace("_", " "),
                               "userPresentableMessage": self.message, **self.extensions}}


_COMPARATORS = {
    "eq": lambda v, c: v == c,
    "neq": lambda v, c: v != c,
    "in": lambda v, c: v in c,
    "nin": lambda v, c: v not in c,
    "eqIgnoreCase": lambda v, c: isinstance(v, str) and v.lower() == str(c).lower(),
    "containsIgnoreCase": lambda v, c: isinstance(v, str) and str(c).lower() in v.lower(),
}
# what each filterable object exposes (a slice of Linear's IssueFilter and friends)
_FIELDS = {
    "Issue": {"id", "identifier", "title", "description", "priority", "team", "state", "labels"},
    "Team": {"id", "key", "name"},
    "WorkflowState": {"id", "name", "type"},
    "IssueLabel": {"id", "name"},
}


def _matches(filt: Any, obj: Any, kind: str) -> bool:
    """Evaluate a Linear filter object against ``obj`` (a dict of kind ``kind``, a list, or a scalar)."""
    if not isinstance(filt, dict):
        raise GraphQLError(f"Expected a filter object, got {json.dumps(filt)}", code="GRAPHQL_VALIDATION_FAILED",
                           status=400)
    for key, cond in filt.items():
        if key == "and":
            ok = all(_matches(f, obj, kind) for f in cond)
        elif key == "or":
            ok = any(_matches(f, obj, kind) for f in cond)
        elif key in _COMPARATORS:
            ok = _COMPARATORS[key](obj, cond)
        elif key in ("some", "every") and isinstance(obj, list):
            test = any if key == "some" else all
            ok = test(_matches(cond, item, kind) for item in obj)
        elif isinstance(obj, dict) and key in _FIELDS.get(kind, ()):
            child = {"team": "Team", "state": "WorkflowState", "labels": "IssueLabel"}.get(key, "Scalar")
            ok = _matches(cond, obj.get(key), child)
        else:
            raise GraphQLError(f'Field "{key}" is not defined by type "{kind}Filter".',
                               code="GRAPHQL_VALIDATION_FAILED", status=400)
        if not ok:
            return False
    return True


class FakeLinear:
    """The fake server and its model. Use ``with FakeLinear(key=...) as linear: ...``."""

    def __init__(self, *, key: str = "lin_api_test", org: str = "acme") -> None:
        self.key = key
        self.org = org
        self.teams: dict[str, dict[str, Any]] = {}
        self.states: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.relations: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.failures: list[_Failure] = []
        self.lock = threading.RLock()
        self._clock = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> FakeLinear:
        handler = type("Handler", (_Handler,), {"model": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-linear", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/graphql"

    # -- the world ----------------------------------------------------------------------

    def _stamp(self) -> str:
        return (EPOCH + timedelta(minutes=next(self._clock))).isoformat().replace("+00:00", "Z")

    def add_team(self, key: str, name: str = "", states: tuple[tuple[str, str], ...] = DEFAULT_STATES) -> str:
        with self.lock:
            team_id = str(uuid.uuid4())
            self.teams[team_id] = {"id": team_id, "key": key, "name": name or key.title(), "next": 1}
            for position, (state_name, kind) in enumerate(states):
                state_id = str(uuid.uuid4())
                self.states[state_id] = {"id": state_id, "name": state_name, "type": kind,
                                         "position": float(position), "team": team_id}
            return team_id

    def team(self, key: str) -> dict[str, Any]:
        return next(t for t in self.teams.values() if t["key"] == key)

    def state(self, team_key: str, name: str) -> dict[str, Any]:
        team = self.team(team_key)
        return next(s for s in self.states.values() if s["team"] == team["id"] and s["name"] == name)

    def add_label(self, name: str, team_key: str | None = None) -> str:
        with self.lock:
            label_id = str(uuid.uuid4())
            self.labels[label_id] = {"id": label_id, "name": name,
                                     "team": self.team(team_key)["id"] if team_key else None}
            return label_id

    def _label_id(self, name: str, team_id: str) -> str:
        for label in self.labels.values():
            if label["name"] == name and label["team"] in (None, team_id):
                return label["id"]
        label_id = str(uuid.uuid4())
        self.labels[label_id] = {"id": label_id, "name": name, "team": team_id}
        return label_id

    def add_issue(self, team_key: str, title: str, description: str | None = "", *, state: str = "Todo",
                  labels: tuple[str, ...] | list[str] = (), priority: int = 0) -> str:
        """A new issue; returns its identifier (``ENG-1``)."""
        with self.lock:
            team = self.team(team_key)
            return self._create(team, title, description, self.state(team_key, state)["id"],
                                [self._label_id(n, team["id"]) for n in labels], priority)["identifier"]

    def _create(self, team: dict[str, Any], title: str, description: str | None, state_id: str,
                label_ids: list[str], priority: int = 0) -> dict[str, Any]:
        number = team["next"]
        team["next"] += 1
        identifier = f"{team['key']}-{number}"
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
        issue = {"id": str(uuid.uuid4()), "identifier": identifier, "number": number, "title": title,
                 "description": description, "priority": priority, "createdAt": self._stamp(),
                 "url": f"https://linear.invalid/{self.org}/issue/{identifier}/{slug}",
                 "team": team["id"], "state": state_id, "labels": list(label_ids)}
        self.issues[issue["id"]] = issue
        return issue

    def block(self, blocker: str, blocked: str) -> None:
        """``blocker`` blocks ``blocked`` (identifiers)."""
        with self.lock:
            self.relations.append({"id": str(uuid.uuid4()), "type": "blocks", "issue": self.issue(blocker)["id"],
                                   "related": self.issue(blocked)["id"]})

    def issue(self, identifier_or_id: str) -> dict[str, Any]:
        with self.lock:
            for issue in self.issues.values():
                if identifier_or_id in (issue["id"], issue["identifier"]):
                    return issue
        raise KeyError(identifier_or_id)

    def state_of(self, identifier: str) -> tuple[str, str]:
        state = self.states[self.issue(identifier)["state"]]
        return state["name"], state["type"]

    def move(self, identifier: str, state: str) -> None:
        with self.lock:
            issue = self.issue(identifier)
            team = self.teams[issue["team"]]
            issue["state"] = self.state(team["key"], state)["id"]

    def comments_on(self, identifier: str) -> list[str]:
        issue_id = self.issue(identifier)["id"]
        return [c["body"] for c in self.comments if c["issue"] == issue_id]

    def rate_limit(self, times: int = 1, *, status: int = 400, reset_in: float = 90) -> float:
        """The next ``times`` requests are refused as rate limited; returns the reset time (epoch s)."""
        reset = time.time() + reset_in
        headers = {"X-RateLimit-Requests-Limit": "1500", "X-RateLimit-Requests-Remaining": "0",
                   "X-RateLimit-Requests-Reset": str(int(reset * 1000))}
        error = GraphQLError("Rate limit exceeded", code="RATELIMITED").payload()
        with self.lock:
            self.failures.extend(_Failure(status, [error], headers=headers) for _ in range(times))
        return reset

    def fail_next(self, message: str = "", *, code: str = "INTERNAL_SERVER_ERROR", status: int = 200,
                  raw: bytes | None = None, headers: dict[str, str] | None = None) -> None:
        """The next request fails: a GraphQL error (``{authorization}`` in the message echoes the
        header, as a careless server might), or ``raw`` bytes with ``status`` and ``headers``."""
        with self.lock:
            errors = None if raw is not None else [GraphQLError(message, code=code).payload()]
            self.failures.append(_Failure(status, errors, raw, dict(headers or {})))

    def operations(self) -> list[str]:
        return [r.operation for r in self.requests]

    # -- rendering ----------------------------------------------------------------------

    def _state_node(self, state_id: str) -> dict[str, Any]:
        s = self.states[state_id]
        return {"id": s["id"], "name": s["name"], "type": s["type"]}

    def _team_node(self, team: dict[str, Any]) -> dict[str, Any]:
        states = sorted((s for s in self.states.values() if s["team"] == team["id"]), key=lambda s: s["position"])
        return {"id": team["id"], "key": team["key"], "name": team["name"],
                "states": {"nodes": [{k: s[k] for k in ("id", "name", "type", "position")} for s in states]}}

    def _issue_node(self, issue: dict[str, Any], with_team: bool = False) -> dict[str, Any]:
        inverse = []
        for relation in self.relations:
            if relation["related"] == issue["id"]:
                other = self.issues[relation["issue"]]
                inverse.append({"type": relation["type"], "issue": {
                    "identifier": other["identifier"], "state": {"type": self.states[other["state"]]["type"]}}})
        node = {k: issue[k] for k in ("id", "identifier", "title", "description", "url", "priority", "createdAt")}
        node.update(state=self._state_node(issue["state"]),
                    labels={"nodes": [{"name": self.labels[l]["name"]} for l in issue["labels"]]},
                    inverseRelations={"nodes": inverse})
        if with_team:
            node["team"] = self._team_node(self.teams[issue["team"]])
        return node

    def _filterable(self, issue: dict[str, Any]) -> dict[str, Any]:
        team = self.teams[issue["team"]]
        return {**{k: issue[k] for k in ("id", "identifier", "title", "description", "priority")},
                "team": {"id": team["id"], "key": team["key"], "name": team["name"]},
                "state": self._state_node(issue["state"]),
                "labels": [{"id": l, "name": self.labels[l]["name"]} for l in issue["labels"]]}

    # -- resolvers ------------------------------------------------------------------------

    def _find_issue(self, ident: Any) -> dict[str, Any]:
        for issue in self.issues.values():
            if ident in (issue["id"], issue["identifier"]):
                return issue
        raise GraphQLError("Entity not found: Issue", userError=True)

    def _teams(self, v: dict[str, Any]) -> dict[str, Any]:
        nodes = [self._team_node(t) for t in self.teams.values() if t["key"] == v["key"]]
        return {"teams": {"nodes": nodes}}

    def _issues(self, v: dict[str, Any]) -> dict[str, Any]:
        first = v.get("first") or 50
        if first > MAX_PAGE:
            raise GraphQLError(f"first must be at most {MAX_PAGE}", status=400)
        found = [i for i in reversed(list(self.issues.values()))
                 if _matches(v.get("filter") or {}, self._filterable(i), "Issue")]
        start = 0
        if v.get("after"):
            ids = [i["id"] for i in found]
            if v["after"] not in ids:
                raise GraphQLError("Invalid cursor", status=400)
            start = ids.index(v["after"]) + 1
        page = found[start:start + first]
        more = start + first < len(found)
        return {"issues": {"nodes": [self._issue_node(i) for i in page],
                           "pageInfo": {"hasNextPage": more, "endCursor": page[-1]["id"] if page else None}}}

    def _issue(self, v: dict[str, Any]) -> dict[str, Any]:
        return {"issue": self._issue_node(self._find_issue(v["id"]), with_team=True)}

    def _labels(self, v: dict[str, Any]) -> dict[str, Any]:
        names = v.get("names") or []
        return {"issueLabels": {"nodes": [{"id": l["id"], "name": l["name"],
                                           "team": {"id": l["team"]} if l["team"] else None}
                                          for l in self.labels.values() if l["name"] in names]}}

    def _issue_update(self, v: dict[str, Any]) -> dict[str, Any]:
        issue = self._find_issue(v["id"])
        extra = set(v["input"]) - {"stateId"}
        if extra:
            raise GraphQLError(f"this fake updates stateId only, not {sorted(extra)}")
        state = self.states.get(v["input"]["stateId"])
        if state is None or state["team"] != issue["team"]:
            raise GraphQLError("Entity not found: WorkflowState")
        issue["state"] = state["id"]
        return {"issueUpdate": {"success": True, "issue": {"id": issue["id"], "identifier": issue["identifier"],
                                                           "state": self._state_node(state["id"])}}}

    def _comment_create(self, v: dict[str, Any]) -> dict[str, Any]:
        issue = self._find_issue(v["input"]["issueId"])
        body = v["input"].get("body")
        if not isinstance(body, str) or not body:
            raise GraphQLError("body must not be empty")
        comment = {"id": str(uuid.uuid4()), "issue": issue["id"], "body": body, "createdAt": self._stamp()}
        self.comments.append(comment)
        return {"commentCreate": {"success": True, "comment": {"id": comment["id"]}}}

    def _issue_create(self, v: dict[str, Any]) -> dict[str, Any]:
        data = v["input"]
        team = self.teams.get(data.get("teamId"))
        if team is None:
            raise GraphQLError("Entity not found: Team")
        if not str(data.get("title") or "").strip():
            raise GraphQLError("title must not be empty")
        state_id = data.get("stateId") or next(s["id"] for s in self.states.values()
                                               if s["team"] == team["id"] and s["type"] == "backlog")
        if self.states.get(state_id, {}).get("team") != team["id"]:
            raise GraphQLError("Entity not found: WorkflowState")
        if any(l not in self.labels for l in data.get("labelIds") or []):
            raise GraphQLError("Entity not found: IssueLabel")
        issue = self._create(team, data["title"], data.get("description"), state_id, list(data.get("labelIds") or []))
        return {"issueCreate": {"success": True, "issue": self._issue_node(issue)}}

    def _relation_create(self, v: dict[str, Any]) -> dict[str, Any]:
        data = v["input"]
        source, related = self._find_issue(data["issueId"]), self._find_issue(data["relatedIssueId"])
        if data.get("type") not in ("blocks", "duplicate", "related", "similar"):
            raise GraphQLError("invalid relation type")
        self.relations.append({"id": str(uuid.uuid4()), "type": data["type"], "issue": source["id"],
                               "related": related["id"]})
        return {"issueRelationCreate": {"success": True}}

    def resolve(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        resolver: Callable[[dict[str, Any]], dict[str, Any]] | None = {
            "AoTeam": self._teams, "AoIssues": self._issues, "AoIssue": self._issue, "AoLabels": self._labels,
            "AoIssueUpdate": self._issue_update, "AoCommentCreate": self._comment_create,
            "AoIssueCreate": self._issue_create, "AoIssueRelationCreate": self._relation_create,
        }.get(operation)
        if resolver is None:
            raise GraphQLError(f'Unknown operation named "{operation}".', code="GRAPHQL_VALIDATION_FAILED", status=400)
        return resolver(variables)


class _Handler(BaseHTTPRequestHandler):
    model: FakeLinear
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        with self.model.lock:
            self.model.requests.append(Request("GET " + self.path, "", {}, 400, self.headers.get("Host", ""),
                                               self.headers.get("Authorization", "") == self.model.key))
        self._send(400, json.dumps({"errors": [{"message": "GET query missing."}]}).encode())

    def do_POST(self) -> None:
        fake = self.model
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        try:
            body = json.loads(raw)
            operation = str(body.get("operationName") or "")
            query = str(body.get("query") or "")
            variables = body.get("variables") or {}
        except (ValueError, AttributeError):
            body, operation, query, variables = None, "", "", {}
        record = Request(operation, query, variables, 0, self.headers.get("Host", ""), auth == fake.key)
        headers: dict[str, str] = {"X-RateLimit-Requests-Limit": "1500", "X-RateLimit-Requests-Remaining": "1499"}
        with fake.lock:
            failure = fake.failures.pop(0) if fake.failures else None
            if self.path != "/graphql":
                status, payload = 404, {"errors": [{"message": "Not found"}]}
            elif failure is not None:
                status, headers = failure.status, {**headers, **failure.headers}
                errors = json.loads(json.dumps(failure.errors).replace("{authorization}", auth)) \
                    if failure.errors else None
                payload = {"data": None, "errors": errors} if errors else None
            elif not record.authorized:
                status, payload = 400, {"data": None, "errors": [GraphQLError(
                    "Authentication required, not authenticated", code="AUTHENTICATION_ERROR",
                    userPresentableMessage="You need to authenticate to access this operation.").payload()]}
            elif body is None or not re.search(rf"\b(?:query|mutation)\s+{re.escape(operation)}\s*\(", query):
                status, payload = 400, {"errors": [{"message": "Must provide a query and its operationName.",
                                                    "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}]}
            else:
                try:
                    status, payload = 200, {"data": fake.resolve(operation, variables)}
                except GraphQLError as exc:
                    status, payload = exc.status, {"data": None, "errors": [exc.payload()]}
            record.status = status
            fake.requests.append(record)
        data = failure.raw if failure is not None and failure.raw is not None else json.dumps(payload).encode()
        self._send(status, data, headers)
