"""hosts: in the config, and placing a session on one."""

from __future__ import annotations

from pathlib import Path

import pytest

from ao_tui.config import parse_config
from ao_tui.errors import AoError, ConfigError
from ao_tui.hosts import place

CONFIG = """\
hosts:
  - name: build-1
    ssh: dev@build-1.example:2222
    labels: [big]
    max_sessions: 2
  - name: build-2
    ssh: dev@build-2
    labels: [big]
projects:
  app:
    repo: .
    hosts: [local, label:big]
  solo:
    repo: .
"""


def _config(text: str = CONFIG):
    return parse_config(text, "/x/ao.config.yaml", base_dir=Path("/x"))


def test_local_is_always_there_and_labels_expand_in_config_order() -> None:
    config = _config()
    assert list(config.all_hosts()) == ["local", "build-1", "build-2"]
    assert config.hosts_of(config.projects["app"]) == ["local", "build-1", "build-2"]
    assert config.hosts_of(config.projects["solo"]) == ["local"]


def test_placement_picks_the_allowed_host_with_room_and_fewest_sessions() -> None:
    config = _config()
    app = config.projects["app"]
    assert place(config, app, {}) == "local"
    assert place(config, app, {"local": 3, "build-1": 1, "build-2": 1}) == "build-1"
    assert place(config, app, {"local": 3, "build-1": 2, "build-2": 2}) == "build-2"  # build-1 is full (2/2)
    assert place(config, app, {"build-1": 0}, pinned="build-1") == "build-1"
    with pytest.raises(AoError, match="no host has room.*build-1 2/2"):
        place(config, app, {"build-1": 2}, pinned="build-1")
    with pytest.raises(AoError, match="may not run on build-1"):
        place(config, config.projects["solo"], {}, pinned="build-1")
    with pytest.raises(AoError, match="no host 'nope'"):
        place(config, app, {}, pinned="nope")


@pytest.mark.parametrize(("text", "where"), [
    (CONFIG.replace("hosts: [local, label:big]", "hosts: [build-9]"), ":12: projects.app.hosts.0: unknown host 'build-9'"),
    (CONFIG.replace("label:big]", "label:gpu]"), ":12: projects.app.hosts.1: no host has the label 'gpu'"),
    (CONFIG.replace("dev@build-2\n", "-oProxyCommand=touch@x\n"), ":6: hosts.1: not an SSH target"),
    (CONFIG.replace("    ssh: dev@build-2\n", ""), "hosts.1: host build-2: an ssh host needs ssh:"),
    (CONFIG.replace("name: build-2", "name: build-1"), ":6: hosts.1.name: host 'build-1' is named twice"),
    (CONFIG.replace("name: build-2", "name: Build 2"), "hosts.1.name: String should match pattern"),
])
def test_a_wrong_hosts_entry_is_one_line_naming_it(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(text)
    assert where in str(caught.value)
    assert "\n" not in str(caught.value)
