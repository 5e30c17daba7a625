"""One way ao says how long ago something was: the TUI, `ao ls` and the orchestrator's context."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ao_tui.durations import ago


def test_ago_is_whole_units_rounded_down() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert [ago(now - timedelta(seconds=s), now) for s in (0, 45, 60, 89 * 60, 3 * 3600 + 59, 2 * 86400)] == \
        ["0s", "45s", "1m", "1h", "3h", "2d"]
    assert ago(now + timedelta(seconds=5), now) == "0s"  # a clock a little ahead is not negative
    assert ago(None, now) == ""
