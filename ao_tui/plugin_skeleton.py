"""``ao plugins new SLOT NAME``: a plugin package a third party can ``pip install``, ready to fill in.

It writes a pyproject with the entry point (``"<slot>.<name>"`` in ``ao_tui.plugins``), the class
subclassing the slot's interface with an ``Options`` model, a stub for each method the slot requires,
and a pytest test that passes as written. See docs/plugins.md.
"""

from __future__ import annotations

import builtins
import inspect
import json
import os
import re
import tempfile
from pathlib import Path

from ao_tui.errors import AoError
from ao_tui.slots import SLOTS, interface

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Where a plugin of each slot is named in ao.config.yaml (NAME: the plugin's name).
CONFIGURED = {
    "runtime": "`runtime: {plugin: NAME, greeting: hello}` in a project",
    "agent": "`agent: NAME` in a project (or under `agents:`, started with `ao spawn --agent NAME`)",
    "workspace": "`workspace: {plugin: NAME, greeting: hello}` in a project",
    "tracker": "`tracker: {plugin: NAME, greeting: hello}` in a project",
    "scm": "`scm: {plugin: NAME, greeting: hello}` in a project",
    "notifier": "`notifiers: [{plugin: NAME, greeting: hello}]` in a project",
    "terminal": "`terminal: {plugin: NAME, greeting: hello}` in a project",
    "reactions": "`reactions: {ci_failed: {action: NAME}}` in a project (any event)",
    "host": "`hosts: [{name: box, kind: NAME}]` at the top level, and `hosts: [box]` in a project",
}
#: Slots whose plugins take no options of their own from the config, and what they get instead.
NO_OWN_OPTIONS = {
    "agent": "the project's agent keys (model, permission_mode, rules, command, env) as a dict",
    "reactions": "none (each event's keys, such as retries and message, come to run() as its options)",
}


class _Bare:
    """An annotation shown as written (``Path``, not ``'Path'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def names(slot: str, name: str) -> tuple[str, str, str]:
    """(distribution, package, class) for a plugin: ``ao-tui-notifier-pager``, ``ao_tui_notifier_pager``,
    ``PagerNotifier``."""
    if slot not in SLOTS:
        raise AoError(f"unknown plugin slot {slot!r}; slots: {', '.join(SLOTS)}")
    if not _NAME.match(name):
        raise AoError(f"plugin name {name!r}: use lower-case letters, digits and single dashes (e.g. my-pager)")
    base = interface(slot)
    camel = "".join(part.capitalize() for part in name.split("-"))
    return f"ao-tui-{slot}-{name}", f"ao_tui_{slot}_{name.replace('-', '_')}", camel + base.__name__


def _stubs(slot: str) -> tuple[list[str], list[str]]:
    """(import lines, method stubs) for every method the slot's interface leaves abstract."""
    base = interface(slot)
    module = inspect.getmodule(base)
    wanted: dict[str, set[str]] = {}
    methods = []
    for attr, value in vars(base).items():
        if not getattr(value, "__isabstractmethod__", False):
            continue
        sig = inspect.signature(value)
        for text in [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]:
            if not isinstance(text, str):
                continue
            for ident in _IDENT.findall(text):
                found = getattr(module, ident, None)
                if found is None or hasattr(builtins, ident):
                    continue
                where = getattr(found, "__module__", None) or base.__module__
                if where == "typing" or where.startswith("collections"):
                    where = "typing" if where == "typing" else "collections.abc"
                wanted.setdefault(where, set()).add(ident)
        shown = str(sig.replace(
            parameters=[p.replace(annotation=_Bare(p.annotation)) if isinstance(p.annotation, str) else p
                        for p in sig.parameters.values()],
            return_annotation=_Bare(sig.return_annotation) if isinstance(sig.return_annotation, str)
            else sig.return_annotation))
        doc = inspect.getdoc(value) or f"What {base.__name__}.{attr} does: see its docstring."
        first = doc.splitlines()[0].replace('"""', "'''")
        methods.append(f'    def {attr}{shown}:\n        """{first}"""\n'
                       f'        raise NotImplementedError("{attr}: write this")\n')
    imports = [f"    from {mod} import {', '.join(sorted(idents))}" for mod, idents in sorted(wanted.items())]
    return imports, methods


def files(slot: str, name: str) -> dict[str, str]:
    """The skeleton's files, by path relative to its directory."""
    dist, package, cls = names(slot, name)
    base = interface(slot)
    imports, methods = _stubs(slot)
    type_checking = ("\nif TYPE_CHECKING:\n" + "\n".join(imports) + "\n") if imports else ""
    configured = CONFIGURED[slot].replace("NAME", name)
    if slot in NO_OWN_OPTIONS:
        options_base = None
        options = f"    # No Options model: its options are\n    # {NO_OWN_OPTIONS[slot]}.\n"
    elif slot == "host":
        options_base = ("ao_tui.slots.host", "HostOptions")
        options = ('    class Options(HostOptions):\n        """Its `hosts:` entry (name, max_sessions, labels, state_dir, '
                   'connect_timeout):\n        a host kind has no keys of its own there."""\n')
    else:
        common = base.CommonOptions  # what the engine reads of every plugin of the slot (an SCM's poll_interval)
        options_base = (common.__module__, common.__name__) if common else ("ao_tui.slots.base", "PluginOptions")
        options = (f'    class Options({options_base[1]}):\n        """Its options, checked when the config is loaded '
                   '(unknown keys are an error)."""\n\n        greeting: str = "hello"\n')
    top = [f"from {base.__module__} import {base.__name__}"]
    if options_base and options_base[0] == base.__module__:
        top = [f"from {base.__module__} import {', '.join(sorted([base.__name__, options_base[1]]))}"]
    elif options_base:
        top.append(f"from {options_base[0]} import {options_base[1]}")
    plugin = f'''"""The {slot} plugin {name!r} for ao-tui (a skeleton from `ao plugins new`: fill in the methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING

{chr(10).join(sorted(top))}
{type_checking}

class {cls}({base.__name__}):
    """{"An" if slot[0] in "aeiou" else "A"} {slot} plugin. Configure it in ao.config.yaml as
    {configured}."""

{options}
{chr(10).join(methods)}'''
    if slot in NO_OWN_OPTIONS:
        given = {"model": "sonnet"} if slot == "agent" else {}
        cases = f'''from ao_tui.slots import PluginContext, interface
from {package}.plugin import {cls}


def test_it_is_a_{slot}_plugin() -> None:
    assert issubclass({cls}, interface("{slot}"))  # ao refuses a plugin that does not subclass its slot


def test_it_gets_its_options_as_a_dict(tmp_path: Path) -> None:
    plugin = {cls}(PluginContext(ao_home=tmp_path, options={json.dumps(given)}))
    assert plugin.options == {json.dumps(given)}
'''
    else:
        given = {"name": "box"} if slot == "host" else {"greeting": "hi"}
        read = "plugin.options.name == \"box\"" if slot == "host" else "plugin.options.greeting == \"hi\""
        cases = f'''import pytest

from ao_tui.errors import PluginError
from ao_tui.slots import PluginContext
from {package}.plugin import {cls}


def test_it_reads_its_options(tmp_path: Path) -> None:
    plugin = {cls}(PluginContext(ao_home=tmp_path, options={json.dumps(given)}))
    assert {read}


def test_an_unknown_option_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="greting: unknown option"):
        {cls}(PluginContext(ao_home=tmp_path, options={json.dumps({**given, "greting": "hi"})}))
'''
    test = f'''"""{cls}: what ao checks of it before it is used (fill in tests of what it does)."""

from __future__ import annotations

from pathlib import Path

{cases}'''
    pyproject = f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "The {slot} plugin {name} for ao-tui"
requires-python = ">=3.11"
dependencies = ["ao-tui"]

[project.optional-dependencies]
test = ["pytest>=8"]

# ao finds plugins by this entry point: "<slot>.<name>" = "module:Class".
[project.entry-points."ao_tui.plugins"]
"{slot}.{name}" = "{package}.plugin:{cls}"

[tool.setuptools]
packages = ["{package}"]
'''
    readme = f"""# {dist}

The `{slot}` plugin `{name}` for ao-tui.

    pip install -e .          # then `ao plugins` lists it under {slot}
    python -m pytest tests    # its tests

Use it in `ao.config.yaml`: {configured}.
"""
    return {
        "pyproject.toml": pyproject,
        "README.md": readme,
        f"{package}/__init__.py": f'"""The {slot} plugin {name} for ao-tui."""\n',
        f"{package}/plugin.py": plugin,
        "tests/test_plugin.py": test,
    }


def write(slot: str, name: str, directory: Path) -> list[Path]:
    """Write the skeleton under ``directory`` (which must not exist or be empty); each file atomically."""
    content = files(slot, name)
    if directory.exists() and any(directory.iterdir()):
        raise AoError(f"{directory}: not empty; give another --dir")
    written = []
    for rel, text in content.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        written.append(path)
    return written
