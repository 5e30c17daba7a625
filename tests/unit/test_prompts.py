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


def test_ready_is_a_line_of_its_own_as_the_rules_ask() -> None:
    from ao_tui.prompts import READY_RULE, says_ready

    assert READY_RULE in session_rules("ao/s-1", "Co-Authored-By: x")
    for done in ("READY", "Added hello.txt and committed it.\n\nREADY", "Done.\n\n**READY**\n", "READY."):
        assert says_ready(done), done
    for not_done in ("NOT READY", "I am not READY yet", "READY when the tests pass", "ALREADY done", ""):
        assert not says_ready(not_done), not_done
