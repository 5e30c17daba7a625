"""The test SSH hosts are real: another user, another HOME, reached only through ssh."""

from __future__ import annotations

import os

from tests.support.sshd import SSHHost, ssh_host, ssh_hosts  # noqa: F401 (fixtures)


def test_logs_in_as_the_separate_user_with_its_own_home(ssh_hosts: list[SSHHost]) -> None:
    for host in ssh_hosts:
        out = host.run("id -un; echo $HOME; stat -c %a $HOME")
        assert out.returncode == 0, out.stderr
        user, home, mode = out.stdout.split()
        assert user == host.user and home == f"/home/{host.user}" and mode == "700"
    assert ssh_hosts[0].port != ssh_hosts[1].port


def test_stopped_host_refuses_and_comes_back(ssh_host: SSHHost) -> None:
    ssh_host.stop()
    assert ssh_host.run("true", timeout=10).returncode == 255
    ssh_host.start()
    assert ssh_host.run("true").returncode == 0


def test_the_users_own_ssh_config_is_not_touched(ssh_host: SSHHost) -> None:
    before = sorted(os.listdir(os.path.expanduser("~/.ssh"))) if os.path.isdir(os.path.expanduser("~/.ssh")) else None
    assert ssh_host.run("true").returncode == 0
    after = sorted(os.listdir(os.path.expanduser("~/.ssh"))) if os.path.isdir(os.path.expanduser("~/.ssh")) else None
    assert before == after
