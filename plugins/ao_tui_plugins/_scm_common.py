"""Pieces the SCM plugins share: what a merge conflict raises, the CI log excerpt an agent is sent, the time
their records are stamped with."""

from __future__ import annotations

from ao_tui.errors import AoError
from ao_tui.models import PullRequest, utcnow
from ao_tui.outcomes import failing_tests_in as failing_tests

#: Lines of a CI log's tail an agent is sent.
LOG_TAIL_LINES = 150


class MergeConflict(AoError):
    """The branch does not merge cleanly; ``pr`` has ``has_conflicts=True``."""

    def __init__(self, message: str, pr: PullRequest, files: list[str]) -> None:
        super().__init__(message)
        self.pr = pr
        self.files = files


def log_excerpt(text: str, max_lines: int = LOG_TAIL_LINES) -> str:
    """The part of a CI log an agent needs: failing tests first, then the tail."""
    lines = text.rstrip("\n").splitlines()
    tail = lines[-max_lines:]
    parts = []
    tests = failing_tests(text)
    if tests:
        parts.append("Failing tests:\n" + "\n".join(f"- {t}" for t in tests))
    if len(lines) > len(tail):
        parts.append(f"[... {len(lines) - len(tail)} earlier lines omitted ...]")
    parts.append("\n".join(tail))
    return "\n".join(parts)


def now_iso() -> str:
    """Now, in UTC, as the SCM's records store it."""
    return utcnow().isoformat()
