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


def _layered_modules(config: dict, name_starts: str = "Layers:") -> set[str]:
    contract = next(c for c in config["contracts"] if c["type"] == "layers" and c["name"].startswith(name_starts))
    names: set[str] = set()
    for layer in contract["layers"]:
        names |= {n.strip() for n in layer.replace("\\", " ").replace("|", ":").split(":") if n.strip()}
    return names


def test_the_layers_contract_places_every_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    package = ROOT / "ao_tui"
    modules = {f"ao_tui.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"ao_tui.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert modules - _layered_modules(config) == set(), "place these in the layers contract in pyproject.toml"


def test_the_terminal_pane_contracts_place_every_terminal_module() -> None:
    """The terminal pane's parts are layered (widget, screen model, cells/keys/source) and all but the
    widget are kept free of Textual: a new ``terminal_*`` module must be placed in both."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    modules = {f"ao_tui.tui.{p.stem}" for p in (ROOT / "ao_tui" / "tui").glob("terminal_*.py")}
    assert modules - _layered_modules(config, "The terminal pane:") == set(), "place these in pyproject.toml"
    no_textual = next(c for c in config["contracts"] if c["name"] == "The terminal's model knows nothing of Textual")
    assert modules - {"ao_tui.tui.terminal_view"} == set(no_textual["source_modules"])


def _cycles(graph) -> list[list[str]]:  # noqa: ANN001 - grimp.ImportGraph
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or round a longer loop (imports under ``TYPE_CHECKING``
    never run and are not counted, as in the import-linter contracts)."""
    import grimp

    graph = grimp.build_graph("ao_tui", "ao_tui_plugins", exclude_type_checking_imports=True, cache_dir=None)
    cycles = _cycles(graph)
    described = []
    for component in cycles:
        members = set(component)
        edges = [f"{a} -> {b} (line {graph.get_import_details(importer=a, imported=b)[0]['line_number']})"
                 for a in component for b in sorted(graph.find_modules_directly_imported_by(a)) if b in members]
        described.append("\n  ".join(edges))
    assert not cycles, "import cycles:\n  " + "\n\n  ".join(described)


def test_the_cycle_check_finds_a_cycle_and_names_it() -> None:
    """The check above is not vacuous: a loop made of function-level (lazy) imports counts as one, and
    each loop is reported whole, a module importing itself through two others included."""
    import grimp

    graph = grimp.ImportGraph()
    for importer, imported in (("pkg.a", "pkg.b"), ("pkg.b", "pkg.c"), ("pkg.c", "pkg.a"), ("pkg.c", "pkg.d"),
                               ("pkg.e", "pkg.f"), ("pkg.f", "pkg.e"), ("pkg.g", "pkg.a")):
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
    assert sorted(_cycles(graph)) == [["pkg.a", "pkg.b", "pkg.c"], ["pkg.e", "pkg.f"]]
    real = grimp.build_graph("ao_tui", exclude_type_checking_imports=True, cache_dir=None)
    # `ao_tui.cli` imports the engine inside functions only (start-up stays light): grimp counts those
    assert "ao_tui.engine" in real.find_modules_directly_imported_by("ao_tui.cli")


def test_only_the_store_speaks_sql() -> None:
    """The store owns ao's SQL: no other module imports sqlite3 (catch the store's errors as
    ``store_health.DatabaseError``). The OpenCode agent reads OpenCode's own database, not ao's."""
    import grimp

    graph = grimp.build_graph("ao_tui", "ao_tui_plugins", include_external_packages=True,
                              exclude_type_checking_imports=True, cache_dir=None)
    importers = graph.find_modules_that_directly_import("sqlite3")
    stray = sorted(m for m in importers if not m.startswith("ao_tui.store") and m != "ao_tui_plugins.agent_opencode")
    assert stray == [], f"sqlite3 imported outside the store (add a Store method instead): {stray}"


def test_no_import_error_guards_over_our_own_modules() -> None:
    """Our modules always ship: an ``except ImportError`` around one would turn a bug in it (a bad import
    inside) into a feature silently off. Guards stay only over optional third-party libraries."""
    import ast

    found = []
    for root in (ROOT / "ao_tui", ROOT / "plugins" / "ao_tui_plugins"):
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Try):
                    continue
                caught = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
                if not caught & {"ImportError", "ModuleNotFoundError"}:
                    continue
                for sub in (s for stmt in node.body for s in ast.walk(stmt)):
                    names = [sub.module or ""] if isinstance(sub, ast.ImportFrom) else \
                        [a.name for a in sub.names] if isinstance(sub, ast.Import) else []
                    if any(n.split(".")[0] in ("ao_tui", "ao_tui_plugins") for n in names):
                        found.append(f"{path.relative_to(ROOT)}:{sub.lineno}")
    assert found == [], f"ImportError guards over our own modules: {found}"


#: Private Textual modules ao_tui still imports, each with the reason (empty: Textual's public API only,
#: so the pin in pyproject.toml can follow Textual's releases).
PRIVATE_TEXTUAL_ALLOWED: dict[str, str] = {}


def _private_textual_imports() -> dict[str, list[str]]:
    """``{module or name imported: [file:line, ...]}`` for every import of a private Textual module
    (``textual._x``, ``textual.widgets._x``) or of a private name from a Textual module."""
    import ast

    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "ao_tui").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            private: set[str] = set()
            for name in names:
                parts = name.split(".")
                if parts[0] == "textual" and any(part.startswith("_") for part in parts[1:]):
                    first = next(i for i, part in enumerate(parts) if i and part.startswith("_"))
                    private.add(".".join(parts[: first + 1]))
            for module in sorted(private):
                found.setdefault(module, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_ao_tui_uses_only_textuals_public_modules() -> None:
    found = _private_textual_imports()
    unexplained = {name: where for name, where in found.items() if name not in PRIVATE_TEXTUAL_ALLOWED}
    assert not unexplained, f"private Textual modules imported (use the public API): {unexplained}"
    assert set(PRIVATE_TEXTUAL_ALLOWED) <= set(found), "no longer imported: drop it from PRIVATE_TEXTUAL_ALLOWED"
