"""Chat texts split to a service's limit, and bridges that cannot start say why in one line."""

from __future__ import annotations

import json
from pathlib import Path

from ao_tui.bridges import configured, start_bridges
from ao_tui.bridges.text import CUT, split
from ao_tui.config import load_config
from ao_tui.engine import Engine


def test_split_keeps_lines_whole_and_cuts_after_four_parts() -> None:
    assert split("short", 100) == ["short"]
    lines = "\n".join(f"line {n:03d} " + "x" * 40 for n in range(100))
    parts = split(lines, 500)
    assert len(parts) == 4 and all(len(p) <= 500 for p in parts)
    assert parts[0].startswith("line 000") and parts[0].endswith("x")
    assert parts[-1].endswith(CUT.strip()) or parts[-1].endswith(CUT)
    assert split("y" * 250, 100, max_parts=10) == ["y" * 100, "y" * 100, "y" * 50]
    assert split("   ", 10) == ["(empty)"]


def test_a_bridge_without_its_token_is_off_with_one_line(git_repo: Path, ao_home: Path, monkeypatch) -> None:
    monkeypatch.delenv("AO_TEST_NO_SUCH_TOKEN", raising=False)
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({"projects": {"demo": {"repo": str(git_repo)}},
                                  "bridges": {"telegram": {"token_env": "AO_TEST_NO_SUCH_TOKEN",
                                                           "allowed_users": [1]}}}))
    engine = Engine(load_config(str(config)))
    try:
        assert configured(engine) == ([], ["bridges.telegram: $AO_TEST_NO_SUCH_TOKEN is not set; "
                                           "the Telegram bridge is off"])
        assert start_bridges(engine)[0] is None
    finally:
        engine.store.close()
