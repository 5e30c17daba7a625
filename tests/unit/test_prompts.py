"""The agent's rules: pushing is mentioned only where ao pushes (scm github)."""

from __future__ import annotations

from ao_tui.prompts import session_rules


def test_github_rules_say_ao_pushes_and_forbid_force_pushing() -> None:
    rules = session_rules("ao/s-1", "Co-Authored-By: Claude <noreply@anthropic.com>", scm="github")
    assert "ao pushes `ao/s-1` to GitHub after each of your turns" in rules
    assert "git push origin ao/s-1" in rules and "never force-push" in rules


def test_local_rules_do_not_mention_pushing() -> None:
    for scm in ("local", ""):
        rules = session_rules("ao/s-1", "Co-Authored-By: Claude <noreply@anthropic.com>", scm=scm)
        assert "push" not in rules.lower()
