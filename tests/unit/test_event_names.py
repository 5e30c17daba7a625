"""Reaction events are named once, in ``config.EVENT_WORDS`` (with the words shown for each): every place that
fires one, every table keyed by one and the config's defaults use only those names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ao_tui.config import EVENT_WORDS, EVENTS, default_reactions
from ao_tui_plugins import reaction_actions

ROOT = Path(__file__).resolve().parents[2]
#: Calls that fire an event name as their first argument (the loop's react, the rebaser's trigger, pr evaluation's fire).
_FIRES = re.compile(r"trigger|fire|^react$", re.IGNORECASE)


def _fired() -> dict[str, list[str]]:
    """Each event name written as the first argument of a call that fires one, with where."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "ao_tui").rglob("*.py")):
        if path.is_relative_to(ROOT / "ao_tui" / "demo"):  # the demo's stand-in agent fires Claude Code's hooks
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            args = list(node.args) + [k.value for k in node.keywords if k.arg == "event"]
            if _FIRES.search(name) and args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                found.setdefault(args[0].value, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_event_fired_is_a_known_one() -> None:
    fired = _fired()
    assert fired, "no event firing found: has the loop's react been renamed? update _FIRES"
    unknown = {name: where for name, where in fired.items() if name not in EVENTS}
    assert unknown == {}, "add these to config.EVENT_WORDS (or fix the name)"


def test_tables_keyed_by_event_use_known_names() -> None:
    assert tuple(EVENT_WORDS) == EVENTS
    for table in (default_reactions(), reaction_actions.TEMPLATES, reaction_actions.DEFAULT_BRANCH_TEMPLATES,
                  reaction_actions.NOTIFY_TITLES, reaction_actions.URGENCY):
        assert set(table) <= set(EVENTS), sorted(set(table) - set(EVENTS))
    assert set(reaction_actions.NOTIFY_TITLES) == set(EVENTS)  # every event has a notification title
