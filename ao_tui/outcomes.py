"""Learning from outcomes: what each session cost, and lessons for the next ones.

``record_outcome`` stores per session: CI cycles, review rounds, time to PR
and to merge, tokens and cost, the checks and tests that failed and the review
comments received (taken from the reaction claims, which keep each trigger's
data). ``retrospective`` turns the recent outcomes of a project into a few
short lessons, appended to the next agents' rules. It is deliberately simple
and deterministic: counts of recurring failing checks and tests, recurring
review themes (by keyword) and files reviewers keep commenting on; only what
recurs in at least two sessions becomes a lesson.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from ao_tui.models import Session, utcnow
from ao_tui.prompts import READY
from ao_tui.store import Store

#: A theme, the words that reveal it in a review comment, and the advice it becomes.
REVIEW_THEMES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("tests", ("test", "coverage", "assert"), "add or update tests for every behaviour you change"),
    ("error handling", ("error", "exception", "handle", "raise", "traceback", "fail"),
     "handle failures explicitly and give the user one clear message"),
    ("naming", ("name", "rename", "naming"), "use clear names that follow the codebase's conventions"),
    ("documentation", ("docstring", "document", "readme", "changelog"),
     "document public functions and user-visible changes"),
    ("typing", ("type hint", "typing", "annotation", "mypy"), "add type annotations to new code"),
    ("style", ("format", "style", "lint", "ruff", "pep8", "whitespace"),
     "run the formatter and linter before committing"),
    ("scope", ("unrelated", "out of scope", "scope", "revert"), "keep the change to the task; no unrelated edits"),
    ("duplication", ("duplicat", "reuse", "copy-paste", "copy paste"),
     "reuse existing helpers instead of duplicating code"),
    ("security", ("shell", "inject", "escape", "secret", "token", "password"),
     "never build shell strings; keep secrets out of code and logs"),
    ("performance", ("slow", "performance", "quadratic", "n+1", "cache"), "mind the cost of loops and I/O"),
)
MIN_SESSIONS = 2
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+::\S+|\S+\.py)", re.MULTILINE)


def failing_tests_in(text: str) -> list[str]:
    """Test ids from a pytest log's short summary, in order, without repeats."""
    return list(dict.fromkeys(_PYTEST_FAILED.findall(text)))


def _seconds(later: Any, earlier: Any) -> float | None:
    if later is None or earlier is None:
        return None
    return round(float((later - earlier).total_seconds()), 1)


def outcome_for(store: Store, session: Session) -> dict[str, Any]:
    """The outcome record of ``session`` (not stored)."""
    failing_checks: list[str] = []
    failing_tests: list[str] = []
    comments: list[dict[str, Any]] = []
    seen_comments: set[str] = set()
    for claim in store.claims(session.id):
        data = claim["data"]
        trigger = data.get("trigger", {})
        if claim["event"] == "ci_failed" and not claim["key"].endswith(":escalated"):
            failing_checks += list(trigger.get("failed", []))
            failing_tests += list(data.get("failing_tests", []))
        if claim["event"] in ("changes_requested", "review_comment"):
            for c in trigger.get("comments", []):
                if c.get("id") not in seen_comments:
                    seen_comments.add(c.get("id"))
                    comments.append({"body": c.get("body", ""), "path": c.get("path"), "line": c.get("line")})
    return {
        "status": session.status.value,
        "task_id": session.task_id,
        "ci_cycles": session.ci_cycles,
        "review_rounds": session.review_rounds,
        "time_to_pr_s": _seconds(session.pr_opened_at, session.created_at),
        "time_to_merge_s": _seconds(session.merged_at, session.created_at),
        "tokens": session.usage.total_tokens,
        "cost_usd": session.usage.cost_usd,
        "failing_checks": failing_checks,
        "failing_tests": failing_tests,
        "review_comments": comments,
        "escalated": bool(session.escalation),
        "recorded_at": utcnow().isoformat(),
    }


def record_outcome(store: Store, session: Session) -> dict[str, Any]:
    """Store (or refresh) the outcome of ``session``; idempotent."""
    data = outcome_for(store, session)
    store.put_outcome(session.id, session.project, data)
    return data


def _themes(text: str) -> set[str]:
    lowered = text.lower()
    return {name for name, words, _ in REVIEW_THEMES
            if any(re.search(r"\b" + re.escape(w), lowered) for w in words)}


def retrospective(store: Store, project: str, *, max_lessons: int = 5, recent: int = 20) -> list[str]:
    """Short lessons from the project's recent outcomes, most recurrent first."""
    outcomes = sorted(store.outcomes(project, newest=recent), key=lambda o: o.get("recorded_at", ""), reverse=True)
    if not outcomes:
        return []
    total = len(outcomes)
    checks, tests, themes, files = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for outcome in outcomes:
        checks.update(set(outcome.get("failing_checks", [])))
        tests.update(set(outcome.get("failing_tests", [])))
        bodies = " \n".join(c.get("body", "") for c in outcome.get("review_comments", []))
        themes.update(_themes(bodies))
        files.update({c["path"] for c in outcome.get("review_comments", []) if c.get("path")})
    scored: list[tuple[int, str]] = []
    for name, n in checks.items():
        if n >= MIN_SESSIONS:
            scored.append((n, f"CI check `{name}` failed in {n} of the last {total} sessions: "
                              f"run it yourself and make it pass before saying {READY}."))
    for name, n in tests.items():
        if n >= MIN_SESSIONS:
            scored.append((n, f"The test `{name}` failed in {n} sessions: read it before changing the code it covers."))
    advice = {name: text for name, _, text in REVIEW_THEMES}
    for name, n in themes.items():
        if n >= MIN_SESSIONS:
            scored.append((n, f"Reviewers raised {name} in {n} sessions: {advice[name]}."))
    for path, n in files.items():
        if n >= MIN_SESSIONS:
            scored.append((n, f"Review comments keep landing on `{path}` ({n} sessions): "
                              "follow its existing conventions closely."))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [text for _, text in scored[:max_lessons]]


def lessons_for(store: Store, project: str) -> list[str]:
    """What the engine appends to a new session's rules."""
    return retrospective(store, project)


def summary(store: Store, project: str) -> dict[str, Any]:
    """Averages across recorded sessions (for the UI and the orchestrator)."""
    outcomes = store.outcomes(project)
    merged = [o for o in outcomes if o.get("time_to_merge_s") is not None]

    def mean(values: list[float]) -> float | None:
        return round(sum(values) / len(values), 1) if values else None

    return {
        "sessions": len(outcomes),
        "merged": len(merged),
        "mean_ci_cycles": mean([o.get("ci_cycles", 0) for o in outcomes]),
        "mean_review_rounds": mean([o.get("review_rounds", 0) for o in outcomes]),
        "mean_time_to_merge_s": mean([o["time_to_merge_s"] for o in merged]),
        "tokens": sum(o.get("tokens", 0) for o in outcomes),
        "cost_usd": round(sum(o.get("cost_usd", 0.0) for o in outcomes), 4),
    }
