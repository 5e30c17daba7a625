"""Plugin options are typed: a misspelt or mistyped option in ao.config.yaml is one line naming
file, line and key (with the closest valid name), from `ao config check` and every command that
checks the config; `ao config schema` describes each installed plugin's options."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from ao_tui import registry
from ao_tui.cli import main
from ao_tui.errors import PluginError
from ao_tui.slots.agent import Agent
from ao_tui.slots.base import PluginContext
from ao_tui.slots.runtime import Runtime
from ao_tui.slots.scm import SCM

ROOT = Path(__file__).resolve().parents[2]


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], project_yaml: str, top: str = "") -> tuple[int, str]:
    """``ao config check`` on a config whose project ``app`` has ``project_yaml`` (indented 4)."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True, exist_ok=True)
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"{top}projects:\n  app:\n    repo: {repo}\n{project_yaml}")
    code = main(["--config", str(config), "config", "check"])
    out = capsys.readouterr()
    return code, (out.err or out.out).strip().replace(str(config), "ao.config.yaml")


@pytest.mark.parametrize(("project_yaml", "expected"), [
    ("    scm: {plugin: local, pol_interval: 3s}\n",
     "ao.config.yaml:4: projects.app.scm.pol_interval: unknown option (did you mean poll_interval?)"),
    ("    scm:\n      plugin: local\n      ci: [pytest]\n      poll_interval: fast\n",
     "ao.config.yaml:7: projects.app.scm.poll_interval: not a duration: 'fast' (use e.g. 90s, 30m, 2h)"),
    ("    scm:\n      plugin: github\n      merge_method: fast-forward\n",
     "ao.config.yaml:6: projects.app.scm.merge_method: Input should be 'merge', 'squash' or 'rebase'"),
    ("    workspace:\n      plugin: worktree\n      setup: make\n      setup_timout: 60\n",
     "ao.config.yaml:7: projects.app.workspace.setup_timout: unknown option (did you mean setup_timeout?)"),
    ("    tracker: {plugin: linear}\n",
     "ao.config.yaml:4: projects.app.tracker.team: required option is missing"),
    ("    tracker: {plugin: linear, team: ENG, state_types: [started]}\n",
     "ao.config.yaml:4: projects.app.tracker.state_types: takes triage, backlog, unstarted"),
    ("    notifiers:\n      - terminal\n      - {plugin: webhook, url_env: HOOK, format: xml}\n",
     "ao.config.yaml:6: projects.app.notifiers.1.format: Input should be 'json' or 'slack'"),
    ("    runtime: {plugin: tmux, socket: mine}\n",
     "ao.config.yaml:4: projects.app.runtime.socket: unknown option (known: none)"),
    ("    tracker: {plugin: github, repo: acme/app, colour: red}\n",
     "ao.config.yaml:4: projects.app.tracker.colour: unknown option (known: base_url, in_progress_label, label, repo, "
     "seconds_between_writes, timeout)"),
])
def test_a_mistaken_plugin_option_is_one_line_naming_file_line_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], project_yaml: str, expected: str) -> None:
    code, said = check(tmp_path, capsys, project_yaml)
    assert code == 2
    assert said.startswith(f"ao: {expected}"), said
    assert "\n" not in said


def test_an_option_inherited_from_defaults_is_blamed_on_the_defaults_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    top = "defaults:\n  scm:\n    plugin: local\n    ci_timout: 60\n"
    code, said = check(tmp_path, capsys, "    max_sessions: 3\n", top=top)
    assert code == 2
    assert said == "ao: ao.config.yaml:4: defaults.scm.ci_timout: unknown option (did you mean ci_timeout?)"


def test_good_options_pass_and_reach_the_plugin_typed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = check(tmp_path, capsys, "    scm: {plugin: local, poll_interval: 2s, ci_timeout: 5m, ci: [pytest]}\n"
                                          "    notifiers: [{plugin: terminal, bell: false}]\n")
    assert (code, said) == (0, "ao.config.yaml: ok (1 project(s))")
    scm = registry.create("scm", "local", PluginContext(ao_home=tmp_path), poll_interval="2s", ci_timeout="5m")
    assert scm.options.poll_interval == 2.0 and scm.options.ci_timeout == 300.0 and scm.ci.ci_timeout == 300.0


def test_creating_a_plugin_with_a_bad_option_is_a_one_line_plugin_error(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"^notifier webhook: formt: unknown option \(did you mean format\?\)$"):
        registry.create("notifier", "webhook", PluginContext(ao_home=tmp_path), formt="slack")


def test_the_schema_lists_every_installed_plugins_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    defs = schema["$defs"]
    scm = defs["ProjectConfig"]["properties"]["scm"]
    assert {"type": "string", "enum": ["github", "local"]} in scm["anyOf"]
    assert {"$ref": "#/$defs/scm.local"} in scm["anyOf"]
    assert {"poll_interval", "ci", "ci_timeout", "ci_pass_env"} <= set(defs["scm.local"]["properties"])
    assert defs["scm.local"]["additionalProperties"] is False
    assert defs["tracker.linear"]["required"] == ["plugin", "team"]
    notifiers = defs["ProjectConfig"]["properties"]["notifiers"]["items"]
    assert {"$ref": "#/$defs/notifier.webhook"} in notifiers["anyOf"]
    assert {"claude-code", "aider", "codex"} <= set(defs["AgentOptions"]["properties"]["plugin"]["enum"])
    for slot, plugins in registry.available().items():
        if slot in ("agent", "reactions", "host"):
            continue  # agent options are the config's `agent:` section; reactions take the event's settings;
            # a host's are its `hosts:` entry (HostConfig)
        for name in plugins:
            assert f"{slot}.{name}" in defs, f"{slot}.{name} has no schema"


def test_the_example_config_documents_every_builtin_plugin_option() -> None:
    text = (ROOT / "ao.config.yaml.example").read_text()
    for slot in ("runtime", "workspace", "tracker", "scm", "notifier"):
        for name in registry.available()[slot]:
            model = registry.load(slot, name).Options
            for option in model.model_fields if model else ():
                assert f"{option}:" in text, f"ao.config.yaml.example does not document {slot} {name}: {option}"


# -- third-party plugins ------------------------------------------------------------------------


class LooseSCM(SCM):
    """A third-party SCM that declares no Options: it gets its options as a dict."""

    def open_pr(self, *args: Any) -> Any: ...
    def pr_status(self, *args: Any) -> Any: ...
    def approve(self, *args: Any) -> None: ...
    def request_changes(self, *args: Any) -> None: ...
    def merge(self, *args: Any) -> Any: ...


class NotAnSCM:
    def __init__(self, context: PluginContext) -> None: ...


@pytest.fixture
def third_party(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {slot: dict(eps) for slot, eps in registry.available().items()}
    for name, cls in (("loose", "LooseSCM"), ("stray", "NotAnSCM")):
        found["scm"][name] = EntryPoint(name=f"scm.{name}", value=f"{__name__}:{cls}", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: found)


def test_a_plugin_without_an_options_model_still_gets_its_options_as_a_dict(
        third_party: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = check(tmp_path, capsys, "    scm: {plugin: loose, anything: [1, 2], poll_interval: 5s}\n")
    assert (code, said) == (0, "ao.config.yaml: ok (1 project(s))")
    scm = registry.create("scm", "loose", PluginContext(ao_home=tmp_path, options={"anything": [1, 2]}))
    assert scm.options == {"anything": [1, 2]}
    scm.add_listener(lambda branch, sha: None)  # the slot's defaults stand in for what it does not offer
    scm.close()


def test_a_plugin_that_does_not_subclass_its_slot_is_refused_in_one_line(
        third_party: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PluginError) as caught:
        registry.load("scm", "stray")
    assert str(caught.value) == (f"scm plugin 'stray' ({__name__}:NotAnSCM) does not subclass ao_tui.slots.scm.SCM")
    code, said = check(tmp_path, capsys, "    scm: stray\n")
    assert code == 2 and said.startswith("ao: ao.config.yaml:4: projects.app.scm: scm plugin 'stray'")


def test_optional_capabilities_have_defaults_on_the_slot() -> None:
    assert Agent.has_hooks is False and Agent.has_transcript is False
    assert registry.load("agent", "claude-code").has_hooks is True
    assert Runtime.human_clients(None, "any") == []  # type: ignore[arg-type]


_PLUGIN_NAMES = {"agent", "agent_plugin", "runtime", "workspace", "tracker", "scm", "notifier", "terminal",
                 "reaction", "action", "host", "plugin"}


def test_the_core_never_asks_a_plugin_by_name_what_it_offers() -> None:
    """A capability is an attribute or method with a default on the slot's class (read directly, checked by
    mypy), never ``getattr(plugin, "name", default)``: a name the slot does not declare would be silently off."""
    import ast

    root = Path(__file__).resolve().parents[2] / "ao_tui"
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.is_relative_to(root / "tui"):  # the TUI never holds a plugin (import-linter)
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                    and node.args and isinstance(node.args[0], (ast.Name, ast.Attribute))):
                target = node.args[0].id if isinstance(node.args[0], ast.Name) else node.args[0].attr
                if target.lstrip("_") in _PLUGIN_NAMES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "declare these on the slot's class and read them directly:\n" + "\n".join(found)


def test_a_config_of_comments_only_is_checked_not_crashed_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ao.config.yaml"
    config.write_text("# projects come later\n")
    assert main(["--config", str(config), "config", "check"]) == 0
    assert capsys.readouterr().out.strip() == f"{config}: ok (0 project(s))"
