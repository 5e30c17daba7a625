"""The ``ao`` command: the engine from the shell.

Exit codes: 0 success, 1 a user-facing error (one line on stderr), 2 bad
config or arguments, 3 not found, 4 refused state change, 5 plugin failure,
6 the store is damaged or from a newer ao, 7 no space to write, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui.durations import ago
from ao_tui.errors import AoError
from ao_tui.store_health import DatabaseError

if TYPE_CHECKING:
    from ao_tui.engine import Engine  # imported lazily at run time: ao ls stays light


def _engine(args: argparse.Namespace, *, check: bool = True) -> Engine:
    from ao_tui.config import check_projects, load_config
    from ao_tui.engine import Engine

    config = load_config(args.config)
    if check:
        check_projects(config)
    engine = Engine(config)
    engine.host_say = lambda text: print(f"ao: {text}", file=sys.stderr)
    return engine


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def _clean(text: str, limit: int = 48) -> str:
    """Printable, single-line, bounded: task text must not drive the user's terminal."""
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- commands ---------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from ao_tui import git
    from ao_tui.config import CONFIG_NAME, parse_config, write_atomic
    from ao_tui.names import slugify

    repo = Path(args.repo or ".").resolve()
    top = git.run(repo, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise AoError(f"{repo} is not inside a git repository")
    repo = Path(top.stdout.strip())
    target = repo / CONFIG_NAME
    if target.exists() and not args.force:
        raise AoError(f"{target} already exists (use --force to overwrite)")
    head = git.out(repo, "symbolic-ref", "--short", "HEAD", check=False).strip() or "main"
    name = slugify(repo.name, 30).replace("-", "_") or "project"
    prefix = slugify(repo.name, 8) or "ao"
    text = f"""# ao-tui config (see ao.config.yaml.example for every key; `ao config schema` for the JSON Schema)
projects:
  {name}:
    repo: .
    default_branch: {head}
    session_prefix: {prefix}
    runtime: tmux
    workspace: worktree
    tracker:
      plugin: local
      file: backlog.yaml
    scm:
      plugin: local
      ci: []          # e.g. ["pytest -q"]: run on every new commit of a session's branch
    agent:
      plugin: claude-code
      permission_mode: default
"""
    parse_config(text, str(target), base_dir=repo)
    write_atomic(target, text)
    print(f"wrote {target}")
    return 0


def _say_notices(engine: Any) -> None:
    """Print what the engine tells the user while this command runs (an untested agent version)."""
    engine.subscribe_notifications(lambda n: print(f"ao: note: {n.body or n.title}", file=sys.stderr))


def cmd_spawn(args: argparse.Namespace) -> int:
    engine = _engine(args)
    if not args.task and not args.prompt:
        raise AoError("give a task id or --prompt TEXT")
    prompt = args.prompt
    if prompt == "-":
        prompt = sys.stdin.read()
    _say_notices(engine)
    session = engine.spawn(args.project, task_id=args.task, prompt=prompt, agent=args.agent, host=args.host)
    if args.json:
        print(session.model_dump_json())
    else:
        print(f"{session.id}  {session.branch}  {_where(session)}")
    return 0


def _where(s: Any) -> str:
    """A session's workspace, with its host when it is not this machine (``build-1:/home/u/.ao-host/...``)."""
    if s.host != "local":
        return f"{s.host}:{s.extra.get('remote_workspace', '')}"
    return str(s.workspace)


def _session_row(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "project": s.project,
        "status": s.status.value,
        "activity": s.activity.state.value,
        "activity_detail": s.activity.detail,
        "activity_source": s.activity.source,
        "activity_until": s.activity.until.isoformat() if s.activity.until else None,  # rate_limited: the reset
        "task": s.task_id,
        "title": s.title,
        "branch": s.branch,
        "workspace": s.workspace,
        "host": s.host,
        "remote_workspace": s.extra.get("remote_workspace"),
        "pr": s.pr.number if s.pr else None,
        "pr_url": s.pr.url if s.pr else None,
        "pr_links": s.pr_links,
        "ci": s.pr.ci.value if s.pr else None,
        "review": s.pr.review.value if s.pr else None,
        "agent": s.agent,
        "agent_session_id": s.agent_session_id,
        "tokens": s.usage.total_tokens,
        "cost_usd": round(s.usage.cost_usd, 4),
        "escalation": s.escalation,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from ao_tui.attention import zone_of
    from ao_tui.lifecycle import AT_REST

    engine = _engine(args, check=False)
    engine.reconcile()  # one runtime listing: an agent that died with no engine watching shows as exited
    # With no engine running, each live agent's activity is read now from its own files. Unless --all,
    # the done and killed sessions of the last day only (lifecycle.RECENT_WINDOW): the older ones are counted.
    sessions = engine.observed_sessions(args.project, recent=not args.all)
    if args.json:
        print(json.dumps([{**_session_row(s), "zone": zone_of(s).value} for s in sessions], indent=2))
        return 0
    older = 0 if args.all else engine.count_at_rest(args.project) - sum(s.status in AT_REST for s in sessions)
    more = f"{older:,} older finished session{'s' if older != 1 else ''}: `ao ls --all` lists them"
    if not sessions:
        print(f"no live or recent sessions ({more})" if older else
              "no sessions (start one with `ao spawn <task-id>` or `ao spawn --prompt TEXT`)")
        return 0
    rows = []
    remote = any(s.host != "local" for s in sessions)  # a HOST column once a session runs elsewhere
    for s in sessions:
        doing = s.activity.state.value + (f": {s.activity.detail}" if s.activity.detail else "")
        if s.escalation.startswith(f"host {s.host} unreachable"):
            doing = s.escalation
        rows.append(
            [
                s.id,
                *([s.host] if remote else []),
                s.status.value,
                _clean(doing, 36),
                _clean(s.title, 40),
                s.branch,
                f"#{s.pr.number}" if s.pr and s.pr.number else "-",
                ago(s.status_since),
            ]
        )
    print(_table(rows, ["id", *(["host"] if remote else []), "status", "activity", "task", "branch", "pr", "for"]))
    if older:
        print(f"… {more}")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    text = " ".join(args.text) if args.text != ["-"] else sys.stdin.read()
    if args.queue:
        engine.queue_message(args.id, text)
        print(f"queued for {args.id}: delivered when the agent is at its prompt")
    elif not engine.send(args.id, text):
        host = engine.session(args.id).host
        print(f"queued for {args.id}: host {host} does not answer; typed once when it is back and the agent "
              "is at its prompt (by `ao run` or ao-tui)")
    return 0


def cmd_peek(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    sys.stdout.write(engine.peek(args.id, escapes=args.color, history=args.history).rstrip("\n") + "\n")
    return 0


def cmd_attach(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    argv = engine.attach_argv(args.id)
    return subprocess.call(argv)


def cmd_kill(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    for sid in args.ids:
        s = engine.kill(sid)
        later = f" (host {s.host} does not answer: its pane there is stopped once it does)" \
            if s.extra.get("kill_on_host") else ""
        print(f"{s.id} {s.status.value}{later}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    engine.reconcile()
    _say_notices(engine)
    for sid in args.ids:
        before = engine.carry_out_host_kill(engine.session(sid))
        if engine.runtime(before).status(before.runtime_handle).alive:
            print(f"{sid} is already running ({before.status.value}); nothing to restore")
            continue
        s = engine.restore(sid)
        print(f"{s.id} restored: {s.status.value} in {_where(s)}")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    removed = engine.cleanup(force=args.force, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} workspace(s)" + (": " + ", ".join(removed) if removed else ""))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ao_tui.leader import leader_pid

    engine = _engine(args)
    done = threading.Event()
    failed: list[BaseException] = []
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    bridges = None

    def running() -> None:
        nonlocal bridges
        print(f"ao engine running for {', '.join(engine.config.projects) or 'no projects'}; Ctrl-C to stop",
              flush=True)
        from ao_tui.bridges import start_bridges  # chat bridges run where the engine runs

        bridges, problems = start_bridges(engine)
        for problem in problems:
            print(f"ao: {problem}", file=sys.stderr, flush=True)

    def start_failed(exc: BaseException) -> None:
        failed.append(exc)
        done.set()

    from ao_tui.orchestrator.loop_hooks import leader_loop

    try:
        if engine.start(leader_loop):
            running()
        else:
            # Another `ao run` or ao-tui leads: it follows everything this machine does; this one
            # takes over the moment it stops (or dies), so an overnight run survives a crash.
            pid = leader_pid()
            print(f"another engine is running (pid {pid}): it follows every session; this one takes over "
                  "if it stops. Ctrl-C to quit", flush=True)
            engine.start_when_free(leader_loop, running, done, start_failed)
        while not done.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        done.set()
        if bridges is not None:
            bridges.stop()
        engine.stop()
    if failed:
        raise failed[0] if isinstance(failed[0], AoError) else AoError(f"taking over the engine failed: {failed[0]}")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    if args.action == "new":
        from ao_tui import plugin_skeleton

        if not args.slot or not args.name:
            raise AoError("usage: ao plugins new SLOT NAME [--dir PATH]")
        directory = Path(args.dir or plugin_skeleton.names(args.slot, args.name)[0])
        for path in plugin_skeleton.write(args.slot, args.name, directory):
            print(path)
        print(f"next: pip install -e {directory} && ao plugins   (its tests: python -m pytest {directory / 'tests'})")
        return 0
    from ao_tui.registry import available

    for slot, plugins in available().items():
        names = ", ".join(f"{n} ({ep.value.split(':')[0]})" if args.verbose else n for n, ep in sorted(plugins.items()))
        print(f"{slot:<10} {names or '-'}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from ao_tui.config import find_config, json_schema, load_config

    if args.action == "schema":
        print(json.dumps(json_schema(), indent=2))
    elif args.action == "path":
        print(find_config(args.config) or "no config found")
    else:
        config = load_config(args.config)
        from ao_tui.config import check_projects

        check_projects(config)
        print(f"{config.path}: ok ({len(config.projects)} project(s))")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ao_tui.doctor import gather, run_checks

    results = run_checks(gather(args.config))
    for result in results:
        print(result.line(), flush=True)
    return 1 if any(r.status == "fail" for r in results) else 0


def cmd_review(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    if args.approve:
        s = engine.approve(args.id, args.message or "")
    else:
        s = engine.request_changes(args.id, args.message or "")
    print(f"{s.id} {s.status.value}")
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    if args.train:
        return _merge_train(args)
    if len(args.ids) != 1:
        raise AoError("merge takes one session id (several: --train)")
    engine = _engine(args, check=False)
    s = engine.merge(args.ids[0], args.method, force=args.force)
    print(f"{s.id} {s.status.value}")
    return 0


def _merge_train(args: argparse.Namespace) -> int:
    """Queue ready PRs on the merge train; drive it here unless another engine runs."""
    import time

    from ao_tui.merge_train import FINAL, enqueue

    engine = _engine(args, check=False)
    added, refused = enqueue(engine, args.ids or None, args.project)
    for sid, why in refused.items():
        print(f"{sid}: not on the train ({why})", file=sys.stderr)
    rows = engine.store.train(args.project)
    if not rows:
        print("no approved, green PRs to merge" if not refused else "nothing queued")
        return 1 if refused else 0
    print("merge train: " + " -> ".join(r["session_id"] for r in rows) + (f" ({len(added)} added)" if added else ""))
    from ao_tui.orchestrator.loop_hooks import leader_loop

    if not engine.start(leader_loop):
        print("the running engine (ao run or ao-tui) moves the train on; `ao events ID` follows each PR")
        return 0
    shown: dict[str, tuple[str, str]] = {}
    try:
        while True:
            rows = engine.store.train(args.project)
            for r in rows:
                seen = (r["state"], r["data"].get("reason", ""))
                if shown.get(r["session_id"]) != seen:
                    shown[r["session_id"]] = seen
                    print(f"{r['session_id']}: {r['state']}" + (f" ({_clean(seen[1], 100)})" if seen[1] else ""),
                          flush=True)
            if not rows or all(r["state"] in FINAL for r in rows):
                break
            time.sleep(0.5)
    finally:
        engine.stop()
    left = [sid for sid, (state, _) in shown.items() if state == "left"]
    return 1 if left else 0


def cmd_rebase(args: argparse.Namespace) -> int:
    from ao_tui import git
    from ao_tui.rebase import CONFLICT, REBASED, UP_TO_DATE, Rebaser

    engine = _engine(args, check=False)
    session = engine.session(args.id)
    cfg = engine.project_config(session.project)
    onto = git.commit_of(cfg.repo, f"refs/heads/{cfg.default_branch}")
    if onto is None:
        raise AoError(f"no branch {cfg.default_branch} in {cfg.repo}")
    outcome = Rebaser(engine).rebase(session.id, onto, reason="ao rebase")
    if outcome.state == REBASED:
        print(f"{session.id}: {session.branch} rebased onto {cfg.default_branch} ({outcome.head[:10]});"
              f" the old tip is refs/ao/backup/{session.id} until CI passes")
        return 0
    if outcome.state == UP_TO_DATE:
        print(f"{session.id}: {session.branch} already contains {cfg.default_branch}")
        return 0
    if outcome.state == CONFLICT:
        raise AoError(f"{session.id}: rebasing onto {cfg.default_branch} conflicts in {outcome.detail};"
                      " nothing changed (the agent is told)")
    raise AoError(f"{session.id}: not rebased: {outcome.detail or outcome.state}")


def cmd_conflicts(args: argparse.Namespace) -> int:
    from ao_tui.conflicts import ConflictWatch, fleet_conflicts

    engine = _engine(args, check=False)
    watch = ConflictWatch(engine.store)
    for name, cfg in engine.config.projects.items():
        if args.project and name != args.project:
            continue
        watch.scan(name, cfg.repo, cfg.default_branch, engine.sessions(name))  # computes only what is new
    pairs = fleet_conflicts(engine, args.project)
    if args.json:
        print(json.dumps(pairs, indent=2))
        return 0
    if not pairs:
        print("no two live branches change the same files")
        return 0
    rows = [[p["a"], p["b"], "CONFLICT" if p["conflict"] else "overlap", p["later"],
             _clean(", ".join(p["files"]), 60)] for p in pairs]
    print(_table(rows, ["branch", "with", "kind", "later", "files"]))
    for p in pairs:
        for c in p["conflicts"]:
            for h in c["hunks"][:3]:
                print(f"\n{p['a']} x {p['b']}  {c['path']} (line {h['line']} merged):")
                for line in h["ours"][:6]:
                    print(f"  {p['a']}: {_clean(line, 100)}")
                for line in h["theirs"][:6]:
                    print(f"  {p['b']}: {_clean(line, 100)}")
    return 0


def cmd_pr(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    s = engine.open_pr(args.id)
    print(f"{s.id} {s.pr.url if s.pr else ''}")
    return 0


def cmd_backlog(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    name, _ = engine.config.project(args.project)
    if args.add:
        task = engine.tracker(name).create_task(args.add, args.body or "")
        print(task.id)
        return 0
    tasks = engine.backlog(name, include_done=args.all)
    if args.json:
        print(json.dumps([t.model_dump() for t in tasks], indent=2))
    elif not tasks:
        print("backlog is empty")
    else:
        print(_table([[t.id, t.status, _clean(t.title, 60)] for t in tasks], ["id", "status", "title"]))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from ao_tui.orchestrator.cli import run_chat

    return run_chat(_engine(args, check=False), args) or 0


def cmd_events(args: argparse.Namespace) -> int:
    engine = _engine(args, check=False)
    engine.session(args.id)  # an unknown id is an error, not an empty history
    for e in engine.events(args.id, limit=args.limit):
        change = f"{e.from_status} -> {e.to_status}" if e.to_status else ""
        print(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<10} {change} {json.dumps(e.data) if e.data else ''}".rstrip())
    return 0


def cmd_answers(args: argparse.Namespace) -> int:
    """The orchestrator's answers to agents' questions; ``undo`` takes one back exactly as ``U`` does."""
    from datetime import datetime

    from ao_tui.orchestrator.escalation import recent_answers, undo_answer

    engine = _engine(args, check=False)
    if args.action == "undo":
        if not args.id:
            raise AoError("usage: ao answers undo SESSION_ID (the session whose last answer to take back)")
        done = undo_answer(engine, args.id)
        print(f"{args.id}: the orchestrator's answer is undone ({done}); the question is yours")
        return 0
    if args.action is not None:
        raise AoError(f"unknown action {_clean(args.action)!r}: `ao answers [--json]` or `ao answers undo SESSION_ID`")
    if args.project:
        engine.config.project(args.project)  # an unknown project is exit 3
    rows = recent_answers(engine, args.project, args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("the orchestrator has answered no questions (the escalation chain: see the README)")
        return 0
    table = [[r["session"], ago(datetime.fromisoformat(r["at"])), _clean(r["question"], 40), _clean(r["answer"], 50),
              "undone" if r["undone"] else "undoable" if r["undoable"] else ""] for r in rows]
    print(_table(table, ["session", "when", "question", "answer", "state"]))
    if any(r["undoable"] for r in rows):
        print("\n`ao answers undo SESSION_ID` takes back an undoable answer (U on the session in ao-tui)")
    return 0


def _span(seconds: float | None) -> str:
    """A duration for a table: 45s, 12m, 1.5h, 2d."""
    from ao_tui.fleet_stats import span

    return span(seconds)


def cmd_retro(args: argparse.Namespace) -> int:
    """What past sessions cost and which lessons the next sessions' rules carry."""
    from ao_tui.outcomes import retrospective, summary

    engine = _engine(args, check=False)
    names = [args.project] if args.project else list(engine.config.projects)
    if args.project:
        engine.config.project(args.project)  # an unknown project is exit 3
    report: list[dict[str, Any]] = []
    for name in names:
        outcomes = sorted(engine.store.outcomes(name), key=lambda o: o.get("recorded_at", ""), reverse=True)
        report.append({"project": name, "summary": summary(engine.store, name),
                       "lessons": retrospective(engine.store, name), "sessions": outcomes[: args.limit]})
    from ao_tui.cli_budget import print_fleet_stats
    from ao_tui.fleet_stats import fleet_stats

    stats = fleet_stats(engine.store, args.project)
    if args.json:
        print(json.dumps(report if not args.stats else {"projects": report, "fleet": stats.as_dict()}, indent=2))
        return 0
    for i, part in enumerate(report):
        totals = part["summary"]
        if i:
            print()
        print(f"{part['project']}: {totals['sessions']} sessions recorded, {totals['merged']} merged"
              + (f"; per session {totals['mean_ci_cycles']} CI cycles, {totals['mean_review_rounds']} review rounds"
                 if totals["sessions"] else "")
              + (f"; {_span(totals['mean_time_to_merge_s'])} to merge" if totals["mean_time_to_merge_s"] else "")
              + (f"; {totals['tokens']:,} tokens, ${totals['cost_usd']:.2f}" if totals["sessions"] else ""))
        if part["sessions"]:
            rows = [[o["session_id"], _clean(str(o.get("task_id") or "-"), 12), str(o.get("status", "")),
                     str(o.get("ci_cycles", 0)), str(o.get("review_rounds", 0)), _span(o.get("time_to_pr_s")),
                     _span(o.get("time_to_merge_s")), f"{o.get('tokens', 0):,}", f"${o.get('cost_usd', 0.0):.2f}",
                     "yes" if o.get("escalated") else ""] for o in part["sessions"]]
            print(_table(rows, ["session", "task", "status", "ci", "reviews", "to pr", "to merge", "tokens", "cost",
                                "escalated"]))
        if part["lessons"]:
            print("Lessons added to new sessions' rules:")
            for lesson in part["lessons"]:
                print(f"  - {_clean(lesson, 300)}")
        else:
            print("No lessons yet (a lesson needs the same failing check, test or review theme in 2 sessions).")
    print()
    print_fleet_stats(stats, "all projects" if not args.project else f"project {args.project}")
    return 0


# -- parser -----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ao", description="Run and watch a fleet of AI coding agents.")
    parser.add_argument("--config", help="path to ao.config.yaml (default: $AO_CONFIG, ./ao.config.yaml upward, user config dir)")
    parser.add_argument("--version", action="version", version="ao-tui 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to ao.config.yaml")

    def add(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "write a working ao.config.yaml for the repository here")
    p.add_argument("--repo", help="repository path (default: the current directory)")
    p.add_argument("--force", action="store_true")

    p = add("spawn", cmd_spawn, "start an agent on a backlog task or a free prompt")
    p.add_argument("task", nargs="?", help="task id from the tracker")
    p.add_argument("--prompt", help="free prompt instead of (or in addition to) a task; - reads stdin")
    p.add_argument("--project")
    p.add_argument("--agent", help="agent plugin (default from config)")
    p.add_argument("--host", help="run it on this host (from hosts:; default: the allowed host with room and "
                   "the fewest live sessions)")
    p.add_argument("--json", action="store_true")

    p = add("ls", cmd_ls, "list sessions")
    p.add_argument("--project")
    p.add_argument("--all", action="store_true",
                   help="every session ever run (default: the live ones and those finished in the last day)")
    p.add_argument("--json", action="store_true", help="machine-readable output (with --all: every session)")

    p = add("send", cmd_send, "type a message into a session's agent and submit it")
    p.add_argument("id")
    p.add_argument("text", nargs="+", help="the message; - reads stdin")
    p.add_argument("--queue", action="store_true", help="deliver when the agent is at its prompt")

    p = add("peek", cmd_peek, "print a session's current screen")
    p.add_argument("id")
    p.add_argument("--color", action="store_true", help="keep colours (ANSI escapes)")
    p.add_argument("--history", type=int, default=0, help="lines of scrollback to include")

    p = add("attach", cmd_attach, "attach your terminal to a session (detach with the tmux prefix, then d)")
    p.add_argument("id")

    p = add("kill", cmd_kill, "stop sessions (their worktrees stay until cleanup)")
    p.add_argument("ids", nargs="+")

    p = add("restore", cmd_restore, "bring sessions back in their worktree with their conversation")
    p.add_argument("ids", nargs="+")

    p = add("cleanup", cmd_cleanup, "remove worktrees of finished sessions (keeps unmerged work)")
    p.add_argument("--force", action="store_true", help="also delete branches with unmerged commits")
    p.add_argument("--dry-run", action="store_true")

    add("run", cmd_run, "run the engine without a UI: watch sessions, PRs and CI, react")

    p = add("plugins", cmd_plugins, "list installed plugins per slot; `new SLOT NAME` writes a plugin skeleton")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("action", nargs="?", choices=["new"], help="new: write an installable plugin package")
    p.add_argument("slot", nargs="?", help="the slot of the new plugin (runtime, agent, notifier, ...)")
    p.add_argument("name", nargs="?", help="the new plugin's name (lower-case, dashes)")
    p.add_argument("--dir", help="where to write it (default: ./ao-tui-SLOT-NAME)")

    p = add("config", cmd_config, "check the config, show its path, or print its JSON Schema")
    p.add_argument("action", choices=["check", "schema", "path"], nargs="?", default="check")

    add("doctor", cmd_doctor, "check this machine's set-up: one line per check, a fix for each failure")

    p = add("pr", cmd_pr, "open the PR for a session's branch now")
    p.add_argument("id")

    p = add("review", cmd_review, "approve or request changes on a session's PR")
    p.add_argument("id")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--request-changes", action="store_true")
    p.add_argument("-m", "--message", help="review comment (required for --request-changes)")

    p = add("merge", cmd_merge, "merge a session's PR (refuses red or unreviewed PRs unless --force)")
    p.add_argument("ids", nargs="*", metavar="id")
    p.add_argument("--method", choices=["merge", "squash", "rebase"])
    p.add_argument("--force", action="store_true")
    p.add_argument("--train", action="store_true",
                   help="merge approved, green PRs one at a time (these, or all ready ones), each rebased onto the last")
    p.add_argument("--project")

    p = add("rebase", cmd_rebase, "rebase a session's branch onto the default branch now (agent idle, tree clean)")
    p.add_argument("id")

    p = add("conflicts", cmd_conflicts, "live branches that change the same files, and predicted conflicts")
    p.add_argument("--project")
    p.add_argument("--json", action="store_true")

    p = add("backlog", cmd_backlog, "list the tracker's tasks, or add one")
    p.add_argument("--project")
    p.add_argument("--add", metavar="TITLE")
    p.add_argument("--body")
    p.add_argument("--all", action="store_true")
    p.add_argument("--json", action="store_true")

    p = add("events", cmd_events, "a session's event history")
    p.add_argument("id")
    p.add_argument("--limit", type=int, default=100)

    p = add("answers", cmd_answers, "the orchestrator's recent answers to agents' questions; "
            "`undo SESSION_ID` takes the session's last one back (as U in ao-tui)")
    p.add_argument("action", nargs="?", metavar="undo", help="take back the session's last answer (the question is yours)")
    p.add_argument("id", nargs="?", help="with undo: the session id")
    p.add_argument("--project")
    p.add_argument("--limit", type=int, default=50, help="answers listed (newest first)")
    p.add_argument("--json", action="store_true")

    p = add("retro", cmd_retro, "what finished sessions cost, and the lessons the next sessions' rules carry")
    p.add_argument("--project")
    p.add_argument("--limit", type=int, default=20, help="sessions listed per project (newest first)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--stats", action="store_true", help="with --json: {projects: [...], fleet: spend per day, "
                   "per merged PR, per task and agent, CI cycles per PR, time to merge}")

    from ao_tui import cli_autopilot, cli_budget, cli_hosts, cli_store

    cli_store.add_parser(sub, common)
    cli_budget.add_parser(sub, common)
    cli_autopilot.add_parser(sub, common)
    cli_hosts.add_parser(sub, common)

    p = add("chat", cmd_chat, "talk to the orchestrator agent")
    p.add_argument("message", nargs="*", help="one message (default: an interactive chat)")
    p.add_argument("--new", action="store_true", help="start a new conversation (forget the stored one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except AoError as exc:
        print(f"ao: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except (DatabaseError, OSError) as exc:  # the store's file, or a full disk: one line, no traceback
        from ao_tui.paths import store_path
        from ao_tui.store_health import describe

        problem = describe(exc, store_path()) if not isinstance(exc, BrokenPipeError) else None
        if problem is None:
            if isinstance(exc, BrokenPipeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
            raise
        print(f"ao: {problem}", file=sys.stderr)
        return problem.exit_code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
