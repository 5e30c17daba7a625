"""Issue 11's figures for sessions on hosts over SSH (real sshd on 127.0.0.1, users aohost/aohost2; run as root).

``latency``: a remote state change (an agent's exit, at a wall time set in advance) to the engine
holding the event from ao on the host (``HostAo.events``), over loopback SSH. Target p50 < 100 ms,
p99 < 300 ms. Same clock on both ends (loopback).

``idle``: 3 hosts x 30 idle sessions (``sleep``) held by one engine process: the CPU this process and
its ssh clients (the hostd channels and the master connections) use over an idle window, and how
many ssh commands were started during it. Target < 2 % of a core, none.

Run: ``python bench/bench_hosts.py [latency|idle] [--runs N] [--seconds S]``. Prints JSON lines.
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
from ao_tui.host_ao import HostAo, remote_state_dir  # noqa: E402
from ao_tui.hosts import create_host  # noqa: E402
from ao_tui_plugins.host_ssh import control_dir  # noqa: E402
from tests.support.sshd import start_host, why_not  # noqa: E402

EXIT_AT = "import sys, time; time.sleep(max(0.0, float(sys.argv[1]) - time.time()))"


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError):
            pass
    return total


def _ssh_pids(home: Path, masters: bool = False) -> list[int]:
    """ssh processes of these hosts: every client (ControlPath=... on its command line) and the masters
    (titled ``ssh: <socket> [mux]``)."""
    pattern = f"{control_dir(home)}/.*\\[mux\\]" if masters else f"{control_dir(home)}/"
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="latency", choices=["latency", "idle"])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    if why_not():
        sys.exit(f"bench_hosts: {why_not()}")
    base = Path(tempfile.mkdtemp(prefix="ao-sshd-"))
    os.chmod(base, 0o755)
    home = Path(tempfile.mkdtemp(prefix="ao-bench-"))
    count = 1 if args.mode == "latency" else 3
    servers = [start_host(base / f"h{i}", ("aohost", "aohost2")[i % 2]) for i in range(count)]
    hostds: list[HostAo] = []
    try:
        for i, server in enumerate(servers):
            host = create_host(HostConfig(name=f"h{i}", ssh=server.target, ssh_config=str(server.ssh_config),
                                          state_dir=server.remote_dir), home)
            hostds.append(HostAo.start(host, home, say=lambda _m: None))
        if args.mode == "latency":
            hostd = hostds[0]
            cwd = remote_state_dir(hostd.host)
            lags = []
            for n in range(args.runs):
                at = time.time() + 0.3
                hostd.call("spawn", handle=f"b{n}", cwd=cwd, argv=["python3", "-c", EXIT_AT, repr(at)])
                event = hostd.events.get(timeout=30)
                lags.append((time.time() - at) * 1000)
                assert event["handle"] == f"b{n}", event
            lags.sort()
            print(json.dumps({"bench": "remote_exit_to_engine", "runs": args.runs,
                              "p50_ms": round(statistics.median(lags), 1),
                              "p99_ms": round(lags[max(0, int(len(lags) * 0.99) - 1)], 1),
                              "load1": round(os.getloadavg()[0], 2)}))
        else:
            for hostd in hostds:
                cwd = remote_state_dir(hostd.host)
                for n in range(30):
                    hostd.call("spawn", handle=f"idle{n}", cwd=cwd, argv=["sleep", "3600"])
            time.sleep(2)
            pids = [h.process.pid for h in hostds] + _ssh_pids(home)
            before_cpu = time.process_time() + _cpu_seconds(pids)
            before_ssh = set(_ssh_pids(home))
            time.sleep(args.seconds)
            cpu = time.process_time() + _cpu_seconds(pids) - before_cpu
            started = set(_ssh_pids(home)) - before_ssh
            print(json.dumps({"bench": "idle_3_hosts_x_30_sessions", "seconds": args.seconds,
                              "cpu_percent_of_a_core": round(100 * cpu / args.seconds, 2),
                              "ssh_commands_started": len(started), "ssh_connections": len(_ssh_pids(home, masters=True)),
                              "load1": round(os.getloadavg()[0], 2)}))
    finally:
        for hostd in hostds:
            try:
                hostd.call("list")
                subprocess.run(hostd.host.argv(["tmux", "-S", f"{remote_state_dir(hostd.host)}/tmux.sock", "kill-server"]),
                               capture_output=True, timeout=30)
            except Exception:
                pass
            hostd.close()
            hostd.host.close()
        for server in servers:
            server.run(f"rm -rf {server.remote_dir}")
            server.kill_connections()
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
