"""SCM ``github``: pull requests, checks, reviews and merges on GitHub (or GitHub Enterprise).

Options:

* ``repo``: ``owner/name``; without it, read from the ``origin`` remote URL.
* ``base_url``: the API root (GitHub Enterprise: ``https://HOST/api/v3``).
* ``merge_method``: ``squash`` (default), ``merge`` or ``rebase``, used when
  ``merge`` is called without a method.
* ``detail_max_age`` (default 300 s): how long an unchanged PR's reviews,
  mergeability and finished checks are trusted before they are looked at again.
* ``list_max_age`` (default 10 s): how long one look at the open-PR list
  serves ``pr_status`` calls (one engine round is one list request).
* ``seconds_between_writes`` (default 1), ``timeout`` (default 10 s).
* ``remote`` (default ``origin``): where ``publish_branch`` pushes the session's
  branch (``git push <remote> refs/heads/B:refs/heads/B``: never forced, with
  your git credentials); ``push_timeout`` (default 60 s).
* ``reviewer_token_env``: the name of an environment variable holding a second
  GitHub user's token, used for the human's approvals and change requests
  (GitHub refuses them from the PR's author, and ao opens PRs with
  ``GITHUB_TOKEN``). Without one, see "Reviews through ao" below.

How polling stays (nearly) free. The token's budget is spent only by answers
that are not ``304 Not Modified``, and every read here is a conditional GET
(``_github_client``). On top of that, ``pr_status`` works from one
``GET /repos/{o}/{r}/pulls?state=open`` per round, whose ETag covers every open
PR's head commit and ``updated_at`` (which GitHub bumps for pushes, reviews and
review comments). A PR whose list entry did not change is answered from what
was fetched before; its own resources are asked again only when

* its entry changed (new head, new review or comment, edited): PR, reviews, comments, CI;
* its CI has not finished (check runs and statuses, each round, usually 304);
* GitHub has not computed its mergeability yet (``mergeable: null``);
* ``detail_max_age`` passed (base-branch moves change mergeability without
  touching the PR; a re-run check does not touch it either). Each PR's age is
  spread over 0.75-1.25 x the option so fifty PRs do not come due in one round.

A PR missing from the open list has been merged or closed: its detail says which.

Review truth: the latest APPROVED / CHANGES_REQUESTED / DISMISSED review per
reviewer decides (COMMENTED does not override an earlier verdict); changes
requested by anyone win over approvals. Comments are the review comments (path,
line, id) plus the bodies of reviews that request changes; comments GitHub
marks outdated (``line: null``) and bodies of superseded reviews count as resolved.

Reviews through ao. GitHub answers 422 "Can not approve your own pull request"
(and "Can not request changes on your own pull request") when the PR's author
reviews it, which is what ao's token is for the PRs ao opens. The human's
verdict is then posted as a COMMENT review (so it shows on GitHub, inline
comments included) and recorded on ao's side: the review's id and verdict in
``<ao_home>/github/ao-reviews-<host key>.json`` (no text, no token). That review
then counts as an APPROVED / CHANGES_REQUESTED review by its author. A COMMENT
review ao did not record (posted by anyone else with the token, an agent say)
stays a comment. Branch protection that requires approving reviews still needs
``reviewer_token_env``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ao_tui import git
from ao_tui.config import write_atomic
from ao_tui.errors import AoError, NotFound
from ao_tui.models import Check, CheckState, PullRequest, ReviewComment, ReviewState
from ao_tui.names import validate_branch
from ao_tui.slots.base import PluginContext, Seconds
from ao_tui.slots.scm import SCM, SCMOptions
from ao_tui_plugins._github_client import TOKEN_VARIABLES, GitHubClient, GitHubError, GitHubOptions, shared_client
from ao_tui_plugins._scm_common import MergeConflict, log_excerpt

log = logging.getLogger("ao.scm.github")

MERGE_METHODS = ("merge", "squash", "rebase")
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REMOTE = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?[:/](?P<path>.+?)(?:\.git)?/?$")
_TASK_LINE = re.compile(r"^Task: #?(\d+)\s*$", re.MULTILINE)
_LOG_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ", re.MULTILINE)
_PENDING = {"queued", "pending", "requested", "waiting"}
_PASSING = {"success", "neutral", "skipped"}
_FINISHED = (CheckState.PASSED, CheckState.FAILED)
#: With no checks at all for this long after a new head, the PR is taken to have no CI.
CI_GRACE = 120.0
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_URL_CREDENTIALS = re.compile(r"(?<=//)[^/@\s]+@")
#: Ends the body of a review ao posts as a comment for the human (stripped again when read).
AO_REVIEW_NOTE = "\n\n---\n_ao: {verdict} by the human through ao. GitHub does not let a PR's author {verb} it, " \
                 "so ao posts this as a comment and counts it as {state}._"
_SELF_REVIEW = "your own pull request"


def repo_from_remote(url: str) -> str:
    """``owner/name`` from a git remote URL (https, ssh or scp-like)."""
    match = _REMOTE.match(url.strip())
    path = match.group("path") if match else ""
    parts = [p for p in path.split("/") if p]
    name = "/".join(parts[-2:]) if len(parts) >= 2 else ""
    if not _REPO_NAME.match(name):
        raise AoError(f"cannot tell the GitHub repository from the remote {url!r}: set the scm option repo: owner/name")
    return name


def resolve_repo(name: str | None, repo: Path | None, plugin: str) -> str:
    """``name`` (the ``repo`` option), else the ``origin`` remote of ``repo``."""
    if name:
        name = str(name).strip()
        if not _REPO_NAME.match(name):
            raise AoError(f"{plugin}: repo must be owner/name, not {name!r}")
        return name
    if repo is None:
        raise AoError(f"{plugin}: set the option repo: owner/name")
    result = git.run(repo, "remote", "get-url", "origin", check=False, timeout=10)
    if result.returncode != 0:
        raise AoError(f"{plugin}: {repo} has no origin remote; set the option repo: owner/name")
    return repo_from_remote(result.stdout)


def check_state(run: dict[str, Any]) -> CheckState:
    if run.get("status") != "completed":
        return CheckState.RUNNING if run.get("status") == "in_progress" else CheckState.PENDING
    conclusion = run.get("conclusion")
    if conclusion in _PASSING:
        return CheckState.PASSED
    if conclusion in (None, "stale"):
        return CheckState.PENDING
    return CheckState.FAILED


def status_state(state: str) -> CheckState:
    return {"success": CheckState.PASSED, "pending": CheckState.PENDING}.get(state, CheckState.FAILED)


def rollup(checks: list[Check]) -> CheckState:
    """Red only once every check has finished (as the local SCM), so the agent hears every failure at once."""
    if not checks:
        return CheckState.NONE
    states = {c.state for c in checks}
    if CheckState.RUNNING in states:
        return CheckState.RUNNING
    if CheckState.PENDING in states:
        return CheckState.PENDING
    return CheckState.FAILED if CheckState.FAILED in states else CheckState.PASSED


def review_truth(reviews: list[dict[str, Any]], review_comments: list[dict[str, Any]]) -> tuple[ReviewState, list[ReviewComment]]:
    """The review decision and the comments an agent should see (see the module doc)."""
    latest: dict[str, dict[str, Any]] = {}
    commented = False
    for review in reviews:
        state = review.get("state")
        who = (review.get("user") or {}).get("login", "")
        if state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[who] = review
        elif state == "COMMENTED":
            commented = True
    verdicts = {r["state"] for r in latest.values()}
    if "CHANGES_REQUESTED" in verdicts:
        decision = ReviewState.CHANGES_REQUESTED
    elif "APPROVED" in verdicts:
        decision = ReviewState.APPROVED
    elif commented:
        decision = ReviewState.COMMENTED
    else:
        decision = ReviewState.PENDING
    standing = {r["id"] for r in latest.values() if r["state"] == "CHANGES_REQUESTED"}
    comments: list[tuple[str, ReviewComment]] = []
    for review in reviews:
        if review.get("state") == "CHANGES_REQUESTED" and (review.get("body") or "").strip():
            comments.append((review.get("submitted_at") or "", ReviewComment(
                id=f"review-{review['id']}", author=(review.get("user") or {}).get("login", ""),
                body=review["body"].strip(), resolved=review["id"] not in standing)))
    for c in review_comments:
        line = c.get("line")
        comments.append((c.get("created_at") or "", ReviewComment(
            id=str(c["id"]), author=(c.get("user") or {}).get("login", ""), body=c.get("body") or "",
            path=c.get("path"), line=line if line is not None else c.get("original_line"),
            resolved=line is None and c.get("original_line") is not None)))
    comments.sort(key=lambda pair: pair[0])
    return decision, [c for _, c in comments]


@dataclass
class _Tracked:
    """What was last fetched for one PR, and when."""

    signature: tuple[Any, ...] = ()
    pull: dict[str, Any] = field(default_factory=dict)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    detail_at: float = float("-inf")
    head_seen_at: float = 0.0
    ci_head: str = ""
    ci: CheckState = CheckState.NONE


@dataclass
class _OpenList:
    fetched_at: float = float("-inf")
    items: dict[int, dict[str, Any]] = field(default_factory=dict)


class AoReviews:
    """The human's verdicts that GitHub would not take from the PR's author (see the module doc):
    review id -> ``APPROVED`` / ``CHANGES_REQUESTED``, shared by every ao process through one file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._verdicts: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return self._verdicts
        try:
            st = self.path.stat()
        except OSError:
            return self._verdicts
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                self._verdicts = {str(k): str(v) for k, v in saved.get("verdicts", {}).items()}
            except (OSError, ValueError, AttributeError):
                pass  # keep what was known
            self._stamp = (st.st_mtime_ns, st.st_size)
        return self._verdicts

    def add(self, review_id: Any, verdict: str) -> None:
        if self.path is None:
            self._verdicts[str(review_id)] = verdict
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._stamp = None
            verdicts = dict(self._read())
            verdicts[str(review_id)] = verdict
            write_atomic(self.path, json.dumps({"version": 1, "verdicts": verdicts}, separators=(",", ":")))
            self._verdicts, self._stamp = verdicts, None

    def apply(self, reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``reviews`` with ao's recorded comment reviews read as the verdicts they stand for."""
        verdicts = self._read()
        if not verdicts:
            return reviews
        out = []
        for review in reviews:
            verdict = verdicts.get(str(review.get("id")))
            if verdict and review.get("state") == "COMMENTED":
                body = (review.get("body") or "").replace("\r\n", "\n").split("\n\n---\n_ao: ", 1)[0]
                review = {**review, "state": verdict, "body": body}
            out.append(review)
        return out


class GitHubSCM(SCM):
    """PRs, checks, reviews and merges through the GitHub REST API (PyGithub)."""

    class Options(SCMOptions, GitHubOptions):
        merge_method: Literal["merge", "squash", "rebase"] = "squash"
        detail_max_age: Seconds = Field(default=300.0, description="Longest an open PR's details go unread.")
        list_max_age: Seconds = Field(default=10.0, description="Longest the list of open PRs goes unread.")
        remote: str = Field(default="origin", description="The git remote session branches are pushed to.")
        push_timeout: Seconds = Field(default=60.0, description="Time one `git push` may take.")
        reviewer_token_env: str | None = Field(
            default=None, description="The name of a variable holding a second user's token, for reviews.")

        @field_validator("remote")
        @classmethod
        def _remote(cls, value: str) -> str:
            if not _REMOTE_NAME.match(value):
                raise ValueError(f"must be a git remote name, not {value!r}")
            return value

        @field_validator("reviewer_token_env")
        @classmethod
        def _env_name(cls, value: str | None) -> str | None:
            if value is not None and not _ENV_NAME.match(value):
                raise ValueError(f"must name an environment variable, not {value!r}")
            return value

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.merge_method = self.options.merge_method
        self.detail_max_age = self.options.detail_max_age
        self.list_max_age = self.options.list_max_age
        #: Seconds, monotonic; the benchmark replaces it to simulate an hour.
        self.clock: Callable[[], float] = time.monotonic
        self._client: GitHubClient | None = None
        self._names: dict[str, str] = {}
        self._lists: dict[str, _OpenList] = {}
        self._tracked: dict[tuple[str, int], _Tracked] = {}
        self._lock = threading.RLock()
        self.remote = self.options.remote
        self.push_timeout = self.options.push_timeout
        self._pushed: dict[tuple[str, str], str] = {}
        self._stamps: dict[tuple[str, str], tuple[int, int] | None] = {}
        self._common_dirs: dict[str, Path] = {}
        self.reviewer_token_env = self.options.reviewer_token_env
        self._reviewer_missing_said = False
        host_key = hashlib.sha1((self.options.base_url or "https://api.github.com").rstrip("/")
                                .encode()).hexdigest()[:12]
        ao_home = context.ao_home
        self.ao_reviews = AoReviews(Path(ao_home) / "github" / f"ao-reviews-{host_key}.json" if ao_home else None)

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            self._client = shared_client(self.options, self.context.ao_home)
        return self._client

    def reviewer_client(self) -> GitHubClient | None:
        """The client for the human's reviews when ``reviewer_token_env`` names a set variable."""
        name = self.reviewer_token_env
        if not name:
            return None
        token = os.environ.get(str(name), "").strip()
        if not token:
            if not self._reviewer_missing_said:
                self._reviewer_missing_said = True
                log.warning("scm github: reviewer_token_env names %s, which is not set; "
                            "reviews are recorded by ao and posted as comments", name)
            return None
        return shared_client(self.options, None, token=token, token_name=str(name))

    def repo_name(self, repo: Path | None) -> str:
        key = str(repo)
        if key not in self._names:
            self._names[key] = resolve_repo(self.options.repo, repo, "scm github")
        return self._names[key]

    def forget_except(self, repo: Path, kept: Sequence[tuple[Path, str, PullRequest | None]]) -> None:
        """Drop the PRs last fetched (their detail, reviews, checks) and the branches last pushed of
        every session but ``kept``: a week-long run keeps what it follows, not every PR it saw."""
        workspaces = {str(workspace) for workspace, _, _ in kept}
        numbers = {pr.number for _, _, pr in kept if pr is not None}
        with self._lock:
            name = self._names.get(str(repo))
            if name is not None:
                for key in [k for k in self._tracked if k[0] == name and k[1] not in numbers]:
                    del self._tracked[key]
            for pushed in [k for k in self._pushed if k[0] not in workspaces]:
                del self._pushed[pushed]
            for stamped in [k for k in self._stamps if k[0] not in workspaces]:
                del self._stamps[stamped]
            for workspace in [w for w in self._common_dirs if w not in workspaces]:
                del self._common_dirs[workspace]

    def rate_limit_message(self) -> str | None:
        """"GitHub rate limit: resets at HH:MM" while GitHub calls are paused."""
        return self.client.rate_limit_message()

    # -- opening -------------------------------------------------------------------------

    def _link_issue(self, body: str) -> str:
        """Add "Closes #N" when the task is a GitHub issue (``Task: N`` in the engine's body)."""
        cfg = self.context.project_config
        tracker = getattr(getattr(cfg, "tracker", None), "plugin", None)
        match = _TASK_LINE.search(body)
        if not match or (tracker is not None and tracker != "github"):
            return body
        if re.search(rf"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#{match.group(1)}\b", body):
            return body
        return f"{body.rstrip()}\n\nCloses #{match.group(1)}"

    def open_pr(self, repo: Path, workspace: Path, branch: str, base: str, title: str, body: str) -> PullRequest:
        """The open PR for ``branch`` if there is one, else a new one (the agent has pushed the branch)."""
        validate_branch(branch)
        validate_branch(base)
        name = self.repo_name(repo)
        owner = name.split("/")[0]
        found = self.client.get(f"/repos/{name}/pulls", {"head": f"{owner}:{branch}", "state": "open"},
                                what=f"PRs of {branch}").data
        if found:
            return self.pr_status(repo, workspace, PullRequest(number=found[0]["number"], branch=branch, base=base))
        gh_repo = self.client.repo(name)
        try:
            created = self.client.call(lambda: gh_repo.create_pull(base=base, head=branch, title=title or branch,
                                                                   body=self._link_issue(body)),
                                       what=f"opening a PR for {branch}")
        except GitHubError as exc:
            if exc.status == 422 and "already exists" in exc.message:  # opened meanwhile
                found = self.client.get(f"/repos/{name}/pulls", {"head": f"{owner}:{branch}", "state": "open"},
                                        what=f"PRs of {branch}").data
                if found:
                    return self.pr_status(repo, workspace, PullRequest(number=found[0]["number"], branch=branch))
            if exc.status == 422 and "no commits between" in exc.message.lower():
                raise AoError(f"{branch} has no commits that {base} lacks; nothing to open a PR for") from None
            if exc.status == 422 and ("head" in exc.message or "base" in exc.message):
                raise AoError(f"GitHub cannot open a PR from {branch} into {base} in {name}: "
                              f"is {branch} pushed? ({exc.message})") from None
            raise
        self._expire(name)
        return self._build(created.raw_data, [], [], [], {})

    # -- publishing ----------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """Git's words without credentials (a remote URL may carry a token)."""
        text = _URL_CREDENTIALS.sub("***@", text)
        names = [*TOKEN_VARIABLES, *([str(self.reviewer_token_env)] if self.reviewer_token_env else [])]
        for name in names:
            value = os.environ.get(name, "").strip()
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def _ref_stamp(self, workspace: Path, branch: str) -> tuple[int, int] | None:
        """The branch's reflog size and time (every commit, reset or amend appends to it), so an
        unmoved branch costs one ``stat`` per look; None when there is no reflog to go by."""
        common = self._common_dirs.get(str(workspace))
        if common is None:
            found = git.run(workspace, "rev-parse", "--git-common-dir", check=False)
            if found.returncode != 0:
                return None
            common = (Path(workspace) / found.stdout.strip()).resolve()
            self._common_dirs[str(workspace)] = common
        try:
            st = (common / "logs" / "refs" / "heads" / branch).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def publish_rebased(self, repo: Path, workspace: Path, branch: str, previous: str) -> str | None:
        """Push a branch ao rebased, only over ``previous`` (``--force-with-lease``, never a plain force)."""
        validate_branch(branch)
        local = git.run(workspace, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)
        if local.returncode != 0:
            return None
        head = local.stdout.strip()
        done = git.run(workspace, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{previous}",
                       self.remote, f"refs/heads/{branch}:refs/heads/{branch}", timeout=self.push_timeout,
                       check=False, remote=True)
        if done.returncode != 0:
            errors = [line.strip() for line in (done.stdout + done.stderr).splitlines()
                      if line.strip() and not line.startswith(("To ", "hint:", "remote: "))]
            why = errors[-1] if errors else f"exit {done.returncode}"
            raise AoError(self._scrub(f"could not push rebased {branch} ({head[:10]}) to {self.remote}: {why}"))
        key = (str(workspace), branch)
        self._pushed[key] = head
        self._stamps.pop(key, None)
        log.info("pushed rebased %s (%s) to %s with a lease on %s", branch, head[:10], self.remote, previous[:10])
        try:
            self._expire(self.repo_name(repo))
        except AoError:
            pass
        return head

    def publish_branch(self, repo: Path, workspace: Path, branch: str) -> str | None:
        """Push ``branch`` to the ``remote`` when it has commits the remote's copy lacks.

        Compares with the remote-tracking ref (no network), pushes with
        ``git push --porcelain <remote> refs/heads/B:refs/heads/B`` (a non-forced
        refspec: a remote that moved on is refused, never overwritten). Returns the
        commit pushed, or None when there was nothing to push."""
        validate_branch(branch)
        key = (str(workspace), branch)
        stamp = self._ref_stamp(workspace, branch)
        if stamp is not None and self._stamps.get(key) == stamp:
            return None  # the branch has not moved since it was last found published: no git call
        local = git.run(workspace, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)
        if local.returncode != 0:
            return None  # no such branch (yet)
        head = local.stdout.strip()
        if self._pushed.get(key) == head:
            self._stamps[key] = stamp
            return None
        tracking = git.run(workspace, "rev-parse", "--verify", "-q", f"refs/remotes/{self.remote}/{branch}^{{commit}}",
                           check=False)
        there = tracking.stdout.strip() if tracking.returncode == 0 else ""
        if there == head or (there and git.run(workspace, "merge-base", "--is-ancestor", head, there,
                                               check=False).returncode == 0):
            self._pushed[key], self._stamps[key] = head, stamp
            return None  # the remote has it (or more)
        done = git.run(workspace, "push", "--porcelain", self.remote, f"refs/heads/{branch}:refs/heads/{branch}",
                       timeout=self.push_timeout, check=False, remote=True)
        if done.returncode != 0:
            rejected = [line.split("\t")[-1] for line in done.stdout.splitlines() if line.startswith("!")]
            errors = [line.strip() for line in done.stderr.splitlines()
                      if line.strip() and not line.startswith(("To ", "hint:", "remote: "))]
            why = rejected[0] if rejected else (errors[-1] if errors else f"exit {done.returncode}")
            if "non-fast-forward" in why or "fetch first" in why:
                why += f"; {self.remote} has commits this branch lacks, and ao never force-pushes"
            raise AoError(self._scrub(f"could not push {branch} ({head[:10]}) to {self.remote}: {why}"))
        self._pushed[key], self._stamps[key] = head, stamp
        log.info("pushed %s (%s) to %s", branch, head[:10], self.remote)
        try:
            self._expire(self.repo_name(repo))  # the PR's new head shows in the next look
        except AoError:
            pass
        return head

    # -- status ---------------------------------------------------------------------------

    def _open_list(self, name: str) -> _OpenList:
        listing = self._lists.setdefault(name, _OpenList())
        now = self.clock()
        if now - listing.fetched_at >= self.list_max_age:
            page = self.client.get_pages(f"/repos/{name}/pulls", {"state": "open"}, what="open PRs")
            if page.changed or not listing.items:
                listing.items = {item["number"]: item for item in page.data}
            listing.fetched_at = now
        return listing

    def _expire(self, name: str, number: int | None = None) -> None:
        """After a write: the next ``pr_status`` looks again."""
        self._lists.pop(name, None)
        if number is not None and (name, number) in self._tracked:
            self._tracked[(name, number)].detail_at = float("-inf")

    def _number(self, name: str, pr: PullRequest) -> int:
        if pr.number is not None:
            return pr.number
        owner = name.split("/")[0]
        found = self.client.get_pages(f"/repos/{name}/pulls", {"head": f"{owner}:{pr.branch}", "state": "all"},
                                      what=f"PRs of {pr.branch}").data
        if not found:
            raise NotFound(f"no GitHub PR for branch {pr.branch} in {name}")
        return int(found[0]["number"])

    def find_pr(self, repo: Path, workspace: Path, branch: str) -> PullRequest | None:
        """The open PR of ``branch``, else its newest closed or merged one (for ``ao store recover``)."""
        validate_branch(branch)
        name = self.repo_name(repo)
        owner = name.split("/")[0]
        for state in ("open", "closed"):
            found = self.client.get(f"/repos/{name}/pulls", {"head": f"{owner}:{branch}", "state": state},
                                    what=f"PRs of {branch}").data
            if found:
                return self.pr_status(repo, workspace, PullRequest(number=found[0]["number"], branch=branch))
        return None

    def pr_status(self, repo: Path, workspace: Path, pr: PullRequest) -> PullRequest:
        with self._lock:  # the engine loop and a UI action may ask at once
            return self._pr_status(repo, pr)

    def _pr_status(self, repo: Path, pr: PullRequest) -> PullRequest:
        name = self.repo_name(repo)
        number = self._number(name, pr)
        tracked = self._tracked.setdefault((name, number), _Tracked())
        now = self.clock()
        item = self._open_list(name).items.get(number)
        # each PR gets its own max age in [0.75, 1.25] x detail_max_age, so PRs first seen
        # together do not all come due in the same round
        spread = 0.75 + 0.5 * ((number * 0.6180339887) % 1.0)
        stale = now - tracked.detail_at >= self.detail_max_age * spread
        if item is not None:
            signature = (item["state"], item["head"]["sha"], item["updated_at"])
            changed = signature != tracked.signature
            need_pull = changed or stale or tracked.pull.get("mergeable") is None
        else:  # merged or closed since (or never seen): the detail says which
            changed = not tracked.pull or tracked.pull.get("state") == "open"
            need_pull = changed or stale
        base = f"/repos/{name}/pulls/{number}"
        if need_pull:
            tracked.pull = self.client.get(base, what=f"PR #{number}").data
            if item is None:
                changed = changed or tracked.pull.get("state") == "open"
        head = tracked.pull["head"]["sha"]
        if head != tracked.ci_head:
            tracked.ci_head, tracked.head_seen_at = head, now
            changed = True
        if changed or stale:
            tracked.reviews = self.client.get_pages(f"{base}/reviews", what=f"reviews of #{number}").data
            tracked.comments = self.client.get_pages(f"{base}/comments", what=f"review comments of #{number}").data
        ci_open = tracked.ci not in _FINISHED and not (tracked.ci is CheckState.NONE and now - tracked.head_seen_at > CI_GRACE)
        if changed or stale or ci_open:
            tracked.runs = self.client.get_pages(f"/repos/{name}/commits/{head}/check-runs", item_key="check_runs",
                                                 what=f"checks of #{number}").data
            tracked.status = self.client.get(f"/repos/{name}/commits/{head}/status",
                                             what=f"statuses of #{number}").data
        if changed or stale:
            tracked.detail_at = now
        if item is not None:
            tracked.signature = (item["state"], item["head"]["sha"], item["updated_at"])
        result = self._build(tracked.pull, tracked.reviews, tracked.comments, tracked.runs, tracked.status)
        tracked.ci = result.ci
        return result

    def _build(self, pull: dict[str, Any], reviews: list[dict[str, Any]], comments: list[dict[str, Any]],
               runs: list[dict[str, Any]], status: dict[str, Any]) -> PullRequest:
        latest: dict[str, dict[str, Any]] = {}
        for run in sorted(runs, key=lambda r: r["id"]):  # a re-run replaces the earlier run of that name
            latest[run["name"]] = run
        checks = [Check(name=run["name"], state=check_state(run), id=str(run["id"]),
                        url=run.get("html_url") or run.get("details_url") or "",
                        summary=((run.get("output") or {}).get("title") or "").strip())
                  for run in latest.values()]
        for st in (status or {}).get("statuses") or []:
            checks.append(Check(name=st["context"], state=status_state(st["state"]), id=f"status-{st['id']}",
                                url=st.get("target_url") or "", summary=st.get("description") or ""))
        merged = bool(pull.get("merged") or pull.get("merged_at"))
        state = "merged" if merged else "closed" if pull.get("state") == "closed" else "open"
        decision, review_comments = review_truth(self.ao_reviews.apply(reviews), comments)
        mergeable = pull.get("mergeable")
        conflicts = pull.get("mergeable_state") == "dirty" or mergeable is False
        return PullRequest(
            number=pull["number"], url=pull.get("html_url") or "", title=pull.get("title") or "",
            branch=pull["head"]["ref"], base=pull["base"]["ref"], state=state, head_sha=pull["head"]["sha"],
            checks=checks, ci=rollup(checks), review=decision, comments=review_comments,
            mergeable=False if state != "open" else mergeable, has_conflicts=state == "open" and conflicts,
        )

    # -- CI logs ---------------------------------------------------------------------------

    def ci_logs(self, repo: Path, pr: PullRequest, check: Check) -> str:
        """The Actions job log when GitHub has one (its failing tests and tail), else the
        check run's output and annotations; for a commit status, its description and link."""
        name = self.repo_name(repo)
        if check.id.startswith("status-") or not check.id.isdigit():
            summary, url = check.summary, check.url
            if not (summary or url) and pr.number is not None:  # the reaction runner passes name and id only
                tracked = self._tracked.get((name, pr.number))
                for st in (tracked.status.get("statuses") or []) if tracked else []:
                    if f"status-{st['id']}" == check.id:
                        summary, url = st.get("description") or "", st.get("target_url") or ""
            return "\n".join(p for p in (f"{check.name}: {summary}".rstrip(": "), url) if p)
        try:
            text = self.client.get_text(f"/repos/{name}/actions/jobs/{check.id}/logs", what=f"log of {check.name}")
            return log_excerpt(_LOG_TIMESTAMP.sub("", text))
        except NotFound:
            pass  # not an Actions job (or its log expired): the check run's own output
        except GitHubError as exc:
            if exc.status not in (403, 410):
                raise
        run = self.client.get(f"/repos/{name}/check-runs/{check.id}", what=f"check {check.name}").data
        output = run.get("output") or {}
        parts = [p.strip() for p in (output.get("title"), output.get("summary"), output.get("text")) if p and p.strip()]
        if output.get("annotations_count"):
            notes = self.client.get_pages(f"/repos/{name}/check-runs/{check.id}/annotations",
                                          what=f"annotations of {check.name}").data
            lines = [f"{a.get('path', '')}:{a.get('start_line', '')}: {a.get('annotation_level', '')}: "
                     f"{a.get('title') or ''} {a.get('message', '')}".replace("  ", " ").strip() for a in notes]
            parts.append("Annotations:\n" + "\n".join(lines))
        return log_excerpt("\n\n".join(parts)) if parts else f"{check.name}: no log or output on GitHub ({check.url})"

    # -- reviews and merging ---------------------------------------------------------------

    @staticmethod
    def _post_review(client: GitHubClient, name: str, number: int, event: str, body: str,
                     comments: list[dict[str, Any]] | None) -> Any:
        pull = client.repo(name).get_pull(number)  # lazy: no request
        kwargs: dict[str, Any] = {"event": event, "body": body}
        if comments:
            kwargs["comments"] = comments
        try:
            return client.call(lambda: pull.create_review(**kwargs), what=f"reviewing #{number}")
        except GitHubError as exc:
            if not (comments and exc.status == 422) or _SELF_REVIEW in str(exc).lower():
                raise
            # a line outside the diff: keep every word, as one review body
            return client.call(lambda: pull.create_review(event=event, body=body), what=f"reviewing #{number}")

    def _review(self, repo: Path, pr: PullRequest, event: str, body: str,
                comments: list[dict[str, Any]] | None = None) -> None:
        """The human's review, as the reviewer's token if there is one; when GitHub refuses it
        from the PR's author, a COMMENT review recorded as the verdict (see the module doc)."""
        name = self.repo_name(repo)
        number = self._number(name, pr)
        client = self.reviewer_client() or self.client
        try:
            self._post_review(client, name, number, event, body, comments)
        except GitHubError as exc:
            if not (exc.status == 422 and _SELF_REVIEW in str(exc).lower()):
                raise
            state, verdict, verb = {"APPROVE": ("APPROVED", "Approved", "approve"),
                                    "REQUEST_CHANGES": ("CHANGES_REQUESTED", "Changes requested",
                                                        "request changes on")}[event]
            note = AO_REVIEW_NOTE.format(verdict=verdict, verb=verb, state=state.lower().replace("_", " "))
            log.info("GitHub refuses a review of #%s by its author; posting it as a comment recorded by ao", number)
            review = self._post_review(client, name, number, "COMMENT", body.strip() + note, comments)
            self.ao_reviews.add(review.id, state)
        finally:
            self._expire(name, number)

    def approve(self, repo: Path, pr: PullRequest, body: str = "") -> None:
        self._review(repo, pr, "APPROVE", body)

    def request_changes(self, repo: Path, pr: PullRequest, body: str) -> None:
        """Lines written ``path:line: text`` become comments on that line, as with the local SCM."""
        if not body.strip():
            raise AoError("a change request needs a comment")
        located = []
        for line in body.splitlines():
            match = re.match(r"^\s*([\w./-]+\.[\w]+):(\d+):\s*(.+)$", line)
            if match:
                located.append({"path": match.group(1), "line": int(match.group(2)), "body": match.group(3).strip()})
        self._review(repo, pr, "REQUEST_CHANGES", body, located)

    def merge(self, repo: Path, pr: PullRequest, method: str | None = None) -> PullRequest:
        """Merge with ``method`` (else the ``merge_method`` option), only at the head ao has seen."""
        method = method or self.merge_method
        if method not in MERGE_METHODS:
            raise AoError(f"unknown merge method {method!r}; use one of {', '.join(MERGE_METHODS)}")
        name = self.repo_name(repo)
        number = self._number(name, pr)
        pull = self.client.repo(name).get_pull(number)
        sha = pr.head_sha or None
        try:
            if sha:
                self.client.call(lambda: pull.merge(merge_method=method, sha=sha), what=f"merging #{number}")
            else:
                self.client.call(lambda: pull.merge(merge_method=method), what=f"merging #{number}")
        except GitHubError as exc:
            self._expire(name, number)
            if exc.status == 409:
                raise AoError(f"PR #{number} ({pr.branch}) has new commits since ao last looked; not merged") from None
            if exc.status == 405:
                now = self.pr_status(repo, Path("."), PullRequest(number=number, branch=pr.branch))
                if now.state == "merged":
                    return now
                if now.has_conflicts:
                    raise MergeConflict(f"PR #{number} ({pr.branch}) has merge conflicts with {now.base}; not merged",
                                        now, []) from None
                raise AoError(f"GitHub refused to merge PR #{number} ({pr.branch}): "
                              f"{exc.message.split(': ', 1)[-1]} (state: {self._tracked[(name, number)].pull.get('mergeable_state')})") from None
            raise
        self._expire(name, number)
        return self.pr_status(repo, Path("."), PullRequest(number=number, branch=pr.branch))
