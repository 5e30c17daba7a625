"""Issue 11's figures for a session on an SSH host, end to end (real sshd on 127.0.0.1, user aohost; root).

``room``: a remote agent's state change to the control room. The agent (a stand-in taking Claude Code's
flags and running the hooks ``--settings`` gives it, as Claude Code does) fires UserPromptSubmit and, 0.5 s
later, Stop for each message; each hook line carries its wall time (``at``). The figure is from that time
to the engine's listener (what ao-tui's rows subscribe to, ``Engine.subscribe``) seeing the session's
activity turn working, then idle, with source ``hook``: the host's hook, ao there streaming the line,
this machine's copy of the events file, the activity monitor, the store. Same clock on both ends.

``first-turn``: spawn to the first finished turn (the Stop hook) of the real Claude Code, on the host
and locally, against the scripted Anthropic server on 127.0.0.1, and their ratio (one run each).

Run: ``python bench/bench_remote_sessions.py [room|first-turn] [--runs N]``. Prints JSON lines.
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
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.sshd import start_host, why_not  # noqa: E402

AGENT = r"""
import json, subprocess, sys, time
args = sys.argv[1:]
hooks = json.loads(args[args.index("--settings") + 1])["hooks"] if "--settings" in args else {}
def hook(event, **payload):
    for group in hooks.get(event, []):
        for h in group["hooks"]:
            subprocess.run(h["command"], shell=True, input=json.dumps({"hook_event_name": event, **payload}),
                           text=True)
box = "\u2500" * 30
def prompt():
    print(box + "\n\u276f \n" + box, flush=True)
hook("SessionStart", source="startup")
prompt()
for line in sys.stdin:
    hook("UserPromptSubmit", prompt=line.rstrip("\n"))
    time.sleep(0.5)
    hook("Stop")
    prompt()
"""


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))], 1)


def _wait(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError("timed out")


def room(server, home: Path, work: Path, runs: int) -> None:  # type: ignore[no-untyped-def]
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.models import ActivityState
    from ao_tui.orchestrator.loop_hooks import leader_loop
    from ao_tui.remote import RemoteHosts

    origin = f"{server.remote_dir}/origin.git"
    seed = f"{server.remote_dir}/seed"
    server.run(f"mkdir -p {server.remote_dir} && git init -q --bare -b main {origin} && git init -q -b main {seed}"
               f" && git -C {seed} -c user.name=a -c user.email=a@b commit -q --allow-empty -m i"
               f" && git -C {seed} push -q {origin} main")
    repo = work / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", origin], check=True)
    config = work / "ao.config.yaml"
    config.write_text(json.dumps({
        "hosts": [{"name": "h0", "ssh": server.target, "ssh_config": str(server.ssh_config),
                   "state_dir": server.remote_dir}],
        "projects": {"app": {"repo": str(repo), "session_prefix": "app", "notifiers": [], "hosts": ["h0"],
                             "agent": {"command": ["python3", "-u", "-c", AGENT]}}}}))
    engine = Engine(load_config(str(config)))
    seen: list[tuple[float, ActivityState, str]] = []
    lock = threading.Lock()

    def heard(session) -> None:  # type: ignore[no-untyped-def]
        with lock:
            seen.append((time.time(), session.activity.state, session.activity.source))

    engine.subscribe(heard)
    assert engine.start(leader_loop)
    try:
        sid = engine.spawn("app", prompt="bench", host="h0").id
        mirror = RemoteHosts.mirror_path(sid)
        _wait(lambda: engine.session(sid).activity.source == "hook"
              and engine.session(sid).activity.state is ActivityState.IDLE)
        working, idle = [], []
        for n in range(runs):
            engine.send(sid, f"message {n}")
            records = _wait(lambda n=n: [r for r in map(json.loads, mirror.read_text().splitlines())
                                         if r.get("prompt") == f"message {n}"])
            submitted = records[0]["at"]
            stop = _wait(lambda s=submitted: [r for r in map(json.loads, mirror.read_text().splitlines())
                                              if r["event"] == "Stop" and r["at"] > s])[0]["at"]

            def first(state: ActivityState, after: float) -> float | None:
                with lock:
                    return next((t for t, st, src in seen if t >= after and st is state and src == "hook"), None)

            working.append((_wait(lambda s=submitted: first(ActivityState.WORKING, s)) - submitted) * 1000)
            idle.append((_wait(lambda s=stop: first(ActivityState.IDLE, s)) - stop) * 1000)
        both = working + idle
        print(json.dumps({"bench": "remote_hook_state_change_to_control_room", "changes": len(both),
                          "p50_ms": round(statistics.median(both), 1), "p99_ms": _pct(both, 0.99),
                          "working_p50_ms": round(statistics.median(working), 1),
                          "idle_p50_ms": round(statistics.median(idle), 1), "load1": round(os.getloadavg()[0], 2)}))
        engine.kill(sid)
    finally:
        engine.stop()


def first_turn(server, home: Path, work: Path) -> None:  # type: ignore[no-untyped-def]
    """Spawn to the first finished turn (its Stop hook's wall time), remote and local, real Claude Code."""
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.orchestrator.loop_hooks import leader_loop
    from ao_tui.remote import RemoteHosts
    from tests.conftest import claude_bin
    from tests.support.anthropic_server import AnthropicServer, Script, text
    from tests.support.claude_env import TEST_API_KEY, claude_env, write_claude_home

    claude = claude_bin()
    if claude is None:
        sys.exit("bench_remote_sessions: Claude Code is not installed (scripts/setup --tests)")
    if subprocess.run(server.ssh_argv(claude, "--version"), capture_output=True).returncode != 0:
        sys.exit(f"bench_remote_sessions: the host user cannot run {claude}")
    origin = f"{server.remote_dir}/origin.git"
    seed = f"{server.remote_dir}/seed"
    server.run(f"mkdir -p {server.remote_dir} && git init -q --bare -b main {origin} && git init -q -b main {seed}"
               f" && git -C {seed} -c user.name=a -c user.email=a@b commit -q --allow-empty -m i"
               f" && git -C {seed} push -q {origin} main")
    repo = work / "app"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q",
                    "--allow-empty", "-m", "i"], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", origin], check=True)
    with AnthropicServer(Script().always(text("Done."))) as api:
        local_home, remote_home = work / "claude-home", f"{server.remote_dir}/home"
        env = claude_env(local_home, [], api.url, inherit=False)
        os.environ["ANTHROPIC_API_KEY"] = TEST_API_KEY  # from ao's environment, to either host in memory
        local_env = {k: v for k, v in env.items() if k != "ANTHROPIC_API_KEY"}
        # The host's Claude Code home, made there as a user would have it (onboarded, the key approved,
        # ao's worktree trusted): written here, copied over the host's connection.
        staged = work / "remote-home"
        write_claude_home(staged, [f"{server.remote_dir}/worktrees/rem-1", f"{server.remote_dir}/repos/rem"])
        tar = subprocess.Popen(["tar", "-C", str(staged), "-cf", "-", "."], stdout=subprocess.PIPE)
        subprocess.run(server.ssh_argv(f"mkdir -p {remote_home} && tar -C {remote_home} -xf -"), stdin=tar.stdout,
                       check=True)
        tar.wait()
        remote_env = {**local_env, "HOME": remote_home,
                      **{k: f"{remote_home}/{v.split('/claude-home/', 1)[1]}" for k, v in local_env.items()
                         if k.startswith("XDG_")}}
        agent = {"command": [claude], "permission_mode": "default"}
        config = work / "ao.config.yaml"
        config.write_text(json.dumps({
            "hosts": [{"name": "h0", "ssh": server.target, "ssh_config": str(server.ssh_config),
                       "state_dir": server.remote_dir}],
            "projects": {
                "loc": {"repo": str(repo), "session_prefix": "loc", "notifiers": [], "agent": {**agent, "env": local_env}},
                "rem": {"repo": str(repo), "session_prefix": "rem", "notifiers": [], "hosts": ["h0"],
                        "agent": {**agent, "env": remote_env}}}}))
        engine = Engine(load_config(str(config)))
        assert engine.start(leader_loop)
        try:
            results = {}
            started = time.time()
            engine.remote.link("h0")  # ao installed there and connected: once per host, not per session
            results["install"] = round(time.time() - started, 2)
            for project in ("rem", "loc"):
                started = time.time()
                sid = engine.spawn(project, prompt="Say done.").id
                events = RemoteHosts.mirror_path(sid)

                def stopped(events: Path = events) -> float | None:
                    if not events.exists():
                        return None
                    return next((r["at"] for r in map(json.loads, events.read_text().splitlines())
                                 if r["event"] == "Stop"), None)

                results[project] = round(_wait(stopped, timeout=180) - started, 2)
                engine.kill(sid)
            print(json.dumps({"bench": "spawn_to_first_finished_turn_real_claude", "claude": claude,
                              "remote_s": results["rem"], "local_s": results["loc"],
                              "first_connect_and_install_s": results["install"],
                              "ratio": round(results["rem"] / results["loc"], 2),
                              "load1": round(os.getloadavg()[0], 2)}))
        finally:
            engine.stop()


def idle(servers, home: Path, work: Path, seconds: float, per_host: int) -> None:  # type: ignore[no-untyped-def]
    """Hosts x sessions spawned through the engine (its loop leading), every agent idle at its prompt:
    the CPU of this process and its ssh clients, requests to ao on the hosts, ssh commands started."""
    from ao_tui.config import load_config
    from ao_tui.engine import Engine
    from ao_tui.host_ao import HostAo
    from ao_tui.models import ActivityState
    from ao_tui.orchestrator.loop_hooks import leader_loop
    from ao_tui_plugins.host_ssh import control_dir

    hosts, projects = [], {}
    for i, server in enumerate(servers):
        origin = f"{server.remote_dir}/origin.git"
        seed = f"{server.remote_dir}/seed"
        server.run(f"mkdir -p {server.remote_dir} && git init -q --bare -b main {origin} && git init -q -b main {seed}"
                   f" && git -C {seed} -c user.name=a -c user.email=a@b commit -q --allow-empty -m i"
                   f" && git -C {seed} push -q {origin} main")
        repo = work / f"app{i}"
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", origin], check=True)
        hosts.append({"name": f"h{i}", "ssh": server.target, "ssh_config": str(server.ssh_config),
                      "state_dir": server.remote_dir, "max_sessions": per_host})
        projects[f"app{i}"] = {"repo": str(repo), "session_prefix": f"a{i}", "notifiers": [], "hosts": [f"h{i}"],
                               "max_sessions": per_host, "agent": {"command": ["python3", "-u", "-c", AGENT]}}
    config = work / "ao.config.yaml"
    config.write_text(json.dumps({"hosts": hosts, "projects": projects}))
    engine = Engine(load_config(str(config)))
    assert engine.start(leader_loop)
    calls = 0
    original = HostAo.call

    def counted(self, op, timeout=60, **args):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(self, op, timeout, **args)

    HostAo.call = counted  # type: ignore[method-assign]
    try:
        ids = [engine.spawn(f"app{i}", prompt="wait").id for i in range(len(servers)) for _ in range(per_host)]
        _wait(lambda: all(engine.session(sid).activity.state is ActivityState.IDLE for sid in ids), timeout=600)
        time.sleep(5)  # start-up dialog checks and first reads over
        ssh = "pgrep", "-f", f"{control_dir(home)}/"
        pids = [int(p) for p in subprocess.run(ssh, capture_output=True, text=True).stdout.split()]

        def cpu() -> float:
            total = time.process_time()
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                except (OSError, IndexError):
                    pass
            return total

        before_cpu, before_calls, before_ssh = cpu(), calls, set(pids)
        time.sleep(seconds)
        used = cpu() - before_cpu
        started = set(int(p) for p in subprocess.run(ssh, capture_output=True, text=True).stdout.split()) - before_ssh
        masters = subprocess.run(["pgrep", "-f", f"{control_dir(home)}/.*\\[mux\\]"], capture_output=True,
                                 text=True).stdout.split()
        print(json.dumps({"bench": "idle_remote_sessions_through_the_engine", "hosts": len(servers),
                          "sessions": len(ids), "seconds": seconds,
                          "cpu_percent_of_a_core": round(100 * used / seconds, 2),
                          "requests_to_hosts_per_second": round((calls - before_calls) / seconds, 2),
                          "ssh_commands_started": len(started), "ssh_connections": len(masters),
                          "load1": round(os.getloadavg()[0], 2)}))
    finally:
        HostAo.call = original  # type: ignore[method-assign]
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="room", choices=["room", "first-turn", "idle"])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sessions", type=int, default=30, help="idle: sessions a host")
    args = parser.parse_args()
    if why_not():
        sys.exit(f"bench_remote_sessions: {why_not()}")
    base = Path(tempfile.mkdtemp(prefix="ao-sshd-"))
    os.chmod(base, 0o755)
    work = Path(tempfile.mkdtemp(prefix="ao-bench-"))
    home = work / "ao-home"
    home.mkdir()
    os.environ["AO_HOME"] = str(home)
    os.environ["AO_TMUX_SOCKET"] = f"ao-bench-{uuid.uuid4().hex[:8]}"
    users = ("aohost", "aohost2", "aohost") if args.mode == "idle" else ("aohost",)
    servers = [start_host(base / f"h{i}", user) for i, user in enumerate(users)]
    server = servers[0]
    try:
        if args.mode == "room":
            room(server, home, work, args.runs)
        elif args.mode == "idle":
            idle(servers, home, work, args.seconds, args.sessions)
        else:
            first_turn(server, home, work)
    finally:
        for server in servers:
            server.run(f"tmux -S {server.remote_dir}/tmux.sock kill-server; rm -rf {server.remote_dir}")
            server.kill_connections()
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
