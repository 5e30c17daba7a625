"""Sessions on other hosts in the control room: a host column once one runs elsewhere, the host in the
detail, and a host that stops answering shown in Needs you as "host unreachable since HH:MM"."""

from __future__ import annotations

import pytest

from tests.tui.fleet import FleetTerminal
from tests.tui.test_snapshots import settle

UNREACHABLE = "host build-2 unreachable since 11:58"


@pytest.fixture
def remote(fleet_engine):
    """The demo fleet with app-5 on build-1 and app-6 on build-2, which stopped answering."""
    def on(host: str, escalation: str = ""):  # noqa: ANN202
        def change(s) -> None:  # noqa: ANN001
            s.host, s.runtime = host, "host"
            s.extra["remote_workspace"] = f"/home/dev/.ao-host/worktrees/{s.id}"
            s.escalation = escalation or s.escalation
        return change

    fleet_engine.store.mutate("app-5", on("build-1"))
    fleet_engine.store.mutate("app-6", on("build-2", UNREACHABLE))
    return fleet_engine


@pytest.mark.parametrize("size", [(200, 50), (80, 24)])
def test_snapshot_remote_fleet(remote, make_app, snap_compare, size) -> None:
    app = make_app(terminal_source=FleetTerminal)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await settle(pilot)
        pilot.app.jump_to("app-6")
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_rows_name_their_host_and_an_unreachable_host_needs_you(remote, make_app) -> None:
    from ao_tui.attention import Zone

    app = make_app(terminal_source=FleetTerminal)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        listing = app.query_one("SessionList")
        rows = {r.session.id: r for r in listing.rows if r.session}
        text = {sid: listing._row_text(r.session, 160, None).plain for sid, r in rows.items()}
        assert "build-1" in text["app-5"] and "build-2" in text["app-6"]
        assert "build-1" not in text["app-1"] and "build-2" not in text["app-1"]  # this machine's sessions leave the column blank
        assert rows["app-6"].zone is Zone.NEEDS_YOU and UNREACHABLE in text["app-6"]
        app.jump_to("app-6")
        await settle(pilot)
        detail = app.query_one("#detail").text()
        assert "host     build-2: /home/dev/.ao-host/worktrees/app-6" in detail and UNREACHABLE in detail
        # One machine's fleet again: no host column.
        listing.set_sessions([r.session for r in listing.rows if r.session and r.session.host == "local"])
        assert listing.host_width == 0
