"""SCM ``local``: PRs, CI, review and merge with nothing but git (fully offline).

* A session's PR is its branch. ``open_pr`` gives it a synthetic number from a
  counter kept per repository in ``<ao_home>/scm_local/<repo-key>/counters.json``;
  each PR is a file of its own, ``<repo-key>/prs/<branch>.json`` (``/`` written
  ``~``), so a poll reads one small file however many PRs were ever opened.
  Both are replaced atomically, read-modify-write under an ``flock``. (Before,
  every PR lived in one ``prs.json``, parsed whole on every poll: it is split
  into files the first time this version edits the repository's PRs.)
* CI is the command list in the options (``ci: ["pytest -q"]``, or a mapping
  ``{name: command}``), run by ``local_ci.LocalCI`` in a background thread
  so ``pr_status`` never blocks (its status files and logs under
  ``<repo-key>/ci/<sha>/``).
* The review is what the human said through ``approve`` / ``request_changes``
  (lines written ``path:line: text`` become comments on that line); a new head
  commit after it puts the PR back to review pending (for an approval too,
  unless ``dismiss_stale_approvals: false``).
* ``merge`` computes the result with ``git merge-tree --write-tree`` and
  ``git commit-tree`` (no working tree involved), then moves the default
  branch: a fast-forward inside the worktree that has it checked out (git
  refuses rather than overwrite local changes), else a compare-and-swap
  ``update-ref``; finally pushes to ``origin`` if there is one.

* What a long run leaves is bounded (``prune_finished``, called by the store's
  upkeep every ``store.prune_every``): a PR merged, or closed (its branch gone),
  whose record has not changed for ``keep_closed_days`` (30) loses its record,
  and ``ci/<sha>/`` dirs of branches with no PR record left, untouched that long
  and not held by a run, are deleted with their logs. An open PR's CI is kept,
  every commit's. ``0`` keeps everything.

Options: ``ci`` (list or mapping of commands), ``ci_timeout`` (default 600 s),
``ci_pass_env`` (secret-looking variable names CI may still see),
``dismiss_stale_approvals`` (default true), ``keep_closed_days`` (default 30).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from ao_tui import git
from ao_tui.config import write_atomic
from ao_tui.errors import AoError, InvalidName, NotFound
from ao_tui.leader import holding
from ao_tui.models import Check, CheckState, PullRequest, ReviewComment, ReviewState
from ao_tui.names import slugify, validate_branch
from ao_tui.slots.base import PluginContext, Seconds
from ao_tui.slots.scm import SCM, SCMOptions
from ao_tui_plugins._scm_common import MergeConflict, log_excerpt, now_iso
from ao_tui_plugins.local_ci import LocalCI, parse_ci

log = logging.getLogger("ao.scm.local")

#: ``path:line: text`` lines in a change request become comments on that line.
_LINE_COMMENT = re.compile(r"^\s*([\w./-]+\.[\w]+):(\d+):\s*(.+)$")


class LocalSCM(SCM):
    """Branch = PR, CI = local commands, review = the human through ao."""

    class Options(SCMOptions):
        ci: list[str | list[str]] | dict[str, str | list[str]] | str | None = Field(
            default=None, description="Commands run in the workspace on every new commit: a list, "
                                      "or a mapping of check name to command (split like a shell would, never run by one).")
        ci_timeout: Seconds = Field(default=600.0, description="Time before a CI command is stopped.")
        ci_pass_env: list[str] = Field(
            default_factory=list, description="Secret-looking variables (*TOKEN*, *API_KEY*...) CI may see.")
        dismiss_stale_approvals: bool = Field(default=True, description="A new commit after approval asks for review again.")
        keep_closed_days: int = Field(
            default=30, ge=0, description="A merged or closed PR's record, and the CI logs of branches with no "
                                          "PR left, are deleted once unchanged this long; 0 keeps them.")

        @field_validator("ci", mode="before")
        @classmethod
        def _commands(cls, value: Any) -> Any:
            try:
                parse_ci(value)
            except AoError as exc:
                raise ValueError(str(exc).removeprefix("scm local: ")) from None
            return value

    options: Options

    def __init__(self, context: PluginContext) -> None:
        super().__init__(context)
        self.dismiss_stale_approvals = self.options.dismiss_stale_approvals
        #: (repo, branch) -> (head, base tip, merged by hand, merges cleanly): the latest pair of tips
        #: only, and dropped once the PR is merged or closed (a long run must not keep one per commit).
        self._analysis: dict[tuple[str, str], tuple[str, str, bool, bool]] = {}
        #: repositories whose old single ``prs.json`` this process has already looked for
        self._split_roots: set[Path] = set()
        self.ci = LocalCI(parse_ci(self.options.ci), self.options.ci_timeout, self.options.ci_pass_env,
                          self.root, self._head)

    # -- where things live ----------------------------------------------------------

    def root(self, repo: Path) -> Path:
        """``<ao_home>/scm_local/<repo-key>``: one directory per repository."""
        resolved = Path(repo).resolve()
        key = f"{slugify(resolved.name, 30)}-{hashlib.sha1(str(resolved).encode()).hexdigest()[:10]}"
        return Path(self.context.ao_home) / "scm_local" / key

    def add_listener(self, callback: Callable[[str, str], None]) -> None:
        """``callback(branch, sha)`` from the CI thread whenever a run finishes
        (the engine wakes its loop with it instead of waiting for the next poll)."""
        self.ci.add_listener(callback)

    # -- the PR records ---------------------------------------------------------------

    def _record_path(self, repo: Path, branch: str) -> Path:
        return self.root(repo) / "prs" / f"{validate_branch(branch).replace('/', '~')}.json"

    def _read_record(self, repo: Path, branch: str) -> dict[str, Any] | None:
        self._split_old_file(repo)
        try:
            record: dict[str, Any] = json.loads(self._record_path(repo, branch).read_text(encoding="utf-8"))
            return record
        except (FileNotFoundError, InvalidName):  # no branch of that name can have a PR here
            return None

    @contextmanager
    def _editing(self, repo: Path, branch: str) -> Iterator[_Edit]:
        """The repository's counters and ``branch``'s record (None if it has none), written back
        atomically on the way out; under the repository's lock, as every other process edits them."""
        self._split_old_file(repo)
        with holding(self.root(repo) / "prs.lock"):
            edit = _Edit(self._read_counters(repo), self._read_record(repo, branch))
            before = dict(edit.counters)
            yield edit
            if edit.record is not None:
                write_atomic(self._record_path(repo, branch), json.dumps(edit.record, indent=1, sort_keys=True))
            if edit.counters != before:
                write_atomic(self.root(repo) / "counters.json", json.dumps(edit.counters, indent=1, sort_keys=True))

    def _read_counters(self, repo: Path) -> dict[str, int]:
        try:
            counters: dict[str, int] = json.loads((self.root(repo) / "counters.json").read_text(encoding="utf-8"))
            return counters
        except FileNotFoundError:
            return {"next_number": 1, "next_review": 1, "next_comment": 1}

    def _split_old_file(self, repo: Path) -> None:
        """An older ao's ``prs.json`` (every PR in one file) becomes a file per PR, once: each record
        is written before the counters, and the old file removed last, so a crash midway repeats it."""
        root = self.root(repo)
        if root in self._split_roots:
            return
        old = root / "prs.json"
        if old.exists():
            with holding(root / "prs.lock"):
                try:
                    state = json.loads(old.read_text(encoding="utf-8"))
                except FileNotFoundError:  # another process split it first
                    state = None
                if state is not None:
                    for branch, record in state.get("prs", {}).items():
                        write_atomic(self._record_path(repo, branch), json.dumps(record, indent=1, sort_keys=True))
                    counters = {k: state[k] for k in ("next_number", "next_review", "next_comment") if k in state}
                    write_atomic(root / "counters.json", json.dumps(counters, indent=1, sort_keys=True))
                    old.unlink()
                    log.info("split %s into a file per PR under %s", old, root / "prs")
        self._split_roots.add(root)

    def _record(self, repo: Path, branch: str) -> dict[str, Any]:
        record = self._read_record(repo, branch)
        if record is None:
            raise NotFound(f"no local PR for branch {branch!r} (open one first)")
        return record

    def _tips(self, repo: Path, record: dict[str, Any]) -> tuple[str | None, str | None]:
        """The branch tip and the base tip, in one git call when the workspace shares the repo's refs.

        A linked worktree (``.git`` is a file) shares refs with the repository; a
        clone has its own, so its branch tip is read from the clone.
        """
        branch = f"refs/heads/{record['branch']}"
        base = f"refs/heads/{record['base']}" if record.get("base") else None
        patterns = [branch, base] if base else [branch]
        out = git.run(repo, "for-each-ref", "--format=%(refname) %(objectname)", *patterns, check=False).stdout
        tips = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        head = tips.get(branch)
        ws = record.get("workspace")
        if ws and (Path(ws) / ".git").is_dir() and Path(ws).resolve() != Path(repo).resolve():
            result = git.run(Path(ws), "rev-parse", "--verify", "-q", f"{branch}^{{commit}}", check=False)
            head = result.stdout.strip() if result.returncode == 0 else head
        return head, tips.get(base) if base else None

    def _head(self, repo: Path, record: dict[str, Any]) -> str | None:
        return self._tips(repo, record)[0]

    # -- SCM interface ------------------------------------------------------------------

    def open_pr(self, repo: Path, workspace: Path, branch: str, base: str, title: str, body: str) -> PullRequest:
        validate_branch(branch)
        validate_branch(base)
        probe = {"branch": branch, "workspace": str(workspace)}
        head = self._head(repo, probe)
        if head is None:
            raise AoError(f"branch {branch} does not exist in {workspace} or {repo}; nothing to open a PR from")
        fork = git.run(repo, "merge-base", f"refs/heads/{base}", head, check=False).stdout.strip() or None
        with self._editing(repo, branch) as edit:
            record = edit.record
            if record is None or record["state"] != "open":
                number = edit.counters["next_number"]
                edit.counters["next_number"] = number + 1
                record = edit.record = {
                    "number": number, "branch": branch, "base": base, "title": title, "body": body,
                    "workspace": str(workspace), "state": "open", "created_at": now_iso(),
                    "reviews": [], "comments": [], "merged_sha": None, "merged_head": None, "merged_at": None,
                    "fork": fork,
                }
            else:
                record.update(title=title, body=body, workspace=str(workspace), base=base)
        return self._to_pr(repo, record, head)

    def find_pr(self, repo: Path, workspace: Path, branch: str) -> PullRequest | None:
        record = self._read_record(repo, branch)
        if record is None:
            return None
        return self._to_pr(repo, record, self._head(repo, record))

    def _to_pr(self, repo: Path, record: dict[str, Any], head: str | None) -> PullRequest:
        return PullRequest(
            number=record["number"],
            url=f"local://{Path(repo).resolve().name}/{record['branch']}",
            title=record["title"],
            branch=record["branch"],
            base=record["base"],
            state=record["state"],
            head_sha=head or "",
        )

    def pr_status(self, repo: Path, workspace: Path, pr: PullRequest) -> PullRequest:
        record = self._record(repo, pr.branch)
        if record["state"] == "merged":
            self._analysis.pop((str(repo), record["branch"]), None)
            head = record["merged_head"]
            result = self._to_pr(repo, record, head)
            result.checks = self.ci.read_checks(repo, head)
            result.ci = _aggregate(result.checks)
            result.review, result.comments = self._review(record, head)
            result.mergeable = False
            return result
        head, base_sha = self._tips(repo, record)
        if head is None:
            self._analysis.pop((str(repo), record["branch"]), None)
            result = self._to_pr(repo, record, pr.head_sha)
            result.state = "closed"
            return result
        outside, clean = self._analyse(repo, record, head, base_sha)
        if outside:
            with self._editing(repo, record["branch"]) as edit:
                edit.existing.update(state="merged", merged_head=head, merged_sha=head, merged_at=now_iso())
            return self.pr_status(repo, workspace, pr)
        result = self._to_pr(repo, record, head)
        ws = Path(record.get("workspace") or workspace)
        result.checks = self.ci.checks(repo, ws, record["branch"], head)
        result.ci = _aggregate(result.checks)
        result.review, result.comments = self._review(record, head)
        result.mergeable = clean
        result.has_conflicts = not clean
        return result

    def _analyse(self, repo: Path, record: dict[str, Any], head: str, base_sha: str | None) -> tuple[bool, bool]:
        """(merged by hand, merges cleanly), computed once per pair of tips."""
        if base_sha is None:
            raise AoError(f"the base branch {record['base']} does not exist in {repo}")
        key = (str(repo), record["branch"])
        known = self._analysis.get(key)
        if known is not None and known[:2] == (head, base_sha):
            return known[2], known[3]
        if known is None:
            self._drop_closed_analyses(repo)
        self._ensure_objects(repo, record, head)
        fork = record.get("fork")
        outside = bool(fork) and head != fork and git.run(
            repo, "merge-base", "--is-ancestor", head, base_sha, check=False).returncode == 0
        clean = outside or self._mergeable(repo, base_sha, head)[0]
        self._analysis[key] = (head, base_sha, outside, clean)
        return outside, clean

    def _drop_closed_analyses(self, repo: Path) -> None:
        """Forget the analyses of the repo's PRs no longer open: one merged or closed by another
        process (``ao merge``, ao-tui) is not asked about here again, so its entry would stay."""
        for key in [k for k in self._analysis if k[0] == str(repo)]:
            if (self._read_record(repo, key[1]) or {}).get("state") != "open":
                del self._analysis[key]

    def _review(self, record: dict[str, Any], head: str) -> tuple[ReviewState, list[ReviewComment]]:
        comments = [
            ReviewComment(id=c["id"], author=c.get("author", ""), body=c["body"], path=c.get("path"),
                          line=c.get("line"), resolved=c.get("head") != head)
            for c in record["comments"]
        ]
        reviews = record["reviews"]
        if not reviews:
            return ReviewState.PENDING, comments
        last = reviews[-1]
        if last["state"] == "changes_requested":
            return (ReviewState.CHANGES_REQUESTED if last["head"] == head else ReviewState.PENDING), comments
        if last["state"] == "approved":
            fresh = last["head"] == head or not self.dismiss_stale_approvals
            return (ReviewState.APPROVED if fresh else ReviewState.PENDING), comments
        return ReviewState.COMMENTED, comments

    def _add_review(self, repo: Path, pr: PullRequest, kind: str, body: str,
                    comments: list[tuple[str, str | None, int | None]]) -> None:
        record = self._record(repo, pr.branch)
        if record["state"] != "open":
            raise AoError(f"PR #{record['number']} ({pr.branch}) is {record['state']}")
        current = self._head(repo, record) or pr.head_sha
        # An approval is of what the human looked at (a newer commit is not approved);
        # a change request stands on the newest commit, so a push racing it cannot void it.
        head = (pr.head_sha or current) if kind == "approved" else current
        with self._editing(repo, pr.branch) as edit:
            rec, counters = edit.existing, edit.counters
            review_id = f"r{counters['next_review']}"
            counters["next_review"] += 1
            if kind != "commented":
                rec["reviews"].append({"id": review_id, "state": kind, "body": body, "head": head, "at": now_iso()})
            for text, path, line in comments:
                rec["comments"].append({"id": f"c{counters['next_comment']}", "review": review_id, "author": "human",
                                        "body": text, "path": path, "line": line, "head": head, "at": now_iso()})
                counters["next_comment"] += 1

    def approve(self, repo: Path, pr: PullRequest, body: str = "") -> None:
        self._add_review(repo, pr, "approved", body, [])

    def request_changes(self, repo: Path, pr: PullRequest, body: str) -> None:
        """Lines written ``path:line: text`` become comments on that line; the rest one comment."""
        if not body.strip():
            raise AoError("a change request needs a comment")
        located, rest = [], []
        for line in body.splitlines():
            match = _LINE_COMMENT.match(line)
            if match:
                located.append((match.group(3).strip(), match.group(1), int(match.group(2))))
            else:
                rest.append(line)
        comments: list[tuple[str, str | None, int | None]] = []
        if "\n".join(rest).strip():
            comments.append(("\n".join(rest).strip(), None, None))
        self._add_review(repo, pr, "changes_requested", body, [*comments, *located])

    def comment(self, repo: Path, pr: PullRequest, body: str, path: str | None = None, line: int | None = None) -> None:
        """A review comment without a verdict (optionally on ``path:line``)."""
        if not body.strip():
            raise AoError("an empty comment")
        self._add_review(repo, pr, "commented", body, [(body.strip(), path, line)])

    # -- mergeability and merge ---------------------------------------------------------

    def _mergeable(self, repo: Path, base_sha: str, head: str) -> tuple[bool, list[str]]:
        """Whether ``head`` merges cleanly into ``base_sha``, and the conflicted files."""
        result = git.run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", base_sha, head, check=False)
        if result.returncode not in (0, 1):
            raise AoError(f"git merge-tree failed: {result.stderr.strip()}")
        files = [f for f in result.stdout.splitlines()[1:] if f.strip()]
        return result.returncode == 0, files

    def _ensure_objects(self, repo: Path, record: dict[str, Any], head: str) -> None:
        """A clone workspace has commits the main repository lacks: fetch them."""
        if git.run(repo, "cat-file", "-e", f"{head}^{{commit}}", check=False).returncode == 0:
            return
        ws = record.get("workspace")
        if not ws or not Path(ws).is_dir():
            raise AoError(f"commit {head[:10]} of {record['branch']} is not in {repo} and its workspace is gone")
        git.run(repo, "fetch", "-q", "--no-tags", ws, f"+refs/heads/{record['branch']}:refs/heads/{record['branch']}")

    def merge(self, repo: Path, pr: PullRequest, method: str = "squash") -> PullRequest:
        if method not in ("squash", "merge", "rebase"):
            raise AoError(f"unknown merge method {method!r}; use squash, merge or rebase")
        repo = Path(repo)
        record = self._record(repo, pr.branch)
        if record["state"] == "merged":
            return self.pr_status(repo, Path(record.get("workspace") or repo), pr)
        head = self._head(repo, record)
        if head is None:
            raise AoError(f"branch {pr.branch} no longer exists")
        self._ensure_objects(repo, record, head)
        base_ref = f"refs/heads/{record['base']}"
        with holding(self.root(repo) / "merge.lock"):
            base_sha = git.run(repo, "rev-parse", "--verify", base_ref).stdout.strip()
            if git.run(repo, "merge-base", "--is-ancestor", head, base_sha, check=False).returncode == 0:
                raise AoError(f"{pr.branch} has nothing to merge into {record['base']}")
            result = git.run(repo, "merge-tree", "--write-tree", "--name-only", "--no-messages", base_sha, head, check=False)
            if result.returncode == 1:
                files = [f for f in result.stdout.splitlines()[1:] if f.strip()]
                conflicted = self._to_pr(repo, record, head)
                conflicted.has_conflicts, conflicted.mergeable = True, False
                raise MergeConflict(
                    f"PR #{record['number']} ({pr.branch}) conflicts with {record['base']} in {', '.join(files) or 'some files'}; "
                    "nothing was merged", conflicted, files)
            if result.returncode != 0:
                raise AoError(f"git merge-tree failed: {result.stderr.strip()}")
            tree = result.stdout.splitlines()[0].strip()
            new = self._commit(repo, record, method, tree, base_sha, head)
            self._move_base(repo, record["base"], base_sha, new)
        with self._editing(repo, pr.branch) as edit:
            edit.existing.update(state="merged", merged_sha=new, merged_head=head, merged_at=now_iso(), method=method)
        self._push(repo, record["base"])
        return self.pr_status(repo, Path(record.get("workspace") or repo), pr)

    def _commit(self, repo: Path, record: dict[str, Any], method: str, tree: str, base_sha: str, head: str) -> str:
        ff_possible = git.run(repo, "merge-base", "--is-ancestor", base_sha, head, check=False).returncode == 0
        if method == "rebase":
            if not ff_possible:
                raise AoError(f"{record['branch']} is behind {record['base']}: a rebase merge needs it up to date "
                              "(use squash or merge)")
            return head
        env = _identity_env(repo)
        title = f"{record['title'] or record['branch']} (#{record['number']})"
        if method == "squash":
            subjects = git.run(repo, "log", "--format=* %s", f"{base_sha}..{head}").stdout.strip()
            author = git.run(repo, "log", "-1", "--format=%an%x00%ae", head).stdout.strip().split("\x00")
            if len(author) == 2 and all(author):
                env.update(GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1])
            message = f"{title}\n\n{subjects}\n"
            parents = ["-p", base_sha]
        else:
            message = f"Merge branch '{record['branch']}' into {record['base']} (#{record['number']})\n"
            parents = ["-p", base_sha, "-p", head]
        return git.out(repo, "commit-tree", tree, *parents, "-F", "-", input=message, env=env).strip()

    def _move_base(self, repo: Path, base: str, old: str, new: str) -> None:
        """Fast-forward the default branch without ever clobbering a working tree."""
        checked_out = _worktree_with_branch(repo, base)
        if checked_out is not None:
            result = git.run(checked_out, "merge", "--ff-only", "-q", new, check=False)
            if result.returncode != 0:
                reason = (result.stderr or result.stdout).strip().splitlines()
                raise AoError(f"cannot update {base} in {checked_out} without touching your local changes"
                              f" ({reason[0] if reason else 'git merge refused'}); nothing was merged")
            return
        git.run(repo, "update-ref", "-m", "ao: merge", f"refs/heads/{base}", new, old)

    def _push(self, repo: Path, base: str) -> None:
        if git.run(repo, "remote", "get-url", "origin", check=False).returncode != 0:
            return
        result = git.run(repo, "push", "-q", "origin", f"refs/heads/{base}:refs/heads/{base}", check=False,
                         remote=True)
        if result.returncode != 0:
            log.warning("merged locally but pushing %s to origin failed: %s", base, result.stderr.strip())

    # -- CI ---------------------------------------------------------------------------------

    def ci_logs(self, repo: Path, pr: PullRequest, check: Check) -> str:
        sha, _, name = check.id.partition(":")
        if not sha or not name:
            return ""
        path = self.ci.log_path(repo, check)
        if path is None:
            return ""
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return log_excerpt(text)

    def close(self) -> None:
        """Stop this process's running CI commands (engine shutdown). The runs are
        left unfinished, so whichever engine polls next starts them again."""
        self.ci.close()

    def prune_finished(self, repo: Path) -> int:
        """Delete the records of PRs merged or closed and the CI dirs of branches with no record left,
        once unchanged for ``keep_closed_days`` (see the module's docstring)."""
        days = self.options.keep_closed_days
        root = self.root(repo)
        if not days or not root.is_dir():
            return 0
        before = time.time() - days * 86400
        self._split_old_file(repo)
        removed, kept = 0, set[str]()
        with holding(root / "prs.lock"):
            for path in sorted((root / "prs").glob("*.json")):
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                    branch, changed = str(record["branch"]), path.stat().st_mtime
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # unreadable: left as it is
                if changed < before and (record.get("state") == "merged" or self._head(repo, record) is None):
                    path.unlink()
                    removed += 1
                else:
                    kept.add(branch)
        return removed + self.ci.prune(repo, kept, before)

    def forget_except(self, repo: Path, kept: Sequence[tuple[Path, str, PullRequest | None]]) -> None:
        """Drop the merge analyses of every branch but those of the sessions still followed."""
        branches = {branch for _, branch, _ in kept}
        for key in [k for k in self._analysis if k[0] == str(repo) and k[1] not in branches]:
            self._analysis.pop(key, None)

class _Edit:
    """What ``LocalSCM._editing`` hands out: the counters, and one branch's record to change or set."""

    def __init__(self, counters: dict[str, int], record: dict[str, Any] | None) -> None:
        self.counters = counters
        self.record = record

    @property
    def existing(self) -> dict[str, Any]:
        if self.record is None:
            raise NotFound("the local PR's record is gone")
        return self.record


def _aggregate(checks: list[Check]) -> CheckState:
    """Red only once every check has finished, so the agent hears every failure at once."""
    if not checks:
        return CheckState.NONE
    states = {c.state for c in checks}
    if states & {CheckState.RUNNING, CheckState.PENDING}:
        return CheckState.RUNNING if CheckState.RUNNING in states else CheckState.PENDING
    if CheckState.FAILED in states:
        return CheckState.FAILED
    if states == {CheckState.NONE}:
        return CheckState.NONE
    return CheckState.PASSED


def _identity_env(repo: Path) -> dict[str, str]:
    """Committer identity for merge commits when the repository has none configured."""
    env: dict[str, str] = {}
    if not git.run(repo, "config", "user.name", check=False).stdout.strip():
        env.update(GIT_COMMITTER_NAME="ao", GIT_AUTHOR_NAME="ao")
    if not git.run(repo, "config", "user.email", check=False).stdout.strip():
        env.update(GIT_COMMITTER_EMAIL="ao@localhost", GIT_AUTHOR_EMAIL="ao@localhost")
    return env


def _worktree_with_branch(repo: Path, branch: str) -> Path | None:
    """The worktree (main or linked) that has ``branch`` checked out, if any."""
    out = git.run(repo, "worktree", "list", "--porcelain").stdout
    path: str | None = None
    for line in out.splitlines():
        if line.startswith("worktree "):
            path = line[len("worktree "):]
        elif line == f"branch refs/heads/{branch}" and path:
            return Path(path)
    return None
