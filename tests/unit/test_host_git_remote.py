"""Fetching a session's branch from its host: git's own ssh transport, riding ao's one connection."""

from __future__ import annotations

import shlex
from pathlib import Path

from ao_tui.config import HostConfig
from ao_tui.hosts import create_host


def test_an_ssh_host_gives_git_an_ssh_url_and_the_multiplexed_connection(ao_home: Path) -> None:
    host = create_host(HostConfig(name="build-1", ssh="dev@build-1.lan:2222", ssh_config="/etc/ao/ssh_config"),
                       ao_home)
    url, env = host.git_remote("/home/dev/.ao-host/repos/app")
    assert url == "ssh://dev@build-1.lan:2222/home/dev/.ao-host/repos/app"
    ssh = shlex.split(env["GIT_SSH_COMMAND"])
    assert ssh[:3] == ["ssh", "-F", "/etc/ao/ssh_config"] and "ControlMaster=auto" in ssh and "BatchMode=yes" in ssh
    assert "-p" not in ssh  # the URL names the port
    local = create_host(HostConfig(name="local", kind="local"), ao_home)
    assert local.git_remote("/srv/repo") == ("/srv/repo", {})
