"""The serve token: made once, private, compared in constant time."""

from __future__ import annotations

import stat
from pathlib import Path

from ao_tui.tui.serve.token import load_or_create, matches, token_path


def test_made_on_first_use_private_then_reused(ao_home: Path) -> None:
    token, new = load_or_create()
    assert new and len(token) >= 40
    assert token_path() == ao_home / "serve.token"
    assert stat.S_IMODE(token_path().stat().st_mode) == 0o600
    again, new_again = load_or_create()
    assert (again, new_again) == (token, False)


def test_a_token_file_others_could_read_is_made_private(ao_home: Path) -> None:
    path = ao_home / "serve.token"
    path.write_text("abc\n")
    path.chmod(0o644)
    assert load_or_create() == ("abc", False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_matches_only_the_token() -> None:
    assert matches("s3cret", "s3cret")
    assert not matches("s3cre", "s3cret")
    assert not matches("", "s3cret")
    assert not matches(None, "s3cret")
    assert not matches("ünïcode", "s3cret")
