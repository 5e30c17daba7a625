"""Config: found where the user expects, and wrong input named to the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_tui.config import find_config, load_config, parse_config
from ao_tui.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid_and_documents_every_project_key():
    config = parse_config((ROOT / "ao.config.yaml.example").read_text(), "ao.config.yaml.example")
    project = config.projects["myapp"]
    assert project.scm.options["ci"] == ["pytest -q"]
    text = (ROOT / "ao.config.yaml.example").read_text()
    from ao_tui.config import AgentOptions, ProjectConfig

    for key in [*ProjectConfig.model_fields, *AgentOptions.model_fields]:
        assert f"{key}:" in text, f"example does not document {key}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("projects:\n  app:\n    repo: /tmp\n    colour: red\n", "ao.config.yaml:4: projects.app.colour: unknown key"),
        (
            "projects:\n  app:\n    repo: /tmp\n    reactions:\n      ci_failed: {action: notify, retries: -1}\n",
            "ao.config.yaml:5: projects.app.reactions.ci_failed.retries:",
        ),
        ("projects:\n  app:\n    repo: /tmp\n    reactions:\n      ci_exploded: {action: notify}\n",
         "ao.config.yaml:4: projects.app.reactions: unknown event 'ci_exploded'"),
        ("projects: [\n", "ao.config.yaml:2: invalid YAML"),
        ("projects:\n  app:\n    default_branch: main\n", "ao.config.yaml:2: projects.app.repo: required key is missing"),
        ("projects:\n  app:\n    repo: /tmp\n    default_branch: '../../etc'\n", "ao.config.yaml:4: projects.app.default_branch: invalid branch name"),
        ("projects:\n  app:\n    repo: /tmp\n    runtime: 5\n",
         "ao.config.yaml:4: projects.app.runtime: expected a plugin name, or a mapping with a `plugin` key"),
        ("projects:\n  app:\n    repo: /tmp\n    stuck_after: soon\n", "ao.config.yaml:4: projects.app.stuck_after: not a duration"),
    ],
)
def test_bad_config_is_one_line_with_file_line_and_field(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(text, "ao.config.yaml")
    message = str(info.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_lookup_order(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "ao.config.yaml").write_text("projects: {}\n")
    monkeypatch.delenv("AO_CONFIG", raising=False)
    monkeypatch.setenv("AO_HOME", str(tmp_path / "home"))
    assert find_config(cwd=tmp_path / "a" / "b") == tmp_path / "ao.config.yaml"
    other = tmp_path / "other.yaml"
    other.write_text("projects: {}\n")
    monkeypatch.setenv("AO_CONFIG", str(other))
    assert find_config(cwd=tmp_path / "a") == other
    assert find_config(explicit=str(tmp_path / "ao.config.yaml")) == tmp_path / "ao.config.yaml"
    with pytest.raises(ConfigError, match="no such config file"):
        find_config(explicit=str(tmp_path / "missing.yaml"))


def test_relative_repo_is_resolved_against_the_config_file(tmp_path):
    path = tmp_path / "ao.config.yaml"
    path.write_text("projects:\n  app:\n    repo: ./code\n")
    config = load_config(str(path))
    assert config.projects["app"].repo == (tmp_path / "code").resolve()


DEFAULTS = """\
defaults:
  agent:
    model: opus
    permission_mode: acceptEdits
  scm:
    plugin: local
    ci: [pytest -q]
  max_sessions: 4
  reactions:
    ci_failed: {action: send_to_agent, retries: 5}
projects:
  api:
    repo: /tmp
    agent:
      rules: Use tabs.
  web:
    repo: /tmp
    max_sessions: 8
    scm: {timeout: 60}
    reactions:
      approved_and_green: {action: merge}
  docs:
    repo: /tmp
    scm: github
"""


def test_defaults_apply_to_every_project_and_a_projects_own_keys_win():
    config = parse_config(DEFAULTS)
    api, web, docs = (config.projects[name] for name in ("api", "web", "docs"))
    assert (api.agent.model, api.agent.permission_mode, api.agent.rules) == ("opus", "acceptEdits", "Use tabs.")
    assert (api.max_sessions, web.max_sessions) == (4, 8)
    assert web.scm.plugin == "local" and web.scm.options == {"ci": ["pytest -q"], "timeout": 60}
    assert docs.scm.plugin == "github" and docs.scm.options == {}, "another plugin takes none of the default's options"
    assert web.reactions["ci_failed"].retries == 5 and web.reactions["approved_and_green"].action == "merge"
    assert api.reactions["agent_stuck"].action == "notify", "built-in reactions stay"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("defaults:\n  agent:\n    modle: opus\nprojects: {}\n", "ao.config.yaml:3: defaults.agent.modle: unknown key"),
        ("defaults:\n  repo: /tmp\n", "ao.config.yaml:2: defaults.repo: each project names its own repository"),
        ("defaults: [1]\n", "ao.config.yaml:1: defaults: expected a mapping of project settings"),
    ],
)
def test_mistakes_in_defaults_are_named_where_they_are(text: str, expected: str):
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert str(err.value).startswith(expected)


def test_the_schema_offers_defaults_and_hides_internals():
    from ao_tui.config import json_schema

    properties = json_schema()["properties"]
    assert "defaults" in properties and "path" not in properties
