"""Host: the machine a session's runtime, workspace and agent run on (this one, or one reached over SSH).

Every command is an argument vector: a host that needs a shell line (ssh) quotes it by code
(``shlex.join``), so no task title, branch name or agent output is ever read by a shell as syntax.
The engine reaches a remote machine's files only through its host: never through the local file system.
"""

from __future__ import annotations

import subprocess
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from ao_tui.slots.base import Plugin, PluginOptions, Seconds


@dataclass(frozen=True)
class HostStatus:
    """What ``ao hosts`` shows of one host."""

    reachable: bool
    latency_ms: float | None = None
    load: float | None = None  # 1-minute load average
    ao_version: str | None = None  # None: ao is not installed there
    error: str = ""


class HostOptions(PluginOptions):
    """Options every host kind reads: the ``hosts:`` entry of the config (a kind has no keys of its own
    there; ``ssh`` and ``ssh_config`` reach only a kind that declares them, as the ssh kind does)."""

    name: str
    max_sessions: int = 10
    labels: list[str] = []
    #: Where ao keeps its state on that host (its clone, worktrees, tmux socket); ``~`` is the remote HOME.
    state_dir: str = "~/.ao-host"
    #: How long reaching the host may take (every entry but ``local`` carries it).
    connect_timeout: Seconds = 10


class Host(Plugin):
    slot = "host"

    @property
    def host_name(self) -> str:
        return str(self.options.name)

    @abstractmethod
    def argv(self, command: Sequence[str], *, tty: bool = False) -> list[str]:
        """The local argument vector that runs ``command`` (an argument vector) on the host."""

    def run(self, command: Sequence[str], *, input: bytes | None = None, timeout: float = 30
            ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` on the host and wait for it (its exit status, stdout and stderr)."""
        return subprocess.run(self.argv(command), input=input, capture_output=True, timeout=timeout)

    def start(self, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start a long-lived ``command`` on the host, talking over its stdin and stdout (``ao`` on the host)."""
        return subprocess.Popen(self.argv(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def git_remote(self, path: str) -> tuple[str, dict[str, str]]:
        """A git URL for the repository at ``path`` on the host, and the environment git needs to reach it
        (for fetching a session's branch from there)."""
        return path, {}

    @abstractmethod
    def probe(self) -> HostStatus:
        """Reachable? How long one command takes, the load, which ao is installed."""

    def close(self) -> None:
        """Let go of any connection kept open. Idempotent."""
