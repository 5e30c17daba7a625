"""`ao plugins new SLOT NAME`: a plugin package that installs, is listed by `ao plugins`, and whose test passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import yaml

from ao_tui import plugin_skeleton, registry
from ao_tui.config import check_hosts, check_projects, load_config
from ao_tui.engine import Engine
from ao_tui.hosts import create_host
from ao_tui.slots import SLOTS, PluginContext

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


def test_every_slot_gets_a_skeleton_whose_own_tests_pass(tmp_path: Path) -> None:
    for slot in SLOTS:
        plugin_skeleton.write(slot, "sample", tmp_path / slot)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(tmp_path / slot) for slot in SLOTS)}
    tested = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                   *(str(tmp_path / slot / "tests") for slot in SLOTS)], env=env, cwd=tmp_path)
    assert tested.returncode == 0 and f"{2 * len(SLOTS)} passed" in tested.stdout, tested.stdout


def test_every_skeleton_configured_as_it_says_is_checked_and_made_as_ao_does(
        tmp_path: Path, ao_home: Path, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each skeleton's docstring names where it goes in ao.config.yaml; written so, the config check takes it
    and the engine makes the plugin with the options it hands over (an agent's keys, a host's entry...)."""
    found = {slot: dict(eps) for slot, eps in registry.available().items()}
    project: dict[str, object] = {"repo": str(git_repo)}
    top: dict[str, object] = {"projects": {"app": project}}
    for slot in SLOTS:
        name = f"sample-{slot}"
        plugin_skeleton.write(slot, name, tmp_path / slot)
        monkeypatch.syspath_prepend(str(tmp_path / slot))
        _, package, cls_name = plugin_skeleton.names(slot, name)
        found[slot][name] = EntryPoint(name=f"{slot}.{name}", value=f"{package}.plugin:{cls_name}",
                                       group=registry.GROUP)
        snippets = [yaml.safe_load(s) for s in re.findall(r"`([^`]*:[^`]*)`",
                                                           plugin_skeleton.CONFIGURED[slot].replace("NAME", name))]
        if slot == "host":
            top.update(snippets[0])
            project.update(snippets[1])
        else:
            project.update(snippets[0])
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    path = tmp_path / "ao.config.yaml"
    path.write_text(yaml.safe_dump(top))

    config = load_config(str(path))
    check_projects(config)
    check_hosts(config)
    engine = Engine(config)
    for slot in ("runtime", "agent", "workspace", "tracker", "scm", "terminal"):
        assert type(engine.plugin(slot, "app")).__name__ == plugin_skeleton.names(slot, f"sample-{slot}")[2]
    assert engine.plugin("agent", "app").options["permission_mode"] == "default"  # the project's agent keys
    assert [n.options.greeting for n in engine.notifiers("app")] == ["hello"]
    assert create_host(config.hosts[0], ao_home).options.name == "box"
    assert config.projects["app"].reactions["ci_failed"].action == "sample-reactions"
    registry.create("reactions", "sample-reactions", PluginContext(ao_home=ao_home))  # as the reaction runner does
    engine.store.close()


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    for argv, message in ((["bogus", "x"], "unknown plugin slot 'bogus'"),
                          (["notifier", "Bad Name"], "plugin name 'Bad Name'"),
                          (["notifier", "ok", "--dir", str(tmp_path / "taken")], "not empty"),
                          ([], "usage: ao plugins new SLOT NAME")):
        out = _run([str(AO), "plugins", "new", *argv])
        assert out.returncode != 0 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
