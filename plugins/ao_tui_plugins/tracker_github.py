"""Tracker ``github``: open issues carrying a label are the backlog.

Options: ``repo`` (``owner/name``; else the ``origin`` remote of the project's
repository), ``label`` (default ``ao``: issues with it are tasks),
``in_progress_label`` (default ``ao:in-progress``, added while a session works
on the issue; ``""`` to leave labels alone), ``base_url`` (GitHub Enterprise:
``https://HOST/api/v3``).

A task's id is the issue number as a string without ``#`` (``"12"``);
``get_task`` also accepts ``"#12"``. Dependencies are lines such as
``Depends on #3`` or ``Blocked by #3, #4`` in the issue body (``create_task``
writes them that way). Status: a closed issue is ``done``, an open one with the
in-progress label ``in_progress``, else ``open``. Pull requests (which GitHub
lists among issues) are never tasks.

Reads are conditional GETs through the shared client, so an autopilot asking
for the backlog every few seconds spends nothing while the issues are unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from ao_tui.errors import AoError, NotFound
from ao_tui.models import Task
from ao_tui.slots.base import PluginContext
from ao_tui.slots.tracker import Tracker
from ao_tui_plugins._github_client import GitHubClient, GitHubOptions, shared_client
from ao_tui_plugins.scm_github import resolve_repo

STATUSES = ("open", "in_progress", "done")
_DEPENDS = re.compile(r"(?im)^\s*(?:depends on|blocked by)\s*:?\s*((?:#\d+[\s,and]*)+)")
_ISSUE_ID = re.compile(r"^#?(\d+)$")


def parse_depends(body: str) -> list[str]:
    found: list[str] = []
    for match in _DEPENDS.finditer(body or ""):
        for number in re.findall(r"#(\d+)", match.group(1)):
            if number not in found:
                found.append(number)
    return found


class GitHubTracker(Tracker):
    """Issues labelled ``label`` in ``repo``."""

    class Options(GitHubOptions):
        label: str = Field(default="ao", description="Issues with this label are the backlog.")
        in_progress_label: str | None = Field(
            default="ao:in-progress", description="Label put on an issue while a session works on it (empty: none).")

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.label = self.options.label
        self.in_progress_label = self.options.in_progress_label or ""
        self._client: GitHubClient | None = None
        self._name: str | None = None

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            self._client = shared_client(self.options, self.context.ao_home)
        return self._client

    @property
    def repo_name(self) -> str:
        if self._name is None:
            cfg = self.context.project_config
            repo = Path(cfg.repo) if cfg is not None and getattr(cfg, "repo", None) else None
            self._name = resolve_repo(self.options.repo, repo, "tracker github")
        return self._name

    # -- reading ----------------------------------------------------------------------------

    def _task(self, issue: dict[str, Any]) -> Task:
        labels = [l["name"] if isinstance(l, dict) else str(l) for l in issue.get("labels") or []]
        if issue.get("state") == "closed":
            status = "done"
        elif self.in_progress_label and self.in_progress_label in labels:
            status = "in_progress"
        else:
            status = "open"
        body = issue.get("body") or ""
        return Task(id=str(issue["number"]), title=issue.get("title") or "", body=body,
                    url=issue.get("html_url") or "", labels=labels, depends_on=parse_depends(body), status=status)

    def list_tasks(self, include_done: bool = False) -> list[Task]:
        """Issues with the label, oldest first (the order they were filed)."""
        params = {"state": "all" if include_done else "open", "labels": self.label, "sort": "created",
                  "direction": "asc"}
        issues = self.client.get_pages(f"/repos/{self.repo_name}/issues", params, what=f"issues labelled {self.label}").data
        return [self._task(i) for i in issues if "pull_request" not in i]

    def _number(self, task_id: str) -> int:
        match = _ISSUE_ID.match(str(task_id).strip())
        if not match:
            raise NotFound(f"{task_id!r} is not a GitHub issue number")
        return int(match.group(1))

    def _issue(self, task_id: str) -> dict[str, Any]:
        number = self._number(task_id)
        try:
            issue = self.client.get(f"/repos/{self.repo_name}/issues/{number}", what=f"issue #{number}").data
        except NotFound:
            raise NotFound(f"no issue #{number} in {self.repo_name}") from None
        if "pull_request" in issue:
            raise NotFound(f"#{number} in {self.repo_name} is a pull request, not an issue")
        found: dict[str, Any] = issue
        return found

    def get_task(self, task_id: str) -> Task:
        return self._task(self._issue(task_id))

    # -- writing ----------------------------------------------------------------------------

    def create_task(self, title: str, body: str = "", depends_on: list[str] | None = None,
                    labels: list[str] | None = None) -> Task:
        if not title.strip():
            raise AoError("a task needs a title")
        deps = [str(self._number(d)) for d in depends_on or []]
        if deps:
            body = f"{body.rstrip()}\n\nDepends on {', '.join('#' + d for d in deps)}".lstrip()
        names = [self.label, *[l for l in labels or [] if l != self.label]]
        repo = self.client.repo(self.repo_name)
        issue = self.client.call(lambda: repo.create_issue(title=title.strip(), body=body, labels=names),
                                 what="creating an issue")
        self.client.forget(f"/repos/{self.repo_name}/issues")
        return self._task(issue.raw_data)

    def _edit(self, number: int, **changes: Any) -> None:
        issue = self.client.repo(self.repo_name).get_issue(number)  # lazy: no request
        self.client.call(lambda: issue.edit(**changes), what=f"updating issue #{number}")

    def _comment(self, number: int, body: str) -> None:
        issue = self.client.repo(self.repo_name).get_issue(number)
        self.client.call(lambda: issue.create_comment(body), what=f"commenting on issue #{number}")

    def set_status(self, task_id: str, status: str) -> None:
        if status not in STATUSES:
            raise AoError(f"unknown task status {status!r}; use one of {', '.join(STATUSES)}")
        issue = self._issue(task_id)
        labels = [l["name"] for l in issue.get("labels") or []]
        changes: dict[str, Any] = {}
        wanted = [l for l in labels if l != self.in_progress_label]
        if status == "in_progress" and self.in_progress_label:
            wanted.append(self.in_progress_label)
        if self.in_progress_label and wanted != labels:
            changes["labels"] = wanted
        if status == "done" and issue["state"] != "closed":
            changes.update(state="closed", state_reason="completed")
        elif status != "done" and issue["state"] == "closed":
            changes["state"] = "open"
        if changes:
            self._edit(issue["number"], **changes)

    def on_session_started(self, task: Task, session_id: str, branch: str) -> None:
        self._comment(self._number(task.id), f"ao session {session_id} started on branch `{branch}`.")

    def on_merged(self, task: Task, session_id: str, pr_url: str) -> None:
        """Comment with the PR, and close the issue unless GitHub already did ("Closes #N")."""
        number = self._number(task.id)
        self._comment(number, f"Merged in {pr_url or 'a pull request'} (ao session {session_id}).")
        issue = self._issue(task.id)
        if issue["state"] != "closed":
            self._edit(number, state="closed", state_reason="completed")
