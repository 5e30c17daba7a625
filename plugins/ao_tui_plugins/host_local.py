"""The local host: this machine, always there (``hosts: [local]``)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence

from ao_tui.slots.host import Host, HostOptions, HostStatus


class LocalHost(Host):
    Options = HostOptions

    def argv(self, command: Sequence[str], *, tty: bool = False) -> list[str]:
        return list(command)

    def probe(self) -> HostStatus:
        import ao_tui

        started = time.perf_counter()
        subprocess.run(["true"], check=False)
        return HostStatus(reachable=True, latency_ms=(time.perf_counter() - started) * 1000,
                          load=os.getloadavg()[0], ao_version=ao_tui.__version__)
