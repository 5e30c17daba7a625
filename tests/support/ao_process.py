"""The ``ao`` command as a user runs it, in processes of its own: one-shot commands and ``ao run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until


def ao(config: Path, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``ao`` command to its end (the environment, AO_HOME included, is this process's)."""
    out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), *args],
                         capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    if check:
        assert out.returncode == 0, f"ao {' '.join(args)}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out


def ls_json(config: Path) -> dict[str, dict[str, Any]]:
    """``ao ls --json``, by session id."""
    return {row["id"]: row for row in json.loads(ao(config, "ls", "--json").stdout)}


class AoRun:
    """``ao run`` in its own process; its output goes to ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, leading: bool = True) -> AoRun:
        """Start it; wait until it leads (``leading``) or says it follows another."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "--config", str(self.config), "run"],
                                         stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        said = "ao engine running" if leading else "another engine is running"
        wait_until(lambda: said in self.text(), timeout=30, message=self.text)
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def leads(self) -> bool:
        return "ao engine running" in self.text()

    def kill9(self) -> float:
        """``kill -9`` it; returns when (monotonic) it was gone."""
        assert self.proc is not None and self.proc.poll() is None, self.text()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        return time.monotonic()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
