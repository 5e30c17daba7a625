"""Budgets (issue 14): spend per day and per session against the caps; 80 % told once; 100 % holds."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ao_tui import budget
from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.fleet_stats import bar, fleet_stats, sparkline
from ao_tui.models import Activity, ActivityState, PullRequest, Session, SessionStatus, Usage

NOW = datetime.now(UTC)


def _engine(ao_store, repo: Path, project_budget: str = "", fleet_budget: str = "") -> Engine:
    text = (f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n    notifiers: []\n" + project_budget
            + fleet_budget)
    return Engine(parse_config(text, "ao.config.yaml"), store=ao_store)


def _session(engine: Engine, sid: str, cost: float, tokens: int = 0, *, created: datetime | None = None,
             **fields) -> Session:
    s = Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=f"/tmp/{sid}", runtime_handle=sid,
                created_at=created or NOW, usage=Usage(output_tokens=tokens, cost_usd=cost), **fields)
    engine.store.insert_session(s)
    engine.store.transition(sid, SessionStatus.WORKING, activity=Activity(state=ActivityState.IDLE))
    return engine.session(sid)


def _cost(engine: Engine, sid: str, cost: float, tokens: int = 0) -> None:
    engine.store.update(sid, usage=Usage(output_tokens=tokens, cost_usd=cost))


class Notices:
    def __init__(self, engine: Engine) -> None:
        self.seen: list[tuple[str, str]] = []
        engine.subscribe_notifications(lambda n: self.seen.append((n.title, n.body)))


def test_daily_budget_notifies_once_at_80_then_holds_at_100_until_go_on(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, "    budget: {daily_usd: 10}\n")
    notices = Notices(engine)
    watch = budget.BudgetWatch(engine)
    _session(engine, "dm-1", 2.0)
    assert [st.state for st in watch.tick()] == ["ok"]
    _cost(engine, "dm-1", 8.5)
    watch.tick()
    watch.tick()
    assert [t for t, _ in notices.seen] == ["Budget at 85%"], "told once"
    engine.queue_message("dm-1", "CI failed: fix it", key="dm-1:ci_failed:abc")
    assert budget.holds(engine, engine.session("dm-1")) == ""
    _cost(engine, "dm-1", 10.2)
    [st] = watch.tick()
    watch.tick()
    assert st.state == "over" and notices.seen[-1][0].startswith("Budget reached")
    assert len(notices.seen) == 2
    assert "$10.20 of $10.00" in notices.seen[-1][1]
    assert budget.holds(engine, engine.session("dm-1")).startswith("budget reached, today, project demo")
    with pytest.raises(budget.BudgetReached, match=r"ao budget --continue"):
        engine.spawn("demo", prompt="one more")
    # The status bar's source: the standings as the engine last wrote them.
    assert budget.shown_state(engine)[0]["state"] == "over"
    # One confirmation: everything at its cap goes on for today.
    [confirmed] = budget.go_on(engine)
    assert confirmed.scope == "project:demo"
    assert budget.holds(engine, engine.session("dm-1")) == ""
    budget.check_spawn(engine, "demo")
    assert watch.tick()[0].state == "confirmed"
    assert len(notices.seen) == 2, "no more notices for today"


def test_raising_the_cap_lifts_the_hold(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, "    budget: {daily_usd: 10}\n")
    _session(engine, "dm-1", 12.0)
    assert budget.holds(engine, engine.session("dm-1"))
    raised = _engine(ao_store, git_repo, "    budget: {daily_usd: 20}\n")
    assert budget.holds(raised, raised.session("dm-1")) == ""


def test_yesterdays_spend_does_not_count_today(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, fleet_budget="budget: {daily_usd: 5}\n")
    yesterday = NOW - timedelta(days=1, hours=1)
    _session(engine, "dm-1", 40.0, created=yesterday)  # spent before today
    watch = budget.BudgetWatch(engine)
    [st] = watch.tick()
    assert (st.scope, st.spent_usd) == ("all", 0.0)
    _cost(engine, "dm-1", 43.0)  # it spends 3 more today
    _session(engine, "dm-2", 1.5)  # a session of today counts whole
    [st] = watch.tick()
    assert st.spent_usd == pytest.approx(4.5) and st.state == "warn"


def test_per_session_cap_holds_only_that_session(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, "    budget: {session_usd: 3, session_tokens: 1000}\n")
    _session(engine, "dm-1", 1.0, tokens=1200)
    _session(engine, "dm-2", 1.0, tokens=100)
    assert budget.holds(engine, engine.session("dm-1")).startswith("budget reached, session dm-1")
    assert budget.holds(engine, engine.session("dm-2")) == ""
    budget.check_spawn(engine, "demo")  # a session cap does not stop new sessions
    watch = budget.BudgetWatch(engine)
    watch.tick()
    assert [e.kind for e in engine.events("dm-1") if e.kind.startswith("budget")] == ["budget_warn", "budget_over"]


def test_no_budget_costs_nothing(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo)
    _session(engine, "dm-1", 100.0)
    assert budget.BudgetWatch(engine).tick() == [] and budget.standings(engine) == []
    assert budget.holds(engine, engine.session("dm-1")) == ""


def test_ao_budget_shows_and_goes_on(ao_store, git_repo, tmp_path) -> None:
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"projects:\n  demo:\n    repo: {git_repo}\n    budget: {{daily_usd: 10}}\n")
    engine = Engine(parse_config(config.read_text(), str(config)), store=ao_store)
    _session(engine, "demo-1", 11.0)

    def ao(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "budget", *args],
                              capture_output=True, text=True, timeout=60)

    out = ao()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("today, project demo: $11.00 of $10.00 (110%)  REACHED: new sessions and ao's "
                                  "messages held")
    assert json.loads(ao("--json").stdout)[0]["state"] == "over"
    assert ao("--continue").stdout.strip() == "going on past today, project demo: $11.00 of $10.00 (110%) for the rest of today"
    assert "you said go on" in ao().stdout


def test_fleet_stats_per_day_pr_task_and_agent(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo)
    _session(engine, "dm-1", 2.0, task_id="T-1", created=NOW - timedelta(days=2))
    s2 = _session(engine, "dm-2", 3.0, task_id="T-2", agent="codex", ci_cycles=2)
    engine.store.update("dm-2", pr=PullRequest(number=12, state="merged"), merged_at=s2.created_at + timedelta(hours=2))
    engine.store.transition("dm-2", SessionStatus.PR_OPEN)
    engine.store.transition("dm-2", SessionStatus.MERGED)
    stats = fleet_stats(engine.store, days=3)
    assert [v for _, v in stats.days] == [2.0, 0.0, 3.0]
    assert [(m.number, m.cost_usd, m.ci_cycles, m.time_to_merge_s) for m in stats.merged] == [(12, 3.0, 2, 7200.0)]
    assert stats.per_task == [("T-2", 3.0), ("T-1", 2.0)]
    assert stats.per_agent == [("codex", 3.0, 1), ("claude-code", 2.0, 1)]
    assert sparkline([2.0, 0.0, 3.0]) == "▅ █" and bar(3.0, 3.0, 4) == "████" and bar(1.0, 8.0, 1) == "▏"
