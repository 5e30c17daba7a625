"""A host reached with the system OpenSSH client over one multiplexed connection.

The first command opens a master connection (``ControlMaster=auto``) whose socket lives under
``$AO_HOME/ssh/``; every later command, and every ``ao`` process on the host, rides on it without a
new handshake, and ``ControlPersist`` keeps it open between commands. Identity, jump hosts and known
hosts come from the user's own OpenSSH configuration (or ``ssh_config``, a file of the same kind).
Remote commands are argument vectors joined by ``shlex.join`` for the remote POSIX shell: text is
always one quoted word there, never syntax.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import field_validator

from ao_tui import config
from ao_tui.slots.base import Seconds
from ao_tui.slots.host import Host, HostOptions, HostStatus

SSH_TARGET = re.compile(config.SSH_TARGET)

#: Run by the host's own python3: its load and the ao installed in its state dir, as one JSON line.
_PROBE = r"""
import json, os, subprocess, sys
state = os.path.expanduser(sys.argv[1])
py = os.path.join(state, "venv", "bin", "python")
version = None
if os.path.exists(py):
    out = subprocess.run([py, "-c", "import ao_tui; print(ao_tui.__version__)"], capture_output=True, text=True)
    version = out.stdout.strip() or None
print(json.dumps({"load": os.getloadavg()[0], "ao": version}))
"""


class SSHHostOptions(HostOptions):
    ssh: str
    #: An OpenSSH client config file read instead of ~/.ssh/config (identity, jump hosts, known hosts).
    ssh_config: str | None = None
    #: How long the master connection stays open with no command on it.
    control_persist: Seconds = 600

    @field_validator("ssh")
    @classmethod
    def _target(cls, value: str) -> str:
        if not SSH_TARGET.match(value):
            raise ValueError(f"not an SSH target: {value!r} (use user@host or user@host:port)")
        return value


def control_dir(home: Path) -> Path:
    """Where the master sockets live: ``$AO_HOME/ssh``, or a short private dir when that path is too
    long for a Unix socket (108 bytes, and ``%C`` adds 40)."""
    wanted = home / "ssh"
    if len(str(wanted)) + 41 < 100:
        return wanted
    digest = hashlib.sha1(str(home).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ao-ssh-{os.getuid()}-{digest}"


class SSHHost(Host):
    Options = SSHHostOptions

    @property
    def destination(self) -> tuple[str, str | None]:
        target, _, port = str(self.options.ssh).partition(":")
        return target, port or None

    def ssh_options(self) -> list[str]:
        """The ``ssh`` options every call shares: the config file, and the one multiplexed connection."""
        sockets = control_dir(self.context.ao_home)
        sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
        target, port = self.destination
        opts = ["-F", os.path.expanduser(self.options.ssh_config)] if self.options.ssh_config else []
        opts += ["-o", "ControlMaster=auto", "-o", f"ControlPath={sockets}/%C",
                 "-o", f"ControlPersist={int(self.options.control_persist)}",
                 "-o", f"ConnectTimeout={int(self.options.connect_timeout)}",
                 "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "BatchMode=yes"]
        if port:
            opts += ["-p", port]
        return opts

    def argv(self, command: Sequence[str], *, tty: bool = False) -> list[str]:
        target, _ = self.destination
        return ["ssh", *self.ssh_options(), "-t" if tty else "-T", "--", target, shlex.join(list(command))]

    def git_remote(self, path: str) -> tuple[str, dict[str, str]]:
        """``ssh://user@host:port/path`` and a ``GIT_SSH_COMMAND`` riding the same multiplexed connection."""
        target, port = self.destination
        options = self.ssh_options()
        if "-p" in options:
            at = options.index("-p")
            del options[at:at + 2]  # the URL says the port
        url = f"ssh://{target}{':' + port if port else ''}{path if path.startswith('/') else '/' + path}"
        return url, {"GIT_SSH_COMMAND": shlex.join(["ssh", *options])}

    def probe(self) -> HostStatus:
        try:
            first = self.run(["true"], timeout=self.options.connect_timeout + 5)  # opens the master if need be
            if first.returncode != 0:
                return HostStatus(reachable=False, error=_last_line(first.stderr))
            started = time.perf_counter()
            out = self.run(["python3", "-c", _PROBE, self.options.state_dir], timeout=30)
            latency = (time.perf_counter() - started) * 1000
        except subprocess.TimeoutExpired:
            return HostStatus(reachable=False, error="timed out")
        if out.returncode != 0:
            return HostStatus(reachable=True, latency_ms=latency, error=_last_line(out.stderr) or "python3 failed")
        facts = json.loads(out.stdout.decode().strip().splitlines()[-1])
        return HostStatus(reachable=True, latency_ms=latency, load=facts["load"], ao_version=facts["ao"])

    def close(self) -> None:
        target, _ = self.destination
        subprocess.run(["ssh", *self.ssh_options(), "-O", "exit", "--", target], capture_output=True, timeout=10)


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""
