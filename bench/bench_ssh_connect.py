"""Issue 11: why the ssh host kind keeps one multiplexed OpenSSH connection per host.

Against a real sshd on 127.0.0.1 (tests/support/sshd.py: run as root, user aohost), times
``new``: a command over a fresh connection (TCP + key exchange + auth + the command), against
``multiplexed``: the same command over the host's open master connection (``ControlMaster``),
which is what every ao command to a host costs once the engine holds the connection.

Run: ``python bench/bench_ssh_connect.py [--runs N]``. Prints JSON lines (ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ao_tui.config import HostConfig  # noqa: E402
from ao_tui.hosts import create_host  # noqa: E402
from tests.support.sshd import USERS, start_host, why_not  # noqa: E402


def _ms(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"p50_ms": round(statistics.median(values), 1), "p99_ms": round(values[int(len(values) * 0.99) - 1], 1),
            "min_ms": round(values[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    if why_not():
        sys.exit(f"bench_ssh_connect: {why_not()}")
    base = Path(tempfile.mkdtemp(prefix="ao-sshd-"))
    os.chmod(base, 0o755)
    home = Path(tempfile.mkdtemp(prefix="ao-bench-"))
    server = start_host(base / USERS[0], USERS[0])
    try:
        fresh = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(server.ssh_argv("true"), check=True, capture_output=True)
            fresh.append((time.perf_counter() - started) * 1000)
        host = create_host(HostConfig(name="b", ssh=server.target, ssh_config=str(server.ssh_config)), home)
        host.run(["true"])  # opens the master
        muxed = []
        for _ in range(args.runs):
            started = time.perf_counter()
            host.run(["true"])
            muxed.append((time.perf_counter() - started) * 1000)
        host.close()
        load = os.getloadavg()[0]
        print(json.dumps({"bench": "ssh_new_connection", "runs": args.runs, **_ms(fresh), "load1": round(load, 2)}))
        print(json.dumps({"bench": "ssh_multiplexed_command", "runs": args.runs, **_ms(muxed), "load1": round(load, 2)}))
    finally:
        server.kill_connections()
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
