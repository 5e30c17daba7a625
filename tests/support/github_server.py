"""A local fake of the GitHub REST API, good enough for PyGithub and ao's GitHub plugins.

``FakeGitHub`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 (a free port),
used as a context manager. It keeps an in-memory model of one or more
repositories and answers the REST shapes GitHub documents for:

* ``GET /repos/{o}/{r}``; ``GET /rate_limit`` (free, as on GitHub)
* pulls: ``GET|POST /repos/{o}/{r}/pulls`` (filters ``state``, ``head``, ``base``),
  ``GET|PATCH /pulls/{n}``, ``PUT /pulls/{n}/merge`` (``merge_method``, ``sha``:
  405 when not mergeable or already merged, 409 when ``sha`` is not the head),
  ``GET|POST /pulls/{n}/reviews`` (events APPROVE, REQUEST_CHANGES, COMMENT,
  with inline ``comments``), ``GET /pulls/{n}/comments``
* issues: ``GET|POST /repos/{o}/{r}/issues`` (filters ``state``, ``labels``; the
  list holds PRs too, marked ``pull_request``), ``GET|PATCH /issues/{n}``,
  ``GET|POST /issues/{n}/comments``
* CI: ``GET /commits/{ref}/check-runs``, ``GET /commits/{ref}/status`` (combined),
  ``GET /check-runs/{id}``, ``GET /check-runs/{id}/annotations``,
  ``GET /actions/jobs/{id}/logs`` (a 302 to a plain-text blob on this server)

List answers are paged (``page``, ``per_page`` up to 100, ``Link`` header with
``rel="next"``/``rel="last"``). Every answer carries ``X-RateLimit-Limit``,
``-Remaining``, ``-Reset``, ``-Used`` and ``-Resource``; every GET 200 carries
a weak ``ETag`` computed from its body, and a request whose ``If-None-Match``
matches gets ``304 Not Modified`` without spending the budget, as on GitHub.
When the budget is spent (``set_rate_limit(0)``) requests get 403 (or 429) with
``X-RateLimit-Remaining: 0`` and ``Retry-After``.

Timestamps come from a logical clock that moves one second per change, so a
PR's ``updated_at`` (bumped by pushes, reviews and review comments, as GitHub
does) always changes when the PR does.

Tests change the world through methods (``push``, ``add_check_run``,
``add_status``, ``add_review``, ``set_mergeable``, ``add_issue``...) and read
what the client did from ``requests`` / ``stats()``. ``prefix="/api/v3"``
serves the API under that path, as GitHub Enterprise does.

Users: ``token`` is ``login``'s; ``users={token: login}`` adds more. Whatever a
request creates (PRs, reviews, comments, issues) is by the token's user, and, as
on GitHub, a PR's author cannot approve it or request changes on it (422, errors
``["Can not approve your own pull request"]``). ``GET /user`` answers the token's user
with ``X-OAuth-Scopes`` from ``scopes={token: "repo, read:org"}`` (``repo`` unless
given; None: no header, as for a fine-grained token).

Git: ``serve_git(full_name, bare)`` makes a bare repository the repository's
git side: its branches are read at once, and a ``post-receive`` hook installed
in it tells the fake about every push (``POST /_git/receive/...``, outside the
API), so a real ``git push`` moves the branch and any open PR's head, as on GitHub.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
FAILING_CONCLUSIONS = {"failure", "timed_out", "cancelled", "action_required", "startup_failure"}


@dataclass
class RequestRecord:
    method: str
    path: str  # with the query string
    status: int
    counted: bool  # spent the rate-limit budget
    host: str
    if_none_match: str | None = None
    limited: bool = False  # refused for lack of budget
    authorized: bool = False  # carried an Authorization header


@dataclass
class RepoModel:
    owner: str
    name: str
    default_branch: str = "main"
    id: int = 0
    branches: dict[str, str] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    issue_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    review_comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class _Reply(Exception):
    """Raised by a handler to answer with an error status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.extra = status, message, headers or {}, extra


def _user(login: str) -> dict[str, Any]:
    uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": "User", "site_admin": False,
            "url": f"/users/{login}", "html_url": f"https://github.invalid/{login}", "avatar_url": ""}


def guard_loopback_only(monkeypatch: Any) -> list[Any]:
    """Refuse (AssertionError) any socket connection not to 127.0.0.1 / ::1; returns the addresses seen.

    ``monkeypatch`` is pytest's; the guard lasts for the test."""
    seen: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        seen.append(address)
        host = address[0] if isinstance(address, tuple) else str(address)
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in ("127.0.0.1", "::1"):
            raise AssertionError(f"a test tried to reach {host}: only 127.0.0.1 is allowed")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def fake_sha(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()


class FakeGitHub:
    """The fake server and its model. Use ``with FakeGitHub() as gh: ...``."""

    def __init__(self, *, token: str = "test-token", login: str = "ao-bot", prefix: str = "",
                 rate_limit: int = 5000, users: dict[str, str] | None = None,
                 scopes: dict[str, str | None] | None = None) -> None:
        self.token = token
        self.login = login
        #: token -> login of every user the server knows.
        self.users = {token: login, **(users or {})}
        #: token -> its classic scopes, as ``X-OAuth-Scopes`` says them (None: a fine-grained token).
        self.scopes: dict[str, str | None] = {t: "repo" for t in self.users} | (scopes or {})
        #: The user of the request being handled (set under ``lock``).
        self.current_login = login
        self.prefix = prefix.rstrip("/")
        self.repos: dict[str, RepoModel] = {}
        self.requests: list[RequestRecord] = []
        self.lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._tick = 0
        self.limit = rate_limit
        self.remaining = rate_limit
        self.reset_at = int(time.time()) + 3600
        self.limited_status = 403
        self.job_logs: dict[int, str] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            server_model = fake

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-github", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "use FakeGitHub as a context manager"
        return self._httpd.server_address[1]

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The ``base_url`` to give PyGithub (and ao's ``base_url`` option)."""
        return self.root + self.prefix

    # -- counters --------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {
                "total": len(self.requests),
                "counted": sum(r.counted for r in self.requests),
                "not_modified": sum(r.status == 304 for r in self.requests),
                "rate_limited": sum(r.limited for r in self.requests),
            }

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def set_rate_limit(self, remaining: int, *, reset_in: float = 3600, status: int = 403) -> None:
        """Set the budget left; at 0 every API request is refused with ``status``."""
        with self.lock:
            self.remaining = remaining
            self.reset_at = int(time.time() + reset_in)
            self.limited_status = status

    # -- the model, for tests ----------------------------------------------------------

    def now(self) -> str:
        return (EPOCH + timedelta(seconds=self._tick)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _touch(self) -> str:
        self._tick += 1
        return self.now()

    def add_repo(self, full_name: str, default_branch: str = "main") -> RepoModel:
        owner, name = full_name.split("/")
        with self.lock:
            repo = RepoModel(owner=owner, name=name, default_branch=default_branch, id=next(self._ids))
            repo.branches[default_branch] = fake_sha(f"{full_name}:{default_branch}:0")
            self.repos[full_name] = repo
            return repo

    def repo(self, full_name: str) -> RepoModel:
        return self.repos[full_name]

    def push(self, full_name: str, branch: str, sha: str | None = None) -> str:
        """Move (or create) ``branch``; an open PR from it gets the new head."""
        with self.lock:
            repo = self.repos[full_name]
            sha = sha or fake_sha(f"{full_name}:{branch}:{self._tick}:{next(self._ids)}")
            repo.branches[branch] = sha
            for pr in repo.pulls.values():
                if pr["head_ref"] == branch and pr["state"] == "open":
                    pr["head_sha"] = sha
                    pr["updated_at"] = self._touch()
            return sha

    def delete_branch(self, full_name: str, branch: str) -> None:
        with self.lock:
            self.repos[full_name].branches.pop(branch, None)

    def serve_git(self, full_name: str, bare: Path) -> None:
        """Make the bare repository ``bare`` the git side of ``full_name`` (see the module doc)."""
        out = subprocess.run(["git", "-C", str(bare), "for-each-ref", "--format=%(objectname) %(refname)",
                              "refs/heads/"], check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            sha, ref = line.split(" ", 1)
            self.push(full_name, ref.removeprefix("refs/heads/"), sha)
        hooks = Path(bare) / "hooks"
        hooks.mkdir(exist_ok=True)
        hook = hooks / "post-receive"
        url = f"{self.root}/_git/receive/{full_name}"
        hook.write_text(f"#!{sys.executable}\n" + _POST_RECEIVE.replace("@URL@", repr(url)))
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        # a global core.hooksPath must not hide this hook
        subprocess.run(["git", "-C", str(bare), "config", "core.hooksPath", str(hooks)], check=True)

    def _received(self, full_name: str, updates: list[dict[str, str]]) -> None:
        for update in updates:
            ref, new = update.get("ref", ""), update.get("new", "")
            if not ref.startswith("refs/heads/"):
                continue
            branch = ref.removeprefix("refs/heads/")
            if set(new) == {"0"}:
                self.delete_branch(full_name, branch)
            else:
                self.push(full_name, branch, new)

    def add_check_run(self, full_name: str, sha: str, name: str, *, status: str = "completed",
                      conclusion: str | None = "success", title: str = "", summary: str = "", text: str = "",
                      log: str | None = None, annotations: list[dict[str, Any]] | None = None,
                      app: str = "github-actions") -> int:
        """A check run on ``sha``; ``log`` makes it an Actions job whose log can be fetched."""
        with self.lock:
            repo = self.repos[full_name]
            run_id = next(self._ids)
            stamp = self._touch()
            repo.check_runs.append({
                "id": run_id, "head_sha": sha, "name": name, "status": status,
                "conclusion": conclusion if status == "completed" else None,
                "started_at": stamp, "completed_at": stamp if status == "completed" else None,
                "output": {"title": title or None, "summary": summary or None, "text": text or None},
                "annotations": list(annotations or []), "app": app,
            })
            if log is not None:
                self.job_logs[run_id] = log
            return run_id

    def update_check_run(self, full_name: str, run_id: int, **changes: Any) -> None:
        with self.lock:
            for run in self.repos[full_name].check_runs:
                if run["id"] == run_id:
                    if "log" in changes:
                        self.job_logs[run_id] = changes.pop("log")
                    run.update(changes)
                    if run.get("status") == "completed" and not run.get("completed_at"):
                        run["completed_at"] = self._touch()
                    return
            raise KeyError(run_id)

    def add_status(self, full_name: str, sha: str, context: str, state: str, description: str = "",
                   target_url: str = "") -> int:
        with self.lock:
            status_id = next(self._ids)
            stamp = self._touch()
            self.repos[full_name].statuses.append({
                "id": status_id, "sha": sha, "context": context, "state": state, "description": description or None,
                "target_url": target_url or None, "created_at": stamp, "updated_at": stamp,
            })
            return status_id

    def add_review(self, full_name: str, number: int, user: str, state: str, body: str = "",
                   comments: list[dict[str, Any]] | None = None) -> int:
        """A submitted review (APPROVED, CHANGES_REQUESTED, COMMENTED) with inline comments
        (``{"path", "line", "body"}``); bumps the PR's ``updated_at`` like GitHub."""
        with self.lock:
            repo = self.repos[full_name]
            return self._review(repo, repo.pulls[number], user, state, body, comments or [])

    def _review(self, repo: RepoModel, pr: dict[str, Any], user: str, state: str, body: str,
                comments: list[dict[str, Any]]) -> int:
        review_id = next(self._ids)
        stamp = self._touch()
        repo.reviews.setdefault(pr["number"], []).append({
            "id": review_id, "user": user, "state": state, "body": body, "commit_id": pr["head_sha"],
            "submitted_at": stamp})
        for c in comments:
            repo.review_comments.setdefault(pr["number"], []).append({
                "id": next(self._ids), "review_id": review_id, "user": user, "body": c["body"], "path": c["path"],
                "line": c.get("line"), "original_line": c.get("line"), "commit_id": pr["head_sha"],
                "created_at": stamp, "in_reply_to_id": c.get("in_reply_to_id")})
        pr["updated_at"] = stamp
        return review_id

    def outdate_comments(self, full_name: str, number: int) -> None:
        """Mark the PR's review comments outdated (GitHub sets ``line`` to null)."""
        with self.lock:
            for c in self.repos[full_name].review_comments.get(number, []):
                c["line"] = None

    def set_mergeable(self, full_name: str, number: int, mergeable: bool | None, state: str | None = None) -> None:
        """``mergeable`` False with ``mergeable_state`` "dirty" is a conflict; None is "not computed yet"."""
        with self.lock:
            pr = self.repos[full_name].pulls[number]
            pr["mergeable"] = mergeable
            pr["mergeable_state"] = state or {True: "clean", False: "dirty", None: "unknown"}[mergeable]

    def add_issue(self, full_name: str, title: str, body: str = "", labels: list[str] | tuple[str, ...] = (),
                  state: str = "open", user: str = "someone") -> int:
        with self.lock:
            repo = self.repos[full_name]
            return self._issue(repo, title, body, list(labels), user, state)

    def _issue(self, repo: RepoModel, title: str, body: str, labels: list[str], user: str,
               state: str = "open") -> int:
        number = repo.next_number
        repo.next_number += 1
        stamp = self._touch()
        repo.issues[number] = {"number": number, "id": next(self._ids), "title": title, "body": body,
                               "labels": labels, "state": state, "user": user, "created_at": stamp,
                               "updated_at": stamp, "closed_at": stamp if state == "closed" else None,
                               "state_reason": "completed" if state == "closed" else None}
        return number

    def issue_comments(self, full_name: str, number: int) -> list[str]:
        with self.lock:
            return [c["body"] for c in self.repos[full_name].issue_comments.get(number, [])]

    def merge_outside(self, full_name: str, number: int) -> None:
        """Someone merged the PR on github.com."""
        with self.lock:
            repo = self.repos[full_name]
            self._merge(repo, repo.pulls[number], "merge")

    def _merge(self, repo: RepoModel, pr: dict[str, Any], method: str) -> str:
        stamp = self._touch()
        sha = fake_sha(f"merge:{repo.full_name}:{pr['number']}:{method}:{stamp}")
        pr.update(state="closed", merged=True, merged_at=stamp, closed_at=stamp, updated_at=stamp,
                  merge_commit_sha=sha, merged_by=self.current_login, mergeable=None, mergeable_state="unknown",
                  merge_method=method)
        repo.branches[pr["base_ref"]] = sha
        if pr["base_ref"] == repo.default_branch:  # "Closes #N" closes the issue, as on GitHub
            for ref in re.findall(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)", pr["body"] or ""):
                issue = repo.issues.get(int(ref))
                if issue and issue["state"] == "open":
                    issue.update(state="closed", closed_at=stamp, updated_at=stamp, state_reason="completed")
        return sha

    # -- JSON shapes ----------------------------------------------------------------------

    def _repo_json(self, repo: RepoModel) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        return {"id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name, "full_name": repo.full_name,
                "owner": _user(repo.owner), "private": False, "default_branch": repo.default_branch,
                "url": api, "html_url": f"https://github.invalid/{repo.full_name}",
                "pulls_url": api + "/pulls{/number}", "issues_url": api + "/issues{/number}"}

    def _pull_json(self, repo: RepoModel, pr: dict[str, Any], detail: bool) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        n = pr["number"]
        data: dict[str, Any] = {
            "url": f"{api}/pulls/{n}", "id": pr["id"], "node_id": f"PR_{pr['id']}", "number": n,
            "html_url": f"https://github.invalid/{repo.full_name}/pull/{n}",
            "issue_url": f"{api}/issues/{n}", "state": pr["state"], "locked": False, "title": pr["title"],
            "body": pr["body"], "user": _user(pr["user"]), "draft": pr["draft"], "labels": [],
            "created_at": pr["created_at"], "updated_at": pr["updated_at"], "closed_at": pr["closed_at"],
            "merged_at": pr["merged_at"], "merge_commit_sha": pr["merge_commit_sha"],
            "head": {"label": f"{repo.owner}:{pr['head_ref']}", "ref": pr["head_ref"], "sha": pr["head_sha"],
                     "user": _user(repo.owner), "repo": self._repo_json(repo)},
            "base": {"label": f"{repo.owner}:{pr['base_ref']}", "ref": pr["base_ref"],
                     "sha": repo.branches.get(pr["base_ref"], ""), "user": _user(repo.owner),
                     "repo": self._repo_json(repo)},
            "comments_url": f"{api}/issues/{n}/comments", "review_comments_url": f"{api}/pulls/{n}/comments",
            "statuses_url": f"{api}/statuses/{pr['head_sha']}",
        }
        if detail:  # only the single-PR answer has these, as on GitHub
            data.update(merged=pr["merged"], mergeable=pr["mergeable"], mergeable_state=pr["mergeable_state"],
                        merged_by=_user(pr["merged_by"]) if pr["merged_by"] else None,
                        comments=len(repo.issue_comments.get(n, [])),
                        review_comments=len(repo.review_comments.get(n, [])), commits=1, additions=1,
                        deletions=0, changed_files=1, rebaseable=pr["mergeable"], maintainer_can_modify=False)
        return data

    def _issue_json(self, repo: RepoModel, number: int) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        if number in repo.pulls:
            pr = repo.pulls[number]
            src = {"id": pr["id"], "title": pr["title"], "body": pr["body"], "labels": [], "state": pr["state"],
                   "user": pr["user"], "created_at": pr["created_at"], "updated_at": pr["updated_at"],
                   "closed_at": pr["closed_at"], "state_reason": None}
        else:
            src = repo.issues[number]
        data = {
            "url": f"{api}/issues/{number}", "id": src["id"], "node_id": f"I_{src['id']}", "number": number,
            "html_url": f"https://github.invalid/{repo.full_name}/issues/{number}", "title": src["title"],
            "body": src["body"], "state": src["state"], "state_reason": src["state_reason"],
            "user": _user(src["user"]), "locked": False, "assignees": [],
            "labels": [{"id": int(hashlib.sha1(l.encode()).hexdigest()[:6], 16), "name": l, "color": "ededed",
                        "url": f"{api}/labels/{urllib.parse.quote(l)}", "default": False} for l in src["labels"]],
            "comments": len(repo.issue_comments.get(number, [])), "comments_url": f"{api}/issues/{number}/comments",
            "created_at": src["created_at"], "updated_at": src["updated_at"], "closed_at": src["closed_at"],
            "repository_url": api,
        }
        if number in repo.pulls:
            data["pull_request"] = {"url": f"{api}/pulls/{number}",
                                    "html_url": f"https://github.invalid/{repo.full_name}/pull/{number}"}
        return data

    def _comment_json(self, repo: RepoModel, number: int, c: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        return {"id": c["id"], "node_id": f"IC_{c['id']}", "url": f"{api}/issues/comments/{c['id']}",
                "html_url": f"https://github.invalid/{repo.full_name}/issues/{number}#issuecomment-{c['id']}",
                "issue_url": f"{api}/issues/{number}", "body": c["body"], "user": _user(c["user"]),
                "created_at": c["created_at"], "updated_at": c["created_at"]}

    def _review_json(self, repo: RepoModel, number: int, r: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        return {"id": r["id"], "node_id": f"PRR_{r['id']}", "user": _user(r["user"]), "body": r["body"],
                "state": r["state"], "commit_id": r["commit_id"], "submitted_at": r["submitted_at"],
                "html_url": f"https://github.invalid/{repo.full_name}/pull/{number}#pullrequestreview-{r['id']}",
                "pull_request_url": f"{api}/pulls/{number}", "author_association": "MEMBER"}

    def _review_comment_json(self, repo: RepoModel, number: int, c: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        data = {"id": c["id"], "node_id": f"PRRC_{c['id']}", "url": f"{api}/pulls/comments/{c['id']}",
                "pull_request_review_id": c["review_id"], "user": _user(c["user"]), "body": c["body"],
                "path": c["path"], "line": c["line"], "original_line": c["original_line"], "side": "RIGHT",
                "position": c["line"], "original_position": c["original_line"], "commit_id": c["commit_id"],
                "original_commit_id": c["commit_id"], "diff_hunk": "@@ -1 +1 @@", "created_at": c["created_at"],
                "updated_at": c["created_at"], "pull_request_url": f"{api}/pulls/{number}",
                "html_url": f"https://github.invalid/{repo.full_name}/pull/{number}#discussion_r{c['id']}"}
        if c.get("in_reply_to_id"):
            data["in_reply_to_id"] = c["in_reply_to_id"]
        return data

    def _check_run_json(self, repo: RepoModel, run: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        out = run["output"]
        return {"id": run["id"], "node_id": f"CR_{run['id']}", "head_sha": run["head_sha"], "name": run["name"],
                "external_id": str(run["id"]), "url": f"{api}/check-runs/{run['id']}",
                "html_url": f"https://github.invalid/{repo.full_name}/runs/{run['id']}",
                "details_url": f"https://github.invalid/{repo.full_name}/actions/runs/1/job/{run['id']}",
                "status": run["status"], "conclusion": run["conclusion"], "started_at": run["started_at"],
                "completed_at": run["completed_at"],
                "output": {"title": out["title"], "summary": out["summary"], "text": out["text"],
                           "annotations_count": len(run["annotations"]),
                           "annotations_url": f"{api}/check-runs/{run['id']}/annotations"},
                "check_suite": {"id": 1}, "app": {"id": 15368, "slug": run["app"], "name": run["app"]},
                "pull_requests": []}

    # -- request handling -----------------------------------------------------------------

    def _resolve_ref(self, repo: RepoModel, ref: str) -> str:
        return repo.branches.get(ref, ref)

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, dict[str, str]]:
        """Route one API request; returns (status, JSON, extra headers)."""
        for verb, pattern, fn in _ROUTES:
            if verb != method:
                continue
            match = pattern.fullmatch(path)
            if match:
                groups = match.groupdict()
                repo = None
                if "owner" in groups:
                    repo = self.repos.get(f"{groups.pop('owner')}/{groups.pop('repo')}")
                    if repo is None:
                        raise _Reply(404, "Not Found")
                q = {k: v[-1] for k, v in query.items()}
                return fn(self, repo, q, body, **groups)
        raise _Reply(404, "Not Found")

    def _page(self, items: list[Any], q: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        per_page = max(1, min(100, int(q.get("per_page", 30))))
        page = max(1, int(q.get("page", 1)))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(p: int, rel: str) -> str:
            params = urllib.parse.urlencode(sorted({**q, "page": str(p), "per_page": str(per_page)}.items()))
            return f'<{self.root}{path}?{params}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return 200, chunk, {"Link": ", ".join(links)} if links else {}

    # pulls
    def _list_pulls(self, repo: RepoModel, q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        state = q.get("state", "open")
        items = []
        for n in sorted(repo.pulls, reverse=q.get("direction", "desc") == "desc"):
            pr = repo.pulls[n]
            if state != "all" and pr["state"] != state:
                continue
            if "head" in q and f"{repo.owner}:{pr['head_ref']}" != q["head"] and pr["head_ref"] != q["head"]:
                continue
            if "base" in q and pr["base_ref"] != q["base"]:
                continue
            items.append(self._pull_json(repo, pr, detail=False))
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/pulls")

    def _create_pull(self, repo: RepoModel, q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        body = body or {}
        head = str(body.get("head", "")).split(":")[-1]
        base = body.get("base", "")
        if not body.get("title") or head not in repo.branches or base not in repo.branches:
            field_name = "title" if not body.get("title") else "head" if head not in repo.branches else "base"
            raise _Reply(422, "Validation Failed",
                         errors=[{"resource": "PullRequest", "field": field_name, "code": "invalid"}])
        for pr in repo.pulls.values():
            if pr["head_ref"] == head and pr["state"] == "open":
                raise _Reply(422, "Validation Failed", errors=[{
                    "resource": "PullRequest", "code": "custom",
                    "message": f"A pull request already exists for {repo.owner}:{head}."}])
        number = repo.next_number
        repo.next_number += 1
        stamp = self._touch()
        repo.pulls[number] = {
            "number": number, "id": next(self._ids), "title": body["title"], "body": body.get("body") or "",
            "head_ref": head, "head_sha": repo.branches[head], "base_ref": base, "state": "open",
            "draft": bool(body.get("draft", False)), "user": self.current_login, "created_at": stamp, "updated_at": stamp,
            "closed_at": None, "merged_at": None, "merged": False, "merged_by": None, "merge_commit_sha": None,
            "mergeable": True, "mergeable_state": "clean",
        }
        return 201, self._pull_json(repo, repo.pulls[number], detail=True), {}

    def _pull(self, repo: RepoModel, number: str) -> dict[str, Any]:
        pr = repo.pulls.get(int(number))
        if pr is None:
            raise _Reply(404, "Not Found")
        return pr

    def _get_pull(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._pull_json(repo, self._pull(repo, number), detail=True), {}

    def _edit_pull(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(repo, number)
        for key in ("title", "body", "state"):
            if key in (body or {}):
                pr[key] = body[key]
        pr["updated_at"] = self._touch()
        if pr["state"] == "closed" and not pr["closed_at"]:
            pr["closed_at"] = pr["updated_at"]
        return 200, self._pull_json(repo, pr, detail=True), {}

    def _merge_pull(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(repo, number)
        body = body or {}
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            raise _Reply(422, "Validation Failed",
                         errors=[{"resource": "PullRequest", "field": "merge_method", "code": "invalid"}])
        if pr["merged"] or pr["state"] != "open" or pr["mergeable"] is False:
            raise _Reply(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != pr["head_sha"]:
            raise _Reply(409, "Head branch was modified. Review and try the merge again.")
        sha = self._merge(repo, pr, method)
        return 200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}, {}

    def _list_reviews(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(repo, number)
        items = [self._review_json(repo, pr["number"], r) for r in repo.reviews.get(pr["number"], [])]
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/pulls/{number}/reviews")

    def _create_review(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(repo, number)
        body = body or {}
        event = body.get("event")
        states = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED", None: "PENDING"}
        if event not in states:
            raise _Reply(422, "Unprocessable Entity", errors=[f"Unknown event {event!r}"])
        text = body.get("body") or ""
        comments = body.get("comments") or []
        if event in ("REQUEST_CHANGES", "COMMENT") and not text and not comments:
            raise _Reply(422, "Unprocessable Entity",
                         errors=[f"Review Can not {event.lower().replace('_', ' ')} without a body"])
        for c in comments:
            if not c.get("path") or not c.get("body"):
                raise _Reply(422, "Unprocessable Entity", errors=["comments need a path and a body"])
        if event in ("APPROVE", "REQUEST_CHANGES") and pr["user"] == self.current_login:
            verb = "approve" if event == "APPROVE" else "request changes on"
            raise _Reply(422, "Unprocessable Entity", errors=[f"Can not {verb} your own pull request"])
        review_id = self._review(repo, pr, self.current_login, states[event], text, comments)
        review = next(r for r in repo.reviews[pr["number"]] if r["id"] == review_id)
        return 200, self._review_json(repo, pr["number"], review), {}

    def _list_review_comments(self, repo: RepoModel, q: dict[str, str], body: Any,
                              number: str) -> tuple[int, Any, dict[str, str]]:
        pr = self._pull(repo, number)
        items = [self._review_comment_json(repo, pr["number"], c) for c in repo.review_comments.get(pr["number"], [])]
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/pulls/{number}/comments")

    # issues
    def _list_issues(self, repo: RepoModel, q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        state = q.get("state", "open")
        wanted = [l for l in q.get("labels", "").split(",") if l]
        items = []
        for n in sorted(set(repo.issues) | set(repo.pulls), reverse=q.get("direction", "desc") == "desc"):
            data = self._issue_json(repo, n)
            if state != "all" and data["state"] != state:
                continue
            names = {l["name"] for l in data["labels"]}
            if any(l not in names for l in wanted):
                continue
            items.append(data)
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/issues")

    def _create_issue(self, repo: RepoModel, q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        body = body or {}
        if not body.get("title"):
            raise _Reply(422, "Validation Failed", errors=[{"resource": "Issue", "field": "title", "code": "missing_field"}])
        labels = [l if isinstance(l, str) else l.get("name", "") for l in body.get("labels") or []]
        number = self._issue(repo, body["title"], body.get("body") or "", labels, self.current_login)
        return 201, self._issue_json(repo, number), {}

    def _issue_number(self, repo: RepoModel, number: str) -> int:
        n = int(number)
        if n not in repo.issues and n not in repo.pulls:
            raise _Reply(404, "Not Found")
        return n

    def _get_issue(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._issue_json(repo, self._issue_number(repo, number)), {}

    def _edit_issue(self, repo: RepoModel, q: dict[str, str], body: Any, number: str) -> tuple[int, Any, dict[str, str]]:
        n = self._issue_number(repo, number)
        body = body or {}
        target = repo.issues[n] if n in repo.issues else repo.pulls[n]
        stamp = self._touch()
        for key in ("title", "body"):
            if key in body:
                target[key] = body[key]
        if "labels" in body and n in repo.issues:
            target["labels"] = [l if isinstance(l, str) else l.get("name", "") for l in body["labels"] or []]
        if body.get("state") in ("open", "closed"):
            if target["state"] != body["state"]:
                target["closed_at"] = stamp if body["state"] == "closed" else None
            target["state"] = body["state"]
            if n in repo.issues:
                target["state_reason"] = body.get("state_reason") or ("completed" if body["state"] == "closed" else "reopened")
        target["updated_at"] = stamp
        return 200, self._issue_json(repo, n), {}

    def _list_issue_comments(self, repo: RepoModel, q: dict[str, str], body: Any,
                             number: str) -> tuple[int, Any, dict[str, str]]:
        n = self._issue_number(repo, number)
        items = [self._comment_json(repo, n, c) for c in repo.issue_comments.get(n, [])]
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/issues/{number}/comments")

    def _create_issue_comment(self, repo: RepoModel, q: dict[str, str], body: Any,
                              number: str) -> tuple[int, Any, dict[str, str]]:
        n = self._issue_number(repo, number)
        if not (body or {}).get("body"):
            raise _Reply(422, "Validation Failed", errors=[{"resource": "IssueComment", "field": "body", "code": "missing_field"}])
        stamp = self._touch()
        comment = {"id": next(self._ids), "body": body["body"], "user": self.current_login, "created_at": stamp}
        repo.issue_comments.setdefault(n, []).append(comment)
        target = repo.issues.get(n) or repo.pulls[n]
        target["updated_at"] = stamp
        return 201, self._comment_json(repo, n, comment), {}

    # CI
    def _check_runs(self, repo: RepoModel, q: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve_ref(repo, urllib.parse.unquote(ref))
        runs = [r for r in repo.check_runs if r["head_sha"] == sha]
        if "check_name" in q:
            runs = [r for r in runs if r["name"] == q["check_name"]]
        if q.get("filter", "latest") == "latest":
            latest: dict[str, dict[str, Any]] = {}
            for r in runs:
                latest[r["name"]] = r
            runs = list(latest.values())
        items = [self._check_run_json(repo, r) for r in sorted(runs, key=lambda r: -r["id"])]
        status, chunk, headers = self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/commits/{ref}/check-runs")
        return status, {"total_count": len(items), "check_runs": chunk}, headers

    def _combined_status(self, repo: RepoModel, q: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve_ref(repo, urllib.parse.unquote(ref))
        latest: dict[str, dict[str, Any]] = {}
        for s in repo.statuses:
            if s["sha"] == sha:
                latest[s["context"]] = s
        statuses = list(latest.values())
        states = {s["state"] for s in statuses}
        state = ("failure" if states & {"failure", "error"} else
                 "pending" if not statuses or "pending" in states else "success")
        api = f"{self.url}/repos/{repo.full_name}"
        items = [{"id": s["id"], "node_id": f"SC_{s['id']}", "url": f"{api}/statuses/{sha}", "state": s["state"],
                  "context": s["context"], "description": s["description"], "target_url": s["target_url"],
                  "created_at": s["created_at"], "updated_at": s["updated_at"], "avatar_url": None}
                 for s in statuses]
        return 200, {"state": state, "statuses": items, "sha": sha, "total_count": len(items),
                     "repository": self._repo_json(repo), "commit_url": f"{api}/commits/{sha}",
                     "url": f"{api}/commits/{sha}/status"}, {}

    def _run(self, repo: RepoModel, run_id: str) -> dict[str, Any]:
        for run in repo.check_runs:
            if run["id"] == int(run_id):
                return run
        raise _Reply(404, "Not Found")

    def _get_check_run(self, repo: RepoModel, q: dict[str, str], body: Any, id: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._check_run_json(repo, self._run(repo, id)), {}

    def _annotations(self, repo: RepoModel, q: dict[str, str], body: Any, id: str) -> tuple[int, Any, dict[str, str]]:
        run = self._run(repo, id)
        items = [{"path": a.get("path", ""), "start_line": a.get("start_line", a.get("line", 1)),
                  "end_line": a.get("end_line", a.get("line", 1)), "annotation_level": a.get("level", "failure"),
                  "title": a.get("title", ""), "message": a["message"], "raw_details": a.get("raw_details", "")}
                 for a in run["annotations"]]
        return self._page(items, q, f"{self.prefix}/repos/{repo.full_name}/check-runs/{id}/annotations")

    def _job_logs(self, repo: RepoModel, q: dict[str, str], body: Any, id: str) -> tuple[int, Any, dict[str, str]]:
        if int(id) not in self.job_logs:
            raise _Reply(404, "Not Found")
        return 302, None, {"Location": f"{self.root}/_blobs/job-logs/{id}?sig=fake"}

    def _get_commit(self, repo: RepoModel, q: dict[str, str], body: Any, ref: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve_ref(repo, urllib.parse.unquote(ref))
        api = f"{self.url}/repos/{repo.full_name}"
        return 200, {"sha": sha, "node_id": f"C_{sha[:8]}", "url": f"{api}/commits/{sha}",
                     "html_url": f"https://github.invalid/{repo.full_name}/commit/{sha}",
                     "commit": {"message": "", "tree": {"sha": sha}}, "parents": [], "files": []}, {}

    def _get_repo(self, repo: RepoModel, q: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_json(repo), {}


_POST_RECEIVE = """\
# Installed by tests/support/github_server.py: tells the fake GitHub what this push changed.
import json
import sys
import urllib.request

updates = []
for line in sys.stdin:
    parts = line.split()
    if len(parts) == 3:
        updates.append({"old": parts[0], "new": parts[1], "ref": parts[2]})
request = urllib.request.Request(@URL@, data=json.dumps(updates).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1, never a proxy
opener.open(request, timeout=10).read()
"""

_R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any, dict[str, str]]]]] = [
    ("GET", re.compile(_R), FakeGitHub._get_repo),
    ("GET", re.compile(_R + r"/pulls"), FakeGitHub._list_pulls),
    ("POST", re.compile(_R + r"/pulls"), FakeGitHub._create_pull),
    ("GET", re.compile(_R + r"/pulls/(?P<number>\d+)"), FakeGitHub._get_pull),
    ("PATCH", re.compile(_R + r"/pulls/(?P<number>\d+)"), FakeGitHub._edit_pull),
    ("PUT", re.compile(_R + r"/pulls/(?P<number>\d+)/merge"), FakeGitHub._merge_pull),
    ("GET", re.compile(_R + r"/pulls/(?P<number>\d+)/reviews"), FakeGitHub._list_reviews),
    ("POST", re.compile(_R + r"/pulls/(?P<number>\d+)/reviews"), FakeGitHub._create_review),
    ("GET", re.compile(_R + r"/pulls/(?P<number>\d+)/comments"), FakeGitHub._list_review_comments),
    ("GET", re.compile(_R + r"/issues"), FakeGitHub._list_issues),
    ("POST", re.compile(_R + r"/issues"), FakeGitHub._create_issue),
    ("GET", re.compile(_R + r"/issues/(?P<number>\d+)"), FakeGitHub._get_issue),
    ("PATCH", re.compile(_R + r"/issues/(?P<number>\d+)"), FakeGitHub._edit_issue),
    ("GET", re.compile(_R + r"/issues/(?P<number>\d+)/comments"), FakeGitHub._list_issue_comments),
    ("POST", re.compile(_R + r"/issues/(?P<number>\d+)/comments"), FakeGitHub._create_issue_comment),
    ("GET", re.compile(_R + r"/commits/(?P<ref>[^/]+)"), FakeGitHub._get_commit),
    ("GET", re.compile(_R + r"/commits/(?P<ref>[^/]+)/check-runs"), FakeGitHub._check_runs),
    ("GET", re.compile(_R + r"/commits/(?P<ref>[^/]+)/status"), FakeGitHub._combined_status),
    ("GET", re.compile(_R + r"/check-runs/(?P<id>\d+)"), FakeGitHub._get_check_run),
    ("GET", re.compile(_R + r"/check-runs/(?P<id>\d+)/annotations"), FakeGitHub._annotations),
    ("GET", re.compile(_R + r"/actions/jobs/(?P<id>\d+)/logs"), FakeGitHub._job_logs),
]


class _Handler(BaseHTTPRequestHandler):
    server_model: FakeGitHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms a request
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _send(self, status: int, payload: bytes, headers: dict[str, str], content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def _serve(self, method: str) -> None:
        gh = self.server_model
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        inm = self.headers.get("If-None-Match")
        record = RequestRecord(method, self.path, 0, False, self.headers.get("Host", ""), inm,
                               authorized="Authorization" in self.headers)

        if parsed.path.startswith("/_git/receive/") and method == "POST":  # the git side: no API budget
            full_name = parsed.path.removeprefix("/_git/receive/")
            ok = full_name in gh.repos
            if ok:
                with gh.lock:
                    gh._received(full_name, json.loads(raw or b"[]"))
            record.status = 204 if ok else 404
            with gh.lock:
                gh.requests.append(record)
            self._send(record.status, b"", {}, None)
            return

        if parsed.path.startswith("/_blobs/job-logs/"):  # the log blob storage: no API budget
            run_id = int(parsed.path.rsplit("/", 1)[1])
            text = gh.job_logs.get(run_id)
            record.status = 200 if text is not None else 404
            with gh.lock:
                gh.requests.append(record)
            self._send(record.status, (text or "Not Found").encode(), {}, "text/plain; charset=utf-8")
            return

        path = parsed.path
        if gh.prefix:
            if not path.startswith(gh.prefix + "/"):
                record.status = 404
                with gh.lock:
                    gh.requests.append(record)
                self._send(404, json.dumps({"message": "Not Found"}).encode(), {}, "application/json")
                return
            path = path[len(gh.prefix):]

        with gh.lock:
            headers: dict[str, str] = {}
            auth = self.headers.get("Authorization", "")
            scheme, _, given = auth.partition(" ")
            user = gh.users.get(given) if scheme in ("token", "Bearer") else None
            gh.current_login = user or gh.login
            if gh.token and user is None:
                status, data = 401, {"message": "Bad credentials",
                                     "documentation_url": "https://docs.github.com/rest"}
            elif path == "/user" and method == "GET":
                status, data = 200, {"login": gh.current_login, "id": 1, "type": "User"}
                granted = gh.scopes.get(given, "repo")
                if granted is not None:
                    headers["X-OAuth-Scopes"] = granted
            elif path == "/rate_limit":
                core = {"limit": gh.limit, "remaining": gh.remaining, "reset": gh.reset_at,
                        "used": gh.limit - gh.remaining, "resource": "core"}
                status, data = 200, {"resources": {"core": core}, "rate": core}
            elif gh.remaining <= 0:
                status = gh.limited_status
                data = {"message": "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for "
                                   "help, please include the request ID.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}
                headers["Retry-After"] = str(max(0, gh.reset_at - int(time.time())))
                record.limited = True
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body, status, data = None, 400, {"message": "Problems parsing JSON"}
                else:
                    try:
                        status, data, headers = gh.handle(method, path, urllib.parse.parse_qs(parsed.query), body)
                    except _Reply as reply:
                        status, headers = reply.status, reply.headers
                        data = {"message": reply.message, **reply.extra,
                                "documentation_url": "https://docs.github.com/rest"}
            payload = json.dumps(data).encode() if data is not None else b""
            etag = None
            if method == "GET" and status == 200:
                etag = 'W/"' + hashlib.sha256(payload).hexdigest()[:40] + '"'
                headers["ETag"] = etag
                if inm and etag.removeprefix("W/") in {t.strip().removeprefix("W/") for t in inm.split(",")}:
                    status, payload = 304, b""
            counted = status not in (304, 401) and path != "/rate_limit" and gh.remaining > 0
            if counted:
                gh.remaining -= 1
            headers.update({
                "X-RateLimit-Limit": str(gh.limit), "X-RateLimit-Remaining": str(max(gh.remaining, 0)),
                "X-RateLimit-Reset": str(gh.reset_at), "X-RateLimit-Used": str(gh.limit - max(gh.remaining, 0)),
                "X-RateLimit-Resource": "core", "X-GitHub-Media-Type": "github.v3; format=json",
                "X-GitHub-Request-Id": f"FAKE:{len(gh.requests) + 1}",
            })
            record.status, record.counted = status, counted
            gh.requests.append(record)
        self._send(status, payload, headers, "application/json; charset=utf-8" if payload else None)
