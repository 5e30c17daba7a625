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
        ("projects:\n  app:\n    repo: /tmp\n    scm: {plugin: local, poll_interval: fast}\n",
         "ao.config.yaml:4: projects.app.scm: not a duration: 'fast'"),
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
