"""Fixtures for the TUI tests: a real store with a fixed fleet and an Engine over a real repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_tui.engine import Engine
from ao_tui.store import open_store
from tests.tui.fleet import config_for, demo_sessions, fill_store, fixed_clock, make_fixed_repo, make_workspace


@pytest.fixture
def fleet_engine(ao_home: Path, tmp_path: Path):
    """An Engine (no watch loop) over a store holding the demo fleet; app-1 has a real worktree."""
    repo = make_fixed_repo(tmp_path / "src")
    ws = make_workspace(repo, tmp_path, "app-1", "ao/app-1")
    store = open_store()
    fill_store(store, demo_sessions(ws))
    engine = Engine(config_for(repo), store)
    yield engine
    store.close()


@pytest.fixture
def make_app(fleet_engine):
    """Build an AoApp over the fleet with a fixed clock and no background engine."""
    from ao_tui.tui.app import AoApp

    def build(theme: str = "dark", **kwargs):  # noqa: ANN202
        kwargs.setdefault("watch_store", False)
        return AoApp(fleet_engine, theme=theme, clock=fixed_clock, start_engine=False, **kwargs)

    return build
