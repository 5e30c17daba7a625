"""docs/architecture.md and docs/plugins.md name real things: every module path, every ``module.name`` and
``Class.method`` they write in backticks exists (read from the source, nothing imported), every module of
ao_tui has its row in the layers table, and the slots table says what the slots' classes require.

A rename that forgets the docs fails here, naming the doc and the stale name."""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

from ao_tui.slots import SLOTS, interface

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/architecture.md", "docs/plugins.md")
PACKAGES = {"ao_tui": ROOT / "ao_tui", "ao_tui_plugins": ROOT / "plugins" / "ao_tui_plugins"}
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
#: Dotted words in backticks that are not Python names: files, the entry-point group, a plugin's own attributes.
_NOT_PYTHON = {"ao.config.yaml", "pyproject.toml", "ao_tui.plugins", "self.options", "self.context"}
#: Files the docs name that are not this repository's: what `ao plugins new` writes.
_NOT_OURS = {"tests/test_plugin.py"}


@cache
def modules() -> dict[str, Path]:
    """Every module of both packages by dotted name (a package by its ``__init__.py``)."""
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _names_in(body: list[ast.stmt], *, in_class: bool) -> dict[str, ast.AST]:
    """What a module or class body defines: functions, classes, assigned and annotated names (and, in a
    class, the ``self.x`` its methods assign); what a module imports counts as its own."""
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = node
            if in_class and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store)
                            and isinstance(sub.value, ast.Name) and sub.value.id == "self"):
                        names.setdefault(sub.attr, sub)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names[sub.id] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and not in_class:
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
        elif isinstance(node, ast.If):  # TYPE_CHECKING, version checks
            names.update(_names_in(node.body + node.orelse, in_class=in_class))
    return names


@cache
def classes() -> dict[str, list[ast.ClassDef]]:
    """Every class of both packages by its name."""
    found: dict[str, list[ast.ClassDef]] = {}
    for path in modules().values():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(node)
    return found


def _class_has(cls: ast.ClassDef, attr: str, seen: frozenset[str] = frozenset()) -> bool:
    if attr in _names_in(cls.body, in_class=True):
        return True
    for base in cls.bases:  # inherited from a class of ours
        name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
        if name not in seen and any(_class_has(c, attr, seen | {cls.name}) for c in classes().get(name, [])):
            return True
    return False


def _resolves_in(node: ast.AST | None, chain: list[str]) -> bool:
    """Whether ``chain`` names something inside ``node`` (a module's tree or a class)."""
    for i, attr in enumerate(chain):
        if isinstance(node, ast.Module):
            node = _names_in(node.body, in_class=False).get(attr)
        elif isinstance(node, ast.ClassDef):
            if not _class_has(node, attr):
                return False
            rest = chain[i + 1:]
            inner = _names_in(node.body, in_class=True).get(attr)
            return not rest or (isinstance(inner, ast.ClassDef) and _resolves_in(inner, rest))
        else:
            return not chain[i:]  # a function or a value: nothing is looked up inside it
        if node is None:
            return False
    return True


def resolves(dotted: str) -> bool:
    """``a.b.c``: a module (named from its package or by its last parts), then names inside it; or a class
    of ours, then an attribute of it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        head, chain = ".".join(parts[:cut]), parts[cut:]
        for name, path in modules().items():
            if name == head or name.endswith("." + head):
                if not chain or _resolves_in(_tree(path), chain):
                    return True
    # a class by its name, or an instance by the class's (``engine.start``)
    named = classes().get(parts[0], []) or [c for n, cs in classes().items() if n.lower() == parts[0] for c in cs]
    return any(_resolves_in(cls, parts[1:]) for cls in named) or _config_key(parts)


def _config_key(parts: list[str]) -> bool:
    """A key of ao.config.yaml's project (``agent.command``) or top level, through the config's models."""
    from pydantic import BaseModel

    from ao_tui.config import Config, ProjectConfig

    for model in (ProjectConfig, Config):
        for i, part in enumerate(parts):
            field = model.model_fields.get(part)
            if field is None:
                break
            if i == len(parts) - 1:
                return True
            inner = field.annotation
            if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
                break
            model = inner
    return False


def _mentions(doc: str) -> list[tuple[int, str]]:
    """(line, text) of every backticked span in the doc, calls' arguments dropped: ``f(x)`` is ``f``."""
    found = []
    for number, line in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), 1):
        for span in re.findall(r"`([^`]+)`", line):
            found.append((number, re.sub(r"\(.*\)$", "", span.strip())))
    return found


def _path_exists(text: str) -> bool:
    """A path from the repository, ao_tui/ or the plugins; a bare file name anywhere in ours (the docs say
    ``terminal_screen.py`` in a paragraph on tui/, ``slack_server.py`` after tests/support/)."""
    text = text.rstrip("/")
    if (ROOT / text).exists():
        return True
    if "/" not in text:
        return any(any((ROOT / top).rglob(text)) for top in ("ao_tui", "plugins", "tests", "bench", "scripts"))
    return any(any(base.glob(text)) for base in (ROOT, ROOT / "ao_tui", ROOT / "plugins" / "ao_tui_plugins"))


def test_every_module_path_the_docs_name_exists() -> None:
    missing = []
    for doc in DOCS:
        for number, text in _mentions(doc):
            if re.fullmatch(r"[\w./*-]+(\.py|/)", text) and "NAME" not in text and text not in _NOT_OURS \
                    and not _path_exists(text):
                missing.append(f"{doc}:{number}: {text}")
    assert missing == [], "\n".join(missing)


def test_every_python_name_the_docs_name_exists() -> None:
    missing = []
    for doc in DOCS:
        for number, text in _mentions(doc):
            if _DOTTED.match(text) and text not in _NOT_PYTHON and "NAME" not in text \
                    and not text.endswith((".py", ".md")) and not (ROOT / text).is_file() and not resolves(text):
                missing.append(f"{doc}:{number}: {text}")
    assert missing == [], "names the docs give that the code does not have:\n" + "\n".join(missing)


def test_the_check_itself_tells_a_stale_name() -> None:
    assert resolves("Engine.spawn") and resolves("orchestrator.loop_hooks.leader_loop") and resolves("git.run")
    assert resolves("slots.agent.Agent") and resolves("Session.host")  # a dataclass field
    assert not resolves("Engine.no_such_method") and not resolves("engine.NoSuchThing")
    assert not resolves("no_such_module.run")
    assert resolves("agent.command") and not resolves("agent.no_such_key")  # config keys, through the models


def test_every_module_has_its_row_in_the_layers_table() -> None:
    text = (ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    table = text[text.index("## The layers"):text.index("**How it is enforced.**")]
    named = {span.rstrip("/").removesuffix(".py") for span in re.findall(r"`([\w/.]+(?:\.py|/))`", table)}
    package = ROOT / "ao_tui"
    ours = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    ours |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert ours - named == set(), "add these to the layers table of docs/architecture.md"
    for package, listed in re.findall(r"`(\w+)/` \((`[^)]*)\)", table):  # a package whose modules the row lists
        inside = {p.stem for p in (ROOT / "ao_tui" / package).glob("*.py") if p.stem != "__init__"}
        assert inside == set(re.findall(r"`(\w+)`", listed)), f"the layers table's list of ao_tui/{package}/"


def test_the_slots_table_says_what_each_slot_requires_and_which_built_ins_fill_it() -> None:
    text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8")
    rows = {cells[0]: cells[1:] for cells in (
        [c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("| "))}
    entry_points = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["ao_tui.plugins"]
    for slot in SLOTS:
        cls_cell, required_cell, built_ins_cell = rows[slot]
        cls = interface(slot)
        assert cls_cell == f"`slots.{cls.__module__.rsplit('.', 1)[1]}.{cls.__name__}`", slot
        required = {m for m in re.findall(r"`([a-z_]\w*)", required_cell)}  # methods, not the types named
        abstract = {n for n in dir(cls) if getattr(getattr(cls, n), "__isabstractmethod__", False)}
        assert required == abstract, f"{slot}: the doc says {sorted(required)}, the class {sorted(abstract)}"
        built_ins = {b.strip() for b in built_ins_cell.split(",")}
        assert built_ins == {k.split(".", 1)[1] for k in entry_points if k.startswith(slot + ".")}, slot
