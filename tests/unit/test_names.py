from __future__ import annotations

import pytest

from ao_tui.errors import InvalidName
from ao_tui.names import contained_path, slugify, validate_branch, validate_session_id


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "A-1", "x" * 80, "a b", "-x", "a;rm"])
def test_hostile_session_ids_are_refused(bad):
    with pytest.raises(InvalidName):
        validate_session_id(bad)


@pytest.mark.parametrize("bad", ["../x", "a..b", "-rf", "x.lock", "a b", "$(id)", "a//b", "a/.x", "a@{1}"])
def test_hostile_branch_names_are_refused(bad):
    with pytest.raises(InvalidName):
        validate_branch(bad)


def test_slug_of_hostile_title_is_safe():
    assert slugify("Fix `rm -rf /`; $(curl evil) \x1b[31m héllo 日本") == "fix-rm-rf-curl-evil-31m-hello"
    assert slugify("") == "task"


def test_contained_path_refuses_escape(tmp_path):
    assert contained_path(tmp_path, "a", "b") == (tmp_path / "a" / "b").resolve()
    with pytest.raises(InvalidName):
        contained_path(tmp_path, "..", "x")
