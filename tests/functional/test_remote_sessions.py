"""Sessions on an SSH host, as a user drives them: `ao spawn --host`, `ao ls` with the host, `ao peek`,
`ao send` (literal, once), `ao kill`, `ao restore`, `ao attach`'s argv; and a host that stops answering
turns its sessions to "host unreachable since" (never exited), with messages typed once it is back.

Against a real OpenSSH server on 127.0.0.1 logging in as the separate user aohost: the project's origin
is on the host (the host clones it itself), and the engine reads nothing of the host's files here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_tui.attention import Zone, zone_of
from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import ActivityState, SessionStatus
from ao_tui.orchestrator.loop_hooks import leader_loop
from ao_tui.remote import RemoteHosts
from tests.support.gitrepo import git
from tests.support.sshd import SSHHost, ssh_host, ssh_hosts  # noqa: F401 (fixtures)
from tests.support.waiting import wait_until

#: The agent on the host: takes Claude Code's flags, echoes each line typed and draws Claude's input box;
#: runs the hooks given with --settings through a shell as Claude Code does (SessionStart, then
#: UserPromptSubmit and Stop around each line).
AGENT = r"""
import json, subprocess, sys
args = sys.argv[1:]
hooks = json.loads(args[args.index("--settings") + 1])["hooks"] if "--settings" in args else {}
def hook(event, **payload):
    for group in hooks.get(event, []):
        for h in group["hooks"]:
            subprocess.run(h["command"], shell=True, input=json.dumps({"hook_event_name": event, **payload}),
                           text=True)
print("agent ready", "resumed" if "--resume" in args else "started", flush=True)
box = "\u2500" * 30
def prompt():
    print(box + "\n\u276f \n" + box, flush=True)
hook("SessionStart", source="startup")
prompt()
for line in sys.stdin:
    hook("UserPromptSubmit", prompt=line.rstrip("\n"))
    if line.strip() == "commit":
        open("notes.txt", "w").write("written on the host\n")
        subprocess.run(["git", "add", "notes.txt"], check=True)
        subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "Notes from the host"],
                       check=True)
        open("scratch.txt", "w").write("not added\n")
    print("got: " + line.rstrip("\n"), flush=True)
    hook("Stop", last_assistant_message="got: " + line.rstrip("\n"))
    prompt()
"""

HOSTILE = "$(touch /tmp/ao-remote-pwned) `id`; 'q' \"dq\" ~ * #x;"


@pytest.fixture
def remote_project(ao_home: Path, ssh_host: SSHHost, tmp_path: Path) -> Iterator[tuple[Path, Engine]]:
    """A project whose sessions run on host build-1; its origin is a bare repository on that host."""
    origin = f"{ssh_host.remote_dir}/origin.git"
    seed = f"{ssh_host.remote_dir}/seed"
    made = ssh_host.run(f"mkdir -p {ssh_host.remote_dir} && git init -q --bare -b main {origin} && "
                        f"git init -q -b main {seed} && git -C {seed} -c user.name=a -c user.email=a@b commit -q "
                        f"--allow-empty -m initial && git -C {seed} push -q {origin} main")
    assert made.returncode == 0, made.stderr
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "remote", "add", "origin", origin)  # the host's path: this machine never opens it
    # The same history here, as a user's clone would have it (fetched over ssh, not from the host's disk).
    subprocess.run(["git", "fetch", "-q", f"ssh://{ssh_host.alias}{origin}", "main"], cwd=repo, check=True,
                   env={**os.environ, "GIT_SSH_COMMAND": f"ssh -F {ssh_host.ssh_config}"})
    git(repo, "reset", "-q", "--hard", "FETCH_HEAD")
    config = tmp_path / "ao.config.yaml"
    config.write_text(json.dumps({
        "hosts": [{"name": "build-1", "ssh": ssh_host.target, "ssh_config": str(ssh_host.ssh_config),
                   "state_dir": ssh_host.remote_dir, "connect_timeout": 3}],
        "projects": {"app": {"repo": str(repo), "session_prefix": "app", "notifiers": [],
                             "hosts": ["local", "build-1"],
                             "agent": {"command": ["python3", "-u", "-c", AGENT]}}},
    }))
    engine = Engine(load_config(str(config)))
    try:
        yield config, engine
    finally:
        engine.stop()


def _ao(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())


@pytest.mark.slow
def test_a_session_on_an_ssh_host_from_spawn_to_restore(remote_project: tuple[Path, Engine],
                                                         ssh_host: SSHHost) -> None:
    config, engine = remote_project
    out = _ao(config, "spawn", "--host", "build-1", "--prompt", "say hi")
    assert out.returncode == 0, out.stderr
    sid, branch, where = out.stdout.split()
    assert (sid, branch) == ("app-1", "ao/app-1")
    assert where == f"build-1:{ssh_host.remote_dir}/worktrees/app-1"
    assert "installing ao" in out.stderr  # said before it is done
    session = engine.session(sid)
    assert (session.host, session.runtime, session.workspace) == ("build-1", "host", "")
    wait_until(lambda: "agent ready started" in engine.peek(sid), timeout=30)
    assert "agent ready started" in _ao(config, "peek", sid).stdout

    listing = _ao(config, "ls")
    assert listing.returncode == 0, listing.stderr
    header, row = listing.stdout.splitlines()[:2]
    assert header.split()[:3] == ["ID", "HOST", "STATUS"] and row.split()[:2] == [sid, "build-1"]
    assert json.loads(_ao(config, "ls", "--json").stdout)[0]["host"] == "build-1"

    sent = _ao(config, "send", sid, HOSTILE)
    assert sent.returncode == 0, sent.stderr
    screen = wait_until(lambda: (s := engine.peek(sid)) and f"got: {HOSTILE}" in s and s, timeout=30)
    assert screen.count(f"got: {HOSTILE}") == 1
    assert ssh_host.run("ls /tmp/ao-remote-pwned").returncode != 0 and not Path("/tmp/ao-remote-pwned").exists()

    engine.send_bytes(sid, b"typed in the live pane\r")  # the control room's live terminal, key by key
    wait_until(lambda: "got: typed in the live pane" in engine.peek(sid), timeout=30)

    # Its work, read by git on the host through ao there: commits, changed files, the diff.
    engine.send(sid, "commit")
    wait_until(lambda: "got: commit" in engine.peek(sid), timeout=30)
    assert [c.subject for c in engine.commits(sid)] == ["Notes from the host"]
    files = {f.path: f for f in engine.changed_files(sid)}
    assert files["notes.txt"].added == 1 and files["scratch.txt"].untracked
    assert "+written on the host" in engine.diff(sid, "notes.txt")
    # Its PR: the host pushes the branch to origin, and it is fetched here over the host's connection,
    # where the local SCM reviews and merges it.
    repo = engine.project_config("app").repo
    pr = _ao(config, "pr", sid)
    assert pr.returncode == 0, pr.stderr
    assert engine.session(sid).pr is not None and git(repo, "log", "-1", "--format=%s", "ao/app-1") == \
        "Notes from the host"
    assert ssh_host.run(f"git -C {ssh_host.remote_dir}/origin.git log -1 --format=%s ao/app-1").stdout.strip() == \
        "Notes from the host"

    argv = engine.attach_argv(sid)
    assert argv[0] == "ssh" and "-t" in argv and argv[-1].endswith(
        f"tmux -S {ssh_host.remote_dir}/tmux.sock attach-session -t =app-1")

    killed = _ao(config, "kill", sid)
    assert killed.returncode == 0 and "killed" in killed.stdout
    assert ssh_host.run(f"tmux -S {ssh_host.remote_dir}/tmux.sock has-session -t =app-1").returncode != 0
    restored = _ao(config, "restore", sid)
    assert restored.returncode == 0, restored.stderr
    wait_until(lambda: "agent ready resumed" in engine.peek(sid), timeout=30)
    assert engine.session(sid).status is SessionStatus.WORKING

    # The host stops answering while the engine runs: its session needs you, it is not exited.
    assert engine.session(sid).extra["remote_hooks"] is True
    assert engine.start(leader_loop)
    # Its hooks run on the host; ao there streams each event line back: activity from the hooks.
    wait_until(lambda: (a := engine.session(sid).activity).source == "hook" and a.state is ActivityState.IDLE,
               timeout=30)
    engine.send(sid, "a turn seen by its hooks")
    wait_until(lambda: engine.session(sid).last_message == "got: a turn seen by its hooks", timeout=30)  # its Stop
    assert engine.session(sid).activity.source == "hook"
    ssh_host.cut()
    stuck = wait_until(lambda: (s := engine.session(sid)).escalation and s, timeout=30)
    assert stuck.escalation.startswith("host build-1 unreachable since ") and stuck.status is SessionStatus.REVIEW_PENDING  # its PR open; not exited
    assert zone_of(stuck) is Zone.NEEDS_YOU
    listing = _ao(config, "ls")
    assert "host build-1 unreachable since" in listing.stdout and "exited" not in listing.stdout
    queued = _ao(config, "send", sid, "typed while away")
    assert queued.returncode == 0 and "queued for app-1: host build-1 does not answer" in queued.stdout
    ssh_host.start()
    # Back: state read again from the host, the message typed exactly once.
    wait_until(lambda: not engine.session(sid).escalation, timeout=60)
    screen = wait_until(lambda: (s := engine.peek(sid)) and "got: typed while away" in s and s, timeout=30)
    assert screen.count("got: typed while away") == 1
    assert engine.store.pending_messages(sid) == []
    # Its hook events written while the host was away arrive once, in order, in this machine's copy.
    copy = RemoteHosts.mirror_path(sid)
    prompts = wait_until(lambda: (p := [json.loads(line).get("prompt") for line in copy.read_text().splitlines()])
                         and "typed while away" in p and p, timeout=30)
    assert prompts.count("typed while away") == 1 and prompts.count("a turn seen by its hooks") == 1
    kinds = [e.kind for e in engine.events(sid)]
    assert "host_unreachable" in kinds and "host_reachable" in kinds

    # The host's tmux ends (as in a reboot): the session is exited, and restorable with its conversation.
    ssh_host.run(f"tmux -S {ssh_host.remote_dir}/tmux.sock kill-server")
    wait_until(lambda: engine.session(sid).status is SessionStatus.EXITED, timeout=30)
    restored = _ao(config, "restore", sid)
    assert restored.returncode == 0, restored.stderr
    wait_until(lambda: "agent ready resumed" in engine.peek(sid), timeout=30)

    # Its work merged here by the local SCM, as a local session's.
    assert engine.merge(sid, force=True).status is SessionStatus.MERGED
    assert git(repo, "show", "main:notes.txt") == "written on the host"


def _assistant(msg_id: str, model: str, i: int, o: int, cw: int = 0, cr: int = 0, sidechain: bool = False) -> str:
    return json.dumps({"type": "assistant", "requestId": f"req-{msg_id}", "isSidechain": sidechain,
                       "message": {"id": msg_id, "model": model, "role": "assistant",
                                   "content": [{"type": "text", "text": "ok"}],
                                   "usage": {"input_tokens": i, "output_tokens": o,
                                             "cache_creation_input_tokens": cw, "cache_read_input_tokens": cr}}})


def test_a_remote_sessions_tokens_and_cost_are_counted_on_its_host(remote_project: tuple[Path, Engine],
                                                                    ssh_host: SSHHost, tmp_path: Path) -> None:
    """Its transcript is on the host: ao there counts it with the local reader's counter, and the engine
    stores the figures when a turn ends, where `ao ls`, the cost column and budgets read them."""
    import uuid

    from ao_tui.activity.transcript import TranscriptReader
    from ao_tui.engine_loop import EngineLoop
    from ao_tui.models import Activity, Session

    config, engine = remote_project
    conversation = str(uuid.uuid4())
    slug = f"-t-{uuid.uuid4().hex[:8]}"  # a project directory of the remote user's ~/.claude, removed below
    folder = f".claude/projects/{slug}"
    lines = [_assistant("m1", "claude-sonnet-4-5", 1200, 300, 5000, 0),
             _assistant("m1", "claude-sonnet-4-5", 1200, 340, 5000, 0),  # the same response again: counted once
             json.dumps({"type": "user", "message": {"role": "user", "content": "more"}}),
             _assistant("m2", "claude-sonnet-4-5", 40, 900, 0, 6200)]
    sub = [_assistant("s1", "claude-haiku-4-5", 500, 100, sidechain=True)]

    def write(path: str, text: str) -> None:
        made = subprocess.run(ssh_host.ssh_argv("sh", "-c", f"'mkdir -p \"$(dirname {path})\" && cat >> {path}'"),
                              input=text, capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr

    try:
        write(f"{folder}/{conversation}.jsonl", "\n".join(lines) + "\n")
        write(f"{folder}/{conversation}/subagents/agent-1.jsonl", "\n".join(sub) + "\n")
        engine.store.insert_session(Session(id="app-1", project="app", host="build-1", runtime="host",
                                            runtime_handle="app-1", branch="ao/app-1", agent="claude-code",
                                            agent_session_id=conversation, status=SessionStatus.WORKING))
        loop = EngineLoop(engine)  # as the leader's monitor calls it when the Stop hook says the turn ended
        loop.on_activity("app-1", Activity(state=ActivityState.IDLE, source="hook", detail="turn finished"))

        # The same figures the local reader gets from the same lines (the local path for a local session).
        local = tmp_path / "copy" / f"{conversation}.jsonl"
        (local.parent / conversation / "subagents").mkdir(parents=True)
        local.write_text("\n".join(lines) + "\n")
        (local.parent / conversation / "subagents" / "agent-1.jsonl").write_text("\n".join(sub) + "\n")
        reader = TranscriptReader(local)
        reader.poll()
        expected = reader.state.usage
        assert expected.output_tokens == 340 + 900 + 100 and expected.cost_usd > 0
        session = engine.session("app-1")
        assert session.usage == expected and session.model == "claude-sonnet-4-5"

        row = json.loads(_ao(config, "ls", "--json").stdout)[0]
        assert row["id"] == "app-1" and row["cost_usd"] == round(expected.cost_usd, 4)

        # The next turn: read on from where the host's count ended.
        more = _assistant("m3", "claude-sonnet-4-5", 10, 50)
        write(f"{folder}/{conversation}.jsonl", more + "\n")
        loop.on_activity("app-1", Activity(state=ActivityState.IDLE, source="hook", detail="turn finished"))
        assert engine.session("app-1").usage.output_tokens == expected.output_tokens + 50
    finally:
        ssh_host.run(f"rm -rf {folder}")


@pytest.mark.slow
def test_a_kill_while_the_host_does_not_answer_stops_its_pane_once_it_is_back(
        remote_project: tuple[Path, Engine], ssh_host: SSHHost) -> None:
    config, engine = remote_project
    out = _ao(config, "spawn", "--host", "build-1", "--prompt", "say hi")
    assert out.returncode == 0, out.stderr
    sid = out.stdout.split()[0]
    wait_until(lambda: "agent ready started" in engine.peek(sid), timeout=30)
    assert engine.start(leader_loop)
    alive = f"tmux -S {ssh_host.remote_dir}/tmux.sock has-session -t ={sid}"

    ssh_host.cut()
    wait_until(lambda: engine.session(sid).escalation.startswith("host build-1 unreachable since"), timeout=30)
    killed = _ao(config, "kill", sid)
    assert killed.returncode == 0, killed.stderr
    assert killed.stdout.strip() == f"{sid} killed (host build-1 does not answer: its pane there is stopped once it does)"
    assert engine.session(sid).status is SessionStatus.KILLED

    ssh_host.start()
    # Back: the leader stops the pane, once; the session stays killed.
    wait_until(lambda: ssh_host.run(alive).returncode != 0, timeout=60)
    wait_until(lambda: "kill_on_host" not in engine.session(sid).extra, timeout=30)
    kinds = [e.kind for e in engine.events(sid)]
    assert kinds.count("host_kill_queued") == 1 and kinds.count("host_kill_done") == 1
    assert engine.session(sid).status is SessionStatus.KILLED
    assert json.loads(_ao(config, "ls", "--json", "--all").stdout)[0]["status"] == "killed"
