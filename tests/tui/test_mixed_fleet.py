"""A mixed fleet: the control room names each session's agent (a column once two kinds run)."""

from __future__ import annotations

import pytest

from tests.tui.fleet import FleetTerminal
from tests.tui.test_snapshots import settle


@pytest.fixture
def mixed(fleet_engine):
    """The demo fleet with two sessions run by Codex and one by Aider."""
    for sid, agent in (("app-3", "codex"), ("app-5", "codex"), ("web-1", "aider")):
        fleet_engine.store.mutate(sid, lambda s, agent=agent: setattr(s, "agent", agent))
    return fleet_engine


@pytest.mark.parametrize("size", [(200, 50), (80, 24)])
def test_snapshot_mixed_fleet(mixed, make_app, snap_compare, size) -> None:
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_each_row_names_its_agent_and_a_one_agent_fleet_does_not(mixed, make_app) -> None:
    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        listing = app.query_one("SessionList")
        assert listing.show_agent
        row = {r.session.id: listing._row_text(r.session, 160, None).plain for r in listing.rows if r.session}
        assert "codex" in row["app-3"] and "codex" in row["app-5"] and "aider" in row["web-1"]
        assert "claude " in row["app-1"]
        listing.set_sessions([r.session for r in listing.rows if r.session and r.session.agent == "codex"])
        assert not listing.show_agent
        assert "codex" not in listing._row_text(mixed.session("app-3"), 160, None).plain
