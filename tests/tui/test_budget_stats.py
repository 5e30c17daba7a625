"""Budgets and the stats screen in the control room (issue 14): the status bar, the go-on dialog, `$`."""

from __future__ import annotations

from ao_tui import budget
from ao_tui.config import BudgetConfig
from ao_tui.models import Usage
from ao_tui.tui.app import AoApp
from tests.tui.fleet import fixed_clock
from tests.tui.helpers import notifications, screen_text, wait_until


async def test_stats_screen_shows_spend_per_day_pr_task_and_agent(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("dollar_sign")
        await wait_until(pilot, lambda: "Fleet stats" in screen_text(app), what=lambda: screen_text(app))
        text = screen_text(app)
        assert "Fleet stats, all projects: $5.36 spent" in text
        assert "Spend per day" in text and "today $5.36" in text
        assert "1 merged PR: $3.10 each, 0 CI cycles per PR" in text
        assert "#1100  $3.10" in text and "T-2  $1.84" in text and "claude-code  $5.36" in text
        assert app.screen.query_one("#stats-spark").data[-1] == 5.36  # Textual's Sparkline, one bar a day
        await pilot.press("escape")
        await wait_until(pilot, lambda: "Fleet stats" not in screen_text(app))
        # `p` filters a project: the stats follow the filter.
        app.project_filter = "web"
        await pilot.press("dollar_sign")
        await wait_until(pilot, lambda: "Fleet stats, project web: $0.00 spent" in screen_text(app),
                         what=lambda: screen_text(app))


async def test_reached_budget_shows_in_the_status_bar_and_asks_once_to_go_on(fleet_engine):
    fleet_engine.config.projects["app"].budget = BudgetConfig(daily_usd=5.0)
    fleet_engine.store.update("app-5", usage=Usage(cost_usd=6.0))  # app-5 was created today (fixed clock)
    watch = budget.BudgetWatch(fleet_engine, clock=fixed_clock)
    [st] = watch.tick()
    assert st.state == "over"
    app = AoApp(fleet_engine, clock=fixed_clock, start_engine=False, watch_store=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: "Budget reached" in screen_text(app), what=lambda: screen_text(app))
        assert app._main("#status").budget.plain.strip() == "budget reached"  # the status bar, under the dialog
        assert "today, project app: $" in screen_text(app)
        await pilot.press("y")
        await wait_until(pilot, lambda: "Budget reached" not in screen_text(app))
        assert budget.holds(fleet_engine, fleet_engine.session("app-5"), fixed_clock()) == ""
        watch.tick()
        app._update_status()
        await wait_until(pilot, lambda: "over budget" in screen_text(app).splitlines()[0],
                         what=lambda: screen_text(app).splitlines()[0])
        assert "Budget reached" not in screen_text(app), "asked once"


async def test_orchestrator_answer_is_in_the_history_and_u_undoes_it(make_app, fleet_engine):
    from ao_tui.models import Event

    key = "app-1:orchestrator_answer:x"
    fleet_engine.queue_message("app-1", "YAML, as the project's other configs.", key=key)
    fleet_engine.store.add_event(Event(session_id="app-1", kind="answered_by_orchestrator", data={
        "question": "YAML or TOML?", "answer": "YAML, as the project's other configs.", "category": "naming",
        "reason": "CLAUDE.md: configs are YAML", "key": key}))
    app = make_app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        app.jump_to("app-1")
        await wait_until(pilot, lambda: "answered by the orchestrator: YAML, as the project's other configs."
                         in app.detail.text(), what=lambda: app.detail.text())  # the session's history
        await pilot.press("U")
        await wait_until(pilot, lambda: any("the orchestrator's answer is undone" in n for n in notifications(app)),
                         what=lambda: str(notifications(app)))
        assert fleet_engine.store.pending_messages("app-1") == [], "dropped before it was typed"
        assert [e.kind for e in fleet_engine.events("app-1")][-1] == "orchestrator_answer_undone"
