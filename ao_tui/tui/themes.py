"""Themes as YAML files mapped onto ``textual.theme.Theme``.

The shipped themes live beside this module (``ao_tui/tui/themes/*.yaml``);
users add their own as ``<config dir>/themes/*.yaml`` with the same keys. A
user theme with a shipped theme's name replaces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from textual.color import Color, ColorParseError
from textual.theme import Theme

from ao_tui.errors import ConfigError

SHIPPED_DIR = Path(__file__).parent / "themes"
DEFAULT_THEME = "dark"
COLOR_KEYS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel", "boost",
              "warning", "error", "success")
OTHER_KEYS = ("name", "dark", "luminosity_spread", "text_alpha", "variables")


def user_theme_dir() -> Path:
    from ao_tui.paths import config_dir

    return config_dir() / "themes"


def _line_of(text: str, key: str) -> int | None:
    for n, line in enumerate(text.splitlines(), 1):
        if line.split(":", 1)[0].strip() == key:
            return n
    return None


def load_theme(path: Path) -> Theme:
    """One YAML theme file; a mistake is a ``ConfigError`` naming file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = yaml.safe_load(text)
    except OSError as exc:
        raise ConfigError(str(path), None, None, f"cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(str(path), mark.line + 1 if mark else None, None, "invalid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), 1, None, "a theme is a mapping of colour names to colours")
    for key, value in data.items():
        if key not in COLOR_KEYS and key not in OTHER_KEYS:
            raise ConfigError(str(path), _line_of(text, str(key)), str(key), "unknown key")
        if key in COLOR_KEYS:
            try:
                Color.parse(str(value))
            except ColorParseError:
                raise ConfigError(str(path), _line_of(text, key), key, f"not a colour: {value!r}") from None
    if "primary" not in data:
        raise ConfigError(str(path), None, "primary", "required key is missing")
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise ConfigError(str(path), _line_of(text, "variables"), "variables", "must be a mapping")
    colors: dict[str, Any] = {key: str(data[key]) for key in COLOR_KEYS if key in data}
    return Theme(
        name=str(data.get("name") or path.stem),
        dark=bool(data.get("dark", True)),
        luminosity_spread=float(data.get("luminosity_spread", 0.15)),
        text_alpha=float(data.get("text_alpha", 0.95)),
        variables={str(k): str(v) for k, v in variables.items()},
        **colors,
    )


def load_themes(user_dir: Path | None = None) -> tuple[dict[str, Theme], list[str]]:
    """Shipped then user themes by name, and one line per user theme that failed to load."""
    themes: dict[str, Theme] = {}
    for path in sorted(SHIPPED_DIR.glob("*.yaml")):
        theme = load_theme(path)
        themes[theme.name] = theme
    errors: list[str] = []
    folder = user_dir if user_dir is not None else user_theme_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.yaml")):
            try:
                theme = load_theme(path)
            except ConfigError as exc:
                errors.append(str(exc))
                continue
            themes[theme.name] = theme
    return themes, errors
