"""`ao plugins new SLOT NAME`: a plugin package that installs, is listed by `ao plugins`, and whose test passes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui import plugin_skeleton
from ao_tui.slots import SLOTS, PluginContext, interface

AO = Path(sys.executable).with_name("ao")


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:  # noqa: ANN003
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


def test_a_new_plugin_installs_is_listed_and_its_test_passes(tmp_path: Path) -> None:
    made = _run([str(AO), "plugins", "new", "notifier", "my-pager", "--dir", str(tmp_path / "pager")])
    assert made.returncode == 0, made.stderr
    assert "next: pip install -e" in made.stdout
    site = tmp_path / "site"
    installed = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                      "--target", str(site), str(tmp_path / "pager")])
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = _run([str(AO), "plugins", "-v"], env=env)
    assert "my-pager (ao_tui_notifier_my_pager.plugin)" in listed.stdout.splitlines()[5]
    tested = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], env=env,
                  cwd=tmp_path / "pager")
    assert tested.returncode == 0 and "2 passed" in tested.stdout, tested.stdout


@pytest.mark.parametrize("slot", SLOTS)
def test_every_slot_gets_a_skeleton_that_loads(tmp_path: Path, slot: str) -> None:
    plugin_skeleton.write(slot, "sample", tmp_path)
    _, package, cls_name = plugin_skeleton.names(slot, "sample")
    spec = importlib.util.spec_from_file_location(f"{package}.plugin", tmp_path / package / "plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, cls_name)
    assert issubclass(cls, interface(slot))
    plugin = cls(PluginContext(ao_home=tmp_path, options={"greeting": "hi"}))
    assert plugin.options.greeting == "hi"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    for argv, message in ((["bogus", "x"], "unknown plugin slot 'bogus'"),
                          (["notifier", "Bad Name"], "plugin name 'Bad Name'"),
                          (["notifier", "ok", "--dir", str(tmp_path / "taken")], "not empty"),
                          ([], "usage: ao plugins new SLOT NAME")):
        out = _run([str(AO), "plugins", "new", *argv])
        assert out.returncode != 0 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
