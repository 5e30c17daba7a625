"""The engine's independence from the UI is checked by import-linter (``make test`` runs it first);
this keeps its contract covering every engine module, including ones added later."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_contract_names_every_module_but_the_tui() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["name"] == "The engine knows nothing of Textual")
    package = ROOT / "ao_tui"
    modules = {f"ao_tui.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"ao_tui.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert modules - {"ao_tui.tui"} <= set(contract["source_modules"])
    assert {"textual", "ao_tui.tui"} <= set(contract["forbidden_modules"])
