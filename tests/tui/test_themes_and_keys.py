"""Themes from YAML (shipped and user), and remapping keys from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_tui.errors import ConfigError
from ao_tui.tui.bindings import BINDING_IDS, keymap
from ao_tui.tui.themes import load_themes, user_theme_dir


def test_shipped_themes_load() -> None:
    themes, errors = load_themes(Path("/nonexistent"))
    assert {"dark", "light", "high-contrast"} <= set(themes)
    assert errors == []
    assert themes["light"].dark is False


def test_user_theme_is_added_and_a_broken_one_is_named(ao_home: Path) -> None:
    folder = user_theme_dir()
    folder.mkdir(parents=True)
    (folder / "solar.yaml").write_text("name: solar\nprimary: '#ffaf00'\nbackground: '#000000'\n")
    (folder / "broken.yaml").write_text("name: broken\nprimary: '#ffaf00'\nsurface: not-a-colour\n")
    themes, errors = load_themes()
    assert "solar" in themes and themes["solar"].primary == "#ffaf00"
    assert "broken" not in themes
    assert len(errors) == 1 and "broken.yaml:3: surface: not a colour" in errors[0]


def test_user_theme_shows_in_the_picker(ao_home: Path, make_app) -> None:
    folder = user_theme_dir()
    folder.mkdir(parents=True)
    (folder / "solar.yaml").write_text("name: solar\nprimary: '#ffaf00'\n")
    app = make_app(theme="solar")
    assert app.theme == "solar"
    assert "solar" in app.ao_theme_names


def test_keymap_rejects_an_unknown_binding_id() -> None:
    assert keymap({"merge": "ctrl+g"}) == {"merge": "ctrl+g"}
    with pytest.raises(ConfigError, match=r"tui.keys.merj: no such binding"):
        keymap({"merj": "ctrl+g"})
    assert {"merge", "kill", "restore", "approve", "palette", "new_session", "toggle_chat"} <= BINDING_IDS


async def test_unknown_key_id_is_a_notification_not_a_crash(make_app, fleet_engine) -> None:
    fleet_engine.config.tui.keys = {"merj": "ctrl+g"}
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        from tests.tui.helpers import notifications, wait_until

        await wait_until(pilot, lambda: any("tui.keys.merj" in n for n in notifications(app)), timeout=5,
                         what="the toast naming the unknown key id")
