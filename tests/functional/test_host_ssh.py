"""The ssh host kind against a real OpenSSH server: one multiplexed connection, argv quoted by code,
``ao hosts`` showing what a user needs, and an unreachable host said so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.config import HostConfig
from ao_tui.hosts import create_host
from ao_tui_plugins.host_ssh import SSHHost as SSHHostPlugin
from ao_tui_plugins.host_ssh import control_dir
from tests.support.sshd import SSHHost, ssh_host, ssh_hosts  # noqa: F401 (fixtures)

HOSTILE = [
    "$(touch /tmp/ao-pwned-1)",
    "`touch /tmp/ao-pwned-2`; touch /tmp/ao-pwned-3",
    "'; touch /tmp/ao-pwned-4; echo '",
    "fix: \"quotes\" & pipes | > /tmp/ao-pwned-5 \\ back\\slash ~ * ? [a] {b,c} #hash",
    "-oProxyCommand=touch /tmp/ao-pwned-6",
    "line\nbreak\ttab $HOME ${PATH} !event",
    "ünïcødé 🚀 emoji",
]


def _host(ao_home: Path, ssh_host: SSHHost, **extra: object) -> SSHHostPlugin:
    config = HostConfig(name="build-1", ssh=ssh_host.target, ssh_config=str(ssh_host.ssh_config),
                        state_dir=ssh_host.remote_dir, **extra)
    host = create_host(config, ao_home)
    assert isinstance(host, SSHHostPlugin)
    return host


def test_hostile_text_arrives_as_one_word_and_runs_nothing(ao_home: Path, ssh_host: SSHHost) -> None:
    host = _host(ao_home, ssh_host)
    try:
        out = host.run(["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *HOSTILE])
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == HOSTILE
        # A branch name with shell syntax, given as git's argument: git refuses it, nothing runs.
        host.run(["git", "check-ref-format", "--branch", "ao/$(touch /tmp/ao-pwned-7)"])
        seen = ssh_host.run("ls /tmp/ao-pwned-* 2>/dev/null; true").stdout
        assert seen == "" and not list(Path("/tmp").glob("ao-pwned-*"))
    finally:
        host.close()


def test_every_command_rides_one_master_connection(ao_home: Path, ssh_host: SSHHost) -> None:
    host = _host(ao_home, ssh_host)
    try:
        for _ in range(5):
            assert host.run(["true"]).returncode == 0
        sockets = list(control_dir(ao_home).iterdir())
        assert len(sockets) == 1 and sockets[0].is_socket()
        target, _ = host.destination
        check = subprocess.run(["ssh", *host.ssh_options(), "-O", "check", "--", target],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr  # "Master running"
        assert ssh_host.logged_in() == 1  # the server holds one connection
    finally:
        host.close()
    assert not list(control_dir(ao_home).iterdir())


def _ao_hosts(ao_home: Path, config: Path) -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "hosts", "--json"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "AO_HOME": str(ao_home)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_ao_hosts_lists_local_and_each_host_then_an_unreachable_one(
        ao_home: Path, ssh_hosts: list[SSHHost], tmp_path: Path, git_repo: Path) -> None:
    one, two = ssh_hosts
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"""\
hosts:
  - name: build-1
    ssh: {one.target}
    ssh_config: {one.ssh_config}
    state_dir: {one.remote_dir}
    labels: [big]
  - name: build-2
    ssh: {two.target}
    ssh_config: {two.ssh_config}
    state_dir: {two.remote_dir}
    max_sessions: 3
projects:
  app:
    repo: {git_repo}
    hosts: [local, label:big, build-2]
""")
    rows = {r["name"]: r for r in _ao_hosts(ao_home, config)}
    assert list(rows) == ["local", "build-1", "build-2"]
    assert rows["local"]["reachable"] and rows["local"]["ao_version"] == "0.1.0"
    for name in ("build-1", "build-2"):
        assert rows[name]["reachable"], rows[name]["error"]
        assert rows[name]["ao_version"] is None  # not installed there yet
        assert rows[name]["latency_ms"] > 0 and rows[name]["load"] is not None
    assert rows["build-2"]["max_sessions"] == 3
    two.stop()
    subprocess.run(["ssh", "-F", str(two.ssh_config), "-o", f"ControlPath={control_dir(ao_home)}/%C",
                    "-O", "exit", two.alias], capture_output=True)  # its master would outlive the server
    rows = {r["name"]: r for r in _ao_hosts(ao_home, config)}
    assert rows["build-1"]["reachable"] and not rows["build-2"]["reachable"]
    assert "refused" in rows["build-2"]["error"]
    text = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "hosts"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "AO_HOME": str(ao_home)}).stdout
    assert "build-2" in text and "unreachable" in text and "not installed" in text


@pytest.mark.parametrize("target", ["-oProxyCommand=x", "user@host;rm", "a b"])
def test_a_target_ssh_could_read_as_an_option_is_refused(ao_home: Path, target: str) -> None:
    from ao_tui.errors import PluginError

    with pytest.raises(PluginError, match="not an SSH target"):
        create_host(HostConfig.model_construct(name="x", kind="ssh", ssh=target, ssh_config=None, max_sessions=1,
                                               labels=[], state_dir="~/.ao-host"), ao_home)


def test_doctor_says_which_host_answers_and_how_to_fix_one_that_does_not(
        ao_home: Path, ssh_hosts: list[SSHHost], tmp_path: Path, git_repo: Path) -> None:
    from ao_tui.doctor import gather, run_checks
    from ao_tui.doctor import hosts as hosts_check

    one, two = ssh_hosts
    config = tmp_path / "ao.config.yaml"
    config.write_text(f"""\
hosts:
  - {{name: build-1, ssh: "{one.target}", ssh_config: "{one.ssh_config}", state_dir: "{one.remote_dir}"}}
  - {{name: build-2, ssh: "{two.target}", ssh_config: "{two.ssh_config}", state_dir: "{two.remote_dir}"}}
projects:
  app: {{repo: "{git_repo}"}}
""")
    two.stop()
    results = run_checks(gather(str(config)), [hosts_check])
    lines = [r.line() for r in results]
    assert lines[0].startswith("ok   host build-1: reachable (") and "ao installed there on first use" in lines[0]
    assert lines[1].startswith("fail host build-2: aohost2@127.0.0.1:") and "refused" in lines[1]
    assert "BatchMode=yes" in lines[1]
