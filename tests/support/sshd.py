"""A real OpenSSH server on 127.0.0.1 for the remote-host tests.

Each ``SSHHost`` is one ``/usr/sbin/sshd -D`` on a free port with its own host key, letting in one
separate local user (``aohost``, ``aohost2``: made by scripts/setup, HOME mode 0700) with a key
the test made. The client side is the system ``ssh`` with ``-F <ssh_config>`` written here, so the
user's own ``~/.ssh`` is never read or written. sshd must run as root to log in as another user: the
fixture skips, with the reason, only where that or sshd itself is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
USERS = ("aohost", "aohost2")


def why_not() -> str | None:
    """Why the remote-host tests cannot run here, or None."""
    if not Path(SSHD).exists() or shutil.which("ssh") is None:
        return "OpenSSH server or client not installed (scripts/setup installs openssh-server)"
    if os.geteuid() != 0:
        return "sshd must run as root to log in as the separate user aohost"
    for user in USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"local user {user} missing (scripts/setup adds it)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SSHHost:
    """One running sshd and everything a client needs to reach it."""

    alias: str
    user: str
    port: int
    dir: Path
    ssh_config: Path
    #: A fresh directory in the remote user's HOME for this test (removed afterwards).
    remote_dir: str
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def target(self) -> str:
        """The ``ssh:`` value of a host entry (``user@host:port``)."""
        return f"{self.user}@127.0.0.1:{self.port}"

    def ssh_argv(self, *remote: str) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config), self.alias, *remote]

    def run(self, remote_command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Run a shell command line as the remote user (test helper: test-made text only)."""
        return subprocess.run(self.ssh_argv(remote_command), capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                                      stdout=subprocess.DEVNULL, stderr=open(self.dir / "sshd.log", "ab"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sshd did not answer within 10 s")

    def stop(self) -> None:
        """Stop the server (its established connections are left to end by themselves, like a real host's)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    def logged_in(self) -> int:
        """Connections this server has authenticated and still holds (not a probe still closing)."""
        if self._proc is None:
            return 0
        out = subprocess.run(["ps", "--ppid", str(self._proc.pid), "-o", "args="], capture_output=True, text=True)
        return sum(1 for line in out.stdout.splitlines() if f"sshd: {self.user} [priv]" in line)

    def cut(self) -> None:
        """The host stops answering: its server stopped, then every connection it held cut."""
        held = []
        if self._proc is not None:
            out = subprocess.run(["pgrep", "-P", str(self._proc.pid)], capture_output=True, text=True).stdout
            held = out.split()
        self.stop()
        for pid in held:
            subprocess.run(["kill", "-TERM", pid], capture_output=True)

    def kill_connections(self) -> None:
        """Cut every connection this server accepted (its per-connection sshd children)."""
        if self._proc is None:
            return
        out = subprocess.run(["pgrep", "-P", str(self._proc.pid)], capture_output=True, text=True).stdout
        for pid in out.split():
            subprocess.run(["kill", "-TERM", pid], capture_output=True)


def start_host(base: Path, user: str) -> SSHHost:
    """An sshd in ``base`` letting ``user`` in with a key made here."""
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    port = free_port()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "client_key")], check=True)
    authorized = base / "authorized_keys"
    authorized.write_text((base / "client_key.pub").read_text())
    os.chmod(authorized, 0o644)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    (base / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {base / 'host_key'}
PidFile {base / 'sshd.pid'}
AuthorizedKeysFile {authorized}
AllowUsers {user}
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
MaxSessions 64
MaxStartups 64:30:128
LogLevel ERROR
""")
    alias = f"{user}-test"
    host_pub = (base / "host_key.pub").read_text().split()
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    (base / "ssh_config").write_text(f"""\
Host {alias} 127.0.0.1
  HostName 127.0.0.1
  Port {port}
  User {user}
  IdentityFile {base / 'client_key'}
  IdentitiesOnly yes
  UserKnownHostsFile {base / 'known_hosts'}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
""")
    os.chmod(base / "client_key", 0o600)
    home = pwd.getpwnam(user).pw_dir
    host = SSHHost(alias=alias, user=user, port=port, dir=base, ssh_config=base / "ssh_config",
                   remote_dir=f"{home}/t-{uuid.uuid4().hex[:10]}")
    host.start()
    return host


@pytest.fixture
def ssh_hosts() -> Iterator[list[SSHHost]]:
    """Two real SSH hosts (users ``aohost`` and ``aohost2``) on 127.0.0.1; skipped only where sshd cannot run."""
    reason = why_not()
    if reason:
        pytest.skip(reason)
    # Not under pytest's tmp dir: that is 0700 root's, and sshd reads authorized_keys as the user.
    base = Path(tempfile.mkdtemp(prefix="ao-sshd-"))
    os.chmod(base, 0o755)
    hosts = [start_host(base / user, user) for user in USERS]
    try:
        yield hosts
    finally:
        for host in hosts:
            host.start()  # a test may have stopped it: clean the remote side through it
            host.run(f"tmux -S {host.remote_dir}/tmux.sock kill-server 2>/dev/null; rm -rf {host.remote_dir}")
            host.kill_connections()  # ends the masters ao opened (ControlPersist would keep them for minutes)
            host.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ssh_host(ssh_hosts: list[SSHHost]) -> SSHHost:
    """One real SSH host (user ``aohost``)."""
    return ssh_hosts[0]
