"""ao on a real SSH host: installed there by the engine, started over the host's connection, running
the agent in tmux on its own socket in a worktree of the host's own clone, streaming its exit back,
and pushing the branch. The engine reads nothing of the host through the local file system."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ao_tui import __version__
from ao_tui.config import HostConfig
from ao_tui.errors import AoError
from ao_tui.host_ao import HostAo, build_id, remote_state_dir
from ao_tui.hosts import create_host
from tests.support.sshd import SSHHost, ssh_host, ssh_hosts  # noqa: F401 (fixtures)

#: A tiny agent: echoes each line it is typed, commits on "commit", exits 3 on "exit".
AGENT = r"""
import subprocess, sys
print("agent ready", sys.argv[1:], flush=True)
for line in sys.stdin:
    line = line.rstrip("\n")
    print("got: " + line, flush=True)
    open("typed.txt", "a").write(line + "\n")
    if line == "commit":
        subprocess.run(["git", "add", "typed.txt"], check=True)
        subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "typed"], check=True)
        print("committed", flush=True)
    if line == "exit":
        sys.exit(3)
"""


def _wait(predicate, timeout: float = 15):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_a_session_on_a_remote_host_end_to_end(ao_home: Path, ssh_host: SSHHost) -> None:
    host = create_host(HostConfig(name="build-1", ssh=ssh_host.target, ssh_config=str(ssh_host.ssh_config),
                                  state_dir=ssh_host.remote_dir), ao_home)
    said: list[str] = []
    hostd = HostAo.start(host, ao_home, say=said.append)
    try:
        assert said == [f"host build-1: ao not installed; installing ao {__version__} into {ssh_host.remote_dir}/venv"]
        hello = hostd.call("hello")
        assert hello["version"] == __version__ and hello["state_dir"] == ssh_host.remote_dir
        state = remote_state_dir(host)
        # The project's origin, on the host (a repository only the remote user can read).
        bare = f"{state}/origin.git"
        assert host.run(["git", "init", "-q", "--bare", "-b", "main", bare]).returncode == 0
        seed = f"{state}/seed"
        for argv in (["git", "init", "-q", "-b", "main", seed],
                     ["git", "-C", seed, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
                      "--allow-empty", "-m", "initial"],
                     ["git", "-C", seed, "push", "-q", bare, "main"]):
            assert host.run(argv).returncode == 0
        hostd.call("clone", name="app", url=bare)
        with pytest.raises(AoError, match="not a valid branch name"):
            hostd.call("worktree", name="app", session="app-1", branch="ao/$(touch /tmp/ao-pwned-b)..x")
        worktree = hostd.call("worktree", name="app", session="app-1", branch="ao/app-1")
        assert worktree == f"{state}/worktrees/app-1"
        # tmux would read a word ending in ";" as the end of its command, and the next as a tmux command.
        hostd.call("spawn", handle="app-1", cwd=worktree, argv=["python3", "-u", "-c", AGENT, "x;", "kill-server"],
                   env={"AO_SESSION_ID": "app-1"})
        _wait(lambda: "agent ready ['x;', 'kill-server']" in hostd.call("capture", handle="app-1"))
        hostile = "$(touch /tmp/ao-pwned-h); `id` 'quote' \"dq\" ~ * #"
        hostd.call("send", handle="app-1", text=hostile)
        _wait(lambda: f"got: {hostile}" in hostd.call("capture", handle="app-1"))
        assert host.run(["ls", "/tmp/ao-pwned-h"]).returncode != 0
        hostd.call("send", handle="app-1", text="commit")
        _wait(lambda: "committed" in hostd.call("capture", handle="app-1"))
        hostd.call("push", worktree=worktree, branch="ao/app-1")
        pushed = host.run(["git", "-C", bare, "log", "-1", "--format=%s", "ao/app-1"])
        assert pushed.stdout.decode().strip() == "typed"
        hostd.call("send", handle="app-1", text="exit")
        event = hostd.events.get(timeout=10)
        assert event == {"event": "exited", "handle": "app-1", "code": 3}
        status = hostd.call("status", handle="app-1")
        assert (status["alive"], status["exit_code"]) == (False, 3)
        hostd.call("kill", handle="app-1")
        assert "app-1" not in hostd.call("list")
    finally:
        hostd.close()
    # Once installed, a second start says nothing and installs nothing.
    said.clear()
    again = HostAo.start(host, ao_home, say=said.append)
    again.close()
    assert said == []
    # Another build of the same version there (a checkout changed since): installed again, and said.
    state = remote_state_dir(host)
    other = f"{__version__}+000000000000"
    assert host.run(["python3", "-c", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                     f"{state}/venv/ao-build", other]).returncode == 0
    HostAo.start(host, ao_home, say=said.append).close()
    assert said == [f"host build-1: ao {other} there, this is {build_id()}; installing ao {__version__} into "
                    f"{state}/venv"]
    out = host.run([f"{state}/venv/bin/python", "-c", "import sys; print(open(sys.argv[1]).read())",
                    f"{state}/venv/ao-build"])
    assert out.stdout.decode().strip() == build_id()
    host.close()


def test_the_hosts_files_are_not_on_this_machine(ao_home: Path, ssh_host: SSHHost) -> None:
    """CI runs as root, who could read the remote user's HOME: the host's paths must come only from it."""
    host = create_host(HostConfig(name="build-1", ssh=ssh_host.target, ssh_config=str(ssh_host.ssh_config),
                                  state_dir="~/.ao-host-probe"), ao_home)
    state = remote_state_dir(host)
    assert state == f"/home/{ssh_host.user}/.ao-host-probe"  # the host's ~, not this machine's
    assert not state.startswith(str(Path.home()))
    host.close()


@pytest.mark.slow
def test_a_host_that_stops_answering_is_unreachable_then_back_with_nothing_lost(
        ao_home: Path, ssh_host: SSHHost) -> None:
    from ao_tui.host_ao import HostLink

    host = create_host(HostConfig(name="build-1", ssh=ssh_host.target, ssh_config=str(ssh_host.ssh_config),
                                  state_dir=ssh_host.remote_dir, connect_timeout=3), ao_home)
    states: list[dict[str, object]] = []
    said: list[str] = []
    link = HostLink(host, ao_home, say=said.append, on_state=states.append, first_backoff=0.2, max_backoff=1)
    try:
        state = remote_state_dir(host)
        counter = "import sys, time\nprint('agent ready', flush=True)\nn = 0\n" \
                  "for line in sys.stdin:\n    print('got: ' + line.strip(), flush=True)\n"
        link.call("spawn", handle="app-1", cwd=state, argv=["python3", "-u", "-c", counter])
        _wait(lambda: "agent ready" in link.call("capture", handle="app-1"))
        # The host stops answering: its server stopped, the connection cut.
        ssh_host.cut()
        _wait(lambda: link.unreachable_since is not None)
        with pytest.raises(AoError, match="host build-1 unreachable since"):
            link.call("capture", handle="app-1")
        assert link.send("app-1", "typed while away") is False  # queued, not lost
        ssh_host.start()
        _wait(lambda: link.unreachable_since is None and link.hostd is not None, timeout=30)
        # State read again from the host: the agent lived on in the host's tmux all along.
        assert states[-1]["app-1"]["alive"] is True
        screen = _wait(lambda: (s := link.call("capture", handle="app-1")) and "got: typed while away" in s and s)
        assert screen.count("got: typed while away") == 1  # typed exactly once
        assert "host build-1: unreachable; reconnecting" in said and "host build-1: reachable again" in said
    finally:
        link.close()
        host.close()
