"""Overlap and conflict prediction between live branches, before any PR exists.

For every live session's branch and the project's default branch, ao knows
which files each pair both touch (each side's diff against their merge base)
and whether their changes conflict (``git merge-tree --write-tree``: the merge
is computed in the object database, no checkout is touched; git 2.38+). The
conflicting hunks are read from the conflicted tree's ``<<<<<<<`` blocks.

A prediction depends on the two commits alone, so it is kept in the store per
pair of commits (``merge_predictions``) and never computed twice; the store's
``branch_pairs`` says which commits of which two branches were compared last.
``ConflictWatch.scan`` runs after each new commit on a live branch and each
move of the default branch (one ``for-each-ref`` per project tells which
heads moved), and computes only the pairs whose commits are new.

Two branches that touch no file in common cannot conflict on content: merge-tree
runs only for pairs that share a file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git
from ao_tui.errors import AoError
from ao_tui.models import Session, SessionStatus
from ao_tui.store import Store

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.conflicts")

#: The pair member that stands for the project's default branch.
DEFAULT = "@default"
GIT_TIMEOUT = 60
#: The first git with ``merge-tree --write-tree`` (``ao doctor`` checks for it too).
GIT_MIN = (2, 38)
MAX_HUNKS_PER_FILE = 5
MAX_HUNK_LINES = 12
#: Sessions whose branch is compared: any not finished (an exited agent's branch still merges later).
FINISHED = frozenset({SessionStatus.MERGED, SessionStatus.DONE, SessionStatus.KILLED})


def git_version_ok(minimum: tuple[int, int] = GIT_MIN) -> tuple[bool, str]:
    """Whether this git has ``merge-tree --write-tree`` (2.38+), and its version."""
    try:
        out = git.out(None, "--version", timeout=10)
    except AoError:
        return False, "not installed"
    version = out.strip().removeprefix("git version ").split()[0] if out.strip() else "?"
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts) >= minimum, version


# -- one pair -----------------------------------------------------------------------------


@dataclass
class Prediction:
    """What merging two commits would do: the files both changed, and the conflicts.

    ``conflicts``: one entry a conflicted file, ``{"path", "hunks": [{"line", "ours", "theirs"}],
    "message"}`` (``ours`` is the first commit's side).
    """

    files: list[str] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)


def parse_merge_tree(out: str) -> tuple[str, list[str], list[tuple[list[str], str, str]]]:
    """``git merge-tree --write-tree --name-only -z --messages`` output: the tree, the conflicted
    paths, and each message as (paths, type, text). NUL-separated, so no path is ever quoted."""
    parts = out.split("\0")
    tree, i, names = parts[0].strip(), 1, []
    while i < len(parts) and parts[i]:
        names.append(parts[i])
        i += 1
    i += 1
    messages = []
    while i < len(parts) and parts[i].isdigit():
        count = int(parts[i])
        paths = parts[i + 1:i + 1 + count]
        kind = parts[i + 1 + count] if i + 1 + count < len(parts) else ""
        text = parts[i + 2 + count].strip() if i + 2 + count < len(parts) else ""
        messages.append((paths, kind, text))
        i += 3 + count
    return tree, names, messages


def conflict_hunks(text: str) -> list[dict[str, Any]]:
    """The ``<<<<<<< … ======= … >>>>>>>`` blocks of a conflicted file, with their line numbers."""
    hunks: list[dict[str, Any]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines) and len(hunks) < MAX_HUNKS_PER_FILE:
        if not lines[i].startswith("<<<<<<< "):
            i += 1
            continue
        start, ours, theirs, side = i + 1, [], [], "ours"
        i += 1
        while i < len(lines) and not lines[i].startswith(">>>>>>> "):
            if lines[i].startswith("=======") and side in ("ours", "base"):
                side = "theirs"
            elif lines[i].startswith("||||||| "):
                side = "base"
            elif side == "ours":
                ours.append(lines[i])
            elif side == "theirs":
                theirs.append(lines[i])
            i += 1
        hunks.append({"line": start, "ours": ours[:MAX_HUNK_LINES], "theirs": theirs[:MAX_HUNK_LINES]})
        i += 1
    return hunks


class Predictor:
    """Computes pair predictions with git, caching each side's changed files per merge base."""

    def __init__(self, repo: Path) -> None:
        self.repo = Path(repo)
        self._sides: dict[tuple[str, str], frozenset[str]] = {}
        self._guard = threading.Lock()

    def _changed(self, base: str, sha: str) -> frozenset[str]:
        key = (base, sha)
        with self._guard:
            hit = self._sides.get(key)
        if hit is not None:
            return hit
        out = git.run(self.repo, "diff", "--name-only", "-z", "--no-renames", base, sha, timeout=GIT_TIMEOUT).stdout
        files = frozenset(f for f in out.split("\0") if f)
        with self._guard:
            if len(self._sides) > 20_000:
                self._sides.clear()
            self._sides[key] = files
        return files

    def keep_only(self, shas: set[str]) -> None:
        """Forget the changed files of commits no branch points at any more (a retired or deleted
        session's heads, a head that moved on): the next scan never asks for them again."""
        with self._guard:
            for key in [k for k in self._sides if k[1] not in shas]:
                del self._sides[key]

    def predict(self, a_sha: str, b_sha: str) -> Prediction:
        base = git.run(self.repo, "merge-base", a_sha, b_sha, check=(0, 1), timeout=GIT_TIMEOUT).stdout.strip()
        if not base:
            return Prediction()  # unrelated histories: nothing to compare
        both = sorted(self._changed(base, a_sha) & self._changed(base, b_sha))
        if not both:
            return Prediction()
        merged = git.run(self.repo, "merge-tree", "--write-tree", "--name-only", "-z", "--messages", a_sha, b_sha,
                     check=(0, 1), timeout=GIT_TIMEOUT)
        if merged.returncode == 0:
            return Prediction(files=both)
        tree, names, messages = parse_merge_tree(merged.stdout)
        conflicts = []
        for name in dict.fromkeys(names):
            blob = git.run(self.repo, "cat-file", "-p", f"{tree}:{name}", check=(0, 128), timeout=GIT_TIMEOUT)
            hunks = conflict_hunks(blob.stdout) if blob.returncode == 0 else []
            about = [(kind, text) for paths, kind, text in messages if name in paths]
            message = next((text for kind, text in about if kind.startswith("CONFLICT")),
                           about[0][1] if about else "")
            conflicts.append({"path": name, "hunks": hunks, "message": message})
        return Prediction(files=sorted(set(both) | set(names)), conflicts=conflicts)


# -- the fleet ---------------------------------------------------------------------------


@dataclass
class Head:
    name: str  # a session id, or DEFAULT
    branch: str
    sha: str
    at: int  # committer time, epoch seconds


def live_sessions(sessions: Iterable[Session]) -> list[Session]:
    return [s for s in sessions if s.status not in FINISHED and s.branch and s.workspace]


def read_heads(repo: Path, default_branch: str, sessions: list[Session]) -> dict[str, Head]:
    """The tips of the default branch and of each live session's branch, in one git call.

    A clone workspace keeps its own refs: its branch is fetched into the repository first,
    so the merge can be computed there.
    """
    def tips() -> dict[str, tuple[str, int]]:
        out = git.run(repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(committerdate:unix)",
                  "refs/heads/", timeout=GIT_TIMEOUT).stdout
        found: dict[str, tuple[str, int]] = {}
        for line in out.splitlines():
            parts = line.split("\0")
            if len(parts) == 3:
                found[parts[0].removeprefix("refs/heads/")] = (parts[1], int(parts[2] or 0))
        return found

    found = tips()
    fetched = False
    for s in sessions:
        ws = Path(s.workspace)
        if (ws / ".git").is_dir() and ws.resolve() != Path(repo).resolve():
            there = git.run(ws, "rev-parse", "--verify", "-q", f"refs/heads/{s.branch}", check=(0, 1, 128),
                            timeout=GIT_TIMEOUT).stdout.strip()
            if there and found.get(s.branch, ("", 0))[0] != there:  # fetched only when the clone moved
                git.run(repo, "fetch", "-q", "--no-tags", str(ws), f"+refs/heads/{s.branch}:refs/heads/{s.branch}",
                    check=(0, 1, 128), timeout=GIT_TIMEOUT)
                fetched = True
    tips_now = tips() if fetched else found
    heads: dict[str, Head] = {}
    if default_branch in tips_now:
        sha, at = tips_now[default_branch]
        heads[DEFAULT] = Head(DEFAULT, default_branch, sha, at)
    for s in sessions:
        if s.branch in tips_now:
            sha, at = tips_now[s.branch]
            heads[s.id] = Head(s.id, s.branch, sha, at)
    return heads


def label(name: str, default_branch: str) -> str:
    return default_branch if name == DEFAULT else name


@dataclass
class ScanResult:
    """What one scan did: pairs whose commits changed, and how many needed git."""

    changed: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    default_moved: bool = False
    default_sha: str = ""


class ConflictWatch:
    """Keeps every project's pair predictions current (called from the engine loop)."""

    workers = 4

    def __init__(self, store: Store) -> None:
        self.store = store
        self._predictors: dict[str, Predictor] = {}
        self._last: dict[str, dict[str, str]] = {}  # project -> name -> sha at the last scan
        self._seen: dict[str, dict[str, int]] = {}  # project -> name -> order in which its head was seen moving
        self._moves = 0

    def predictor(self, repo: Path) -> Predictor:
        key = str(Path(repo).resolve())
        if key not in self._predictors:
            self._predictors[key] = Predictor(Path(repo))
        return self._predictors[key]

    def scan(self, project: str, repo: Path, default_branch: str, sessions: list[Session],
             *, force: bool = False) -> ScanResult:
        """Compare every branch whose head moved against every other live branch and the default."""
        live = live_sessions(sessions)
        heads = read_heads(repo, default_branch, live)
        now = {name: h.sha for name, h in heads.items()}
        before = self._last.get(project)
        result = ScanResult(default_moved=before is not None and before.get(DEFAULT) != now.get(DEFAULT),
                            default_sha=now.get(DEFAULT, ""))
        if before == now and not force:
            return result
        self.store.drop_branch_pairs(project, set(heads))
        moved = set(heads) if before is None or force else {n for n, sha in now.items() if before.get(n) != sha}
        names = sorted(heads)
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:] if a in moved or b in moved]
        todo = [(a, b) for a, b in pairs if heads[a].sha != heads[b].sha
                and self.store.get_prediction(heads[a].sha, heads[b].sha) is None]
        predictor = self.predictor(repo)

        def compute(pair: tuple[str, str]) -> tuple[tuple[str, str], Prediction | None]:
            a, b = pair
            try:
                return pair, predictor.predict(heads[a].sha, heads[b].sha)
            except AoError as exc:  # git's failure or time-out, in one line
                log.warning("predicting %s with %s failed: %s", a, b, exc)
                return pair, None

        unique: dict[tuple[str, str], tuple[str, str]] = {}
        for a, b in todo:
            unique.setdefault(tuple(sorted((heads[a].sha, heads[b].sha))), (a, b))  # type: ignore[arg-type]
        if unique:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(unique))) as pool:
                for (a, b), prediction in pool.map(compute, list(unique.values())):
                    if prediction is None:
                        continue
                    result.computed += 1
                    # Stored as (a's side, b's side) in sha order, so "ours" is the smaller sha.
                    first, second = sorted((heads[a].sha, heads[b].sha))
                    conflicts = prediction.conflicts if heads[a].sha == first else _swap(prediction.conflicts)
                    self.store.put_prediction(first, second, prediction.files, conflicts)
        predictor.keep_only({h.sha for h in heads.values()})
        seen = self._seen.setdefault(project, {})
        for name in [n for n in seen if n not in heads]:  # its session is gone: so is its order
            del seen[name]
        for name in sorted(moved, key=lambda n: (heads[n].at, n)):
            self._moves += 1
            seen[name] = self._moves
        for a, b in pairs:
            # Who committed later: commit times, then (same second) which head this watch saw move last.
            later = a if (heads[a].at, seen.get(a, 0)) >= (heads[b].at, seen.get(b, 0)) else b
            if a == DEFAULT:
                later = b
            elif b == DEFAULT:
                later = a
            if self.store.set_branch_pair(project, a, b, heads[a].sha, heads[b].sha, later):
                result.changed.append({"a": a, "b": b})
        self._last[project] = now
        return result


def _swap(conflicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "hunks": [{**h, "ours": h["theirs"], "theirs": h["ours"]} for h in c["hunks"]]} for c in conflicts]


# -- reading the results -------------------------------------------------------------------


@dataclass
class Overlap:
    """One other branch a session shares files with, seen from that session."""

    other: str  # session id or DEFAULT
    files: list[str]
    conflicts: list[dict[str, Any]]  # hunks with "ours" = this session's side
    later: bool  # this session committed after the other
    sha: str
    other_sha: str

    @property
    def conflicting(self) -> bool:
        return bool(self.conflicts)

    def as_dict(self, default_branch: str = "main") -> dict[str, Any]:
        return {"with": label(self.other, default_branch), "files": self.files, "conflict": self.conflicting,
                "conflicts": self.conflicts, "later": self.later, "head": self.sha, "other_head": self.other_sha}


def overlaps_for(store: Store, session_id: str, project: str | None = None) -> list[Overlap]:
    """The branches ``session_id`` shares files with (conflicts first), from the store."""
    out = []
    for pair in store.branch_pairs(project, member=session_id):
        if not pair["files"]:
            continue
        mine_first = pair["a"] == session_id
        other = pair["b"] if mine_first else pair["a"]
        sha, other_sha = (pair["a_sha"], pair["b_sha"]) if mine_first else (pair["b_sha"], pair["a_sha"])
        conflicts = pair["conflicts"] or []
        if sha > other_sha:  # stored with "ours" = the smaller sha
            conflicts = _swap(conflicts)
        out.append(Overlap(other=other, files=pair["files"], conflicts=conflicts,
                           later=pair["later"] == session_id, sha=sha, other_sha=other_sha))
    out.sort(key=lambda o: (not o.conflicting, o.other))
    return out


def summary(overlaps: list[Overlap], default_branch: str) -> list[dict[str, Any]]:
    """The short form kept on the session (``extra["conflicts"]``) for the control room's rows."""
    return [{"with": label(o.other, default_branch), "conflict": o.conflicting, "files": o.files[:10]}
            for o in overlaps]


def refresh_marks(engine: Engine, project: str, sessions: list[Session], default: str) -> list[Session]:
    """Keep each live session's short summary (``extra["conflicts"]``) in step with the store;
    returns the sessions that changed (the engine tells its listeners, e.g. the control room)."""
    changed = []
    for s in live_sessions(sessions):
        short = summary(overlaps_for(engine.store, s.id, project), default)
        if s.extra.get("conflicts", []) == short:
            continue

        def change(x: Session, short: list[dict[str, Any]] = short) -> None:
            if short:
                x.extra["conflicts"] = short
            else:
                x.extra.pop("conflicts", None)

        changed.append(engine.announce(engine.store.mutate(s.id, change)))
    return changed


def describe_hunks(conflicts: list[dict[str, Any]], mine: str, other: str, limit: int = 4000) -> str:
    """Conflicting hunks as plain text for an agent or a human."""
    parts = []
    for c in conflicts:
        hunks = c.get("hunks") or []
        if not hunks:
            parts.append(f"{c['path']}: {c.get('message') or 'conflict'}")
            continue
        for h in hunks:
            block = [f"{c['path']} (around line {h['line']} of the merged file):",
                     f"  {mine}:", *(f"    {line}" for line in h["ours"] or ["(nothing)"]),
                     f"  {other}:", *(f"    {line}" for line in h["theirs"] or ["(nothing)"])]
            parts.append("\n".join(block))
    text = "\n".join(parts)
    return text if len(text) <= limit else text[: limit - 30].rstrip() + "\n[... more hunks ...]"


def fleet_conflicts(engine: Engine, project: str | None = None) -> list[dict[str, Any]]:
    """Every current pair that shares files (for ``ao conflicts``, the orchestrator)."""
    out = []
    for pair in engine.store.branch_pairs(project):
        if not pair["files"]:
            continue
        cfg = engine.config.projects.get(pair["project"])
        default = cfg.default_branch if cfg else "main"
        conflicts = pair["conflicts"] or []
        if pair["a_sha"] > pair["b_sha"]:
            conflicts = _swap(conflicts)
        out.append({"project": pair["project"], "a": label(pair["a"], default), "b": label(pair["b"], default),
                    "a_head": pair["a_sha"], "b_head": pair["b_sha"], "later": label(pair["later"], default),
                    "files": pair["files"], "conflict": bool(conflicts),
                    "conflicts": conflicts})
    out.sort(key=lambda p: (not p["conflict"], p["project"], p["a"], p["b"]))
    return out
