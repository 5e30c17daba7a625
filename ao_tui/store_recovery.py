"""Rebuilding the store from what exists, and the orphans a store can miss.

After a damaged store is replaced by its newest good backup (or by an empty
one), the store may not know every session: tmux sessions on ao's socket,
workspaces under the state dir and session dirs with hook events outlive it.
``adopt`` gives each of them its record again, learning what it can from the
things themselves: the branch from the worktree, the agent's conversation id
from its hook events or its transcripts, the PR from the SCM by branch, and
whether the agent is alive from the runtime. What cannot be known (the task,
tokens spent) is marked unknown in the session's ``extra["recovered"]``, never
guessed. This needs plugins, so it lives at the engine layer.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git, paths
from ao_tui.errors import AoError
from ao_tui.models import Activity, ActivityState, Event, Session, SessionStatus, utcnow
from ao_tui.names import validate_session_id

if TYPE_CHECKING:
    from ao_tui.engine import Engine

log = logging.getLogger("ao.recovery")

RECOVERED_TITLE = "(task unknown: recovered by `ao store recover`)"


@dataclass
class Orphans:
    """Things on disk or in tmux that no session record names."""

    tmux: dict[str, str] = field(default_factory=dict)  # handle -> project ("" if unknown)
    workspaces: dict[str, tuple[str, Path]] = field(default_factory=dict)  # id -> (project, path)
    session_dirs: dict[str, Path] = field(default_factory=dict)  # id -> dir (no tmux, no workspace)

    @property
    def ids(self) -> list[str]:
        return sorted(set(self.tmux) | set(self.workspaces) | set(self.session_dirs), key=_id_order)

    def __bool__(self) -> bool:
        return bool(self.tmux or self.workspaces)

    def lines(self) -> list[str]:
        out = [f"tmux session {h} on ao's socket (project {p or 'unknown'}) has no record"
               for h, p in sorted(self.tmux.items())]
        out += [f"workspace {path} has no record" for _sid, (_p, path) in sorted(self.workspaces.items())]
        return out


def _id_order(session_id: str) -> tuple[str, int]:
    prefix, _, n = session_id.rpartition("-")
    return (prefix, int(n)) if n.isdigit() else (session_id, 0)


def _project_for(engine: Engine, session_id: str) -> str:
    prefix = session_id.rpartition("-")[0]
    for name, cfg in engine.config.projects.items():
        if cfg.session_prefix == prefix:
            return name
    return ""


def _valid_id(name: str) -> bool:
    try:
        validate_session_id(name)
    except Exception:
        return False
    return "-" in name


def find_orphans(engine: Engine) -> Orphans:
    """Every tmux session on ao's socket, workspace and session dir that no record names."""
    known = {s.id for s in engine.sessions()}
    orphans = Orphans()
    runtimes: dict[str, Any] = {}
    for name, cfg in engine.config.projects.items():
        if cfg.runtime.plugin not in runtimes:
            try:
                runtimes[cfg.runtime.plugin] = engine.plugin("runtime", name, cfg.runtime.plugin)
            except Exception as exc:
                log.warning("runtime %s of %s unavailable: %s", cfg.runtime.plugin, name, exc)
    for runtime in runtimes.values():
        try:
            handles = runtime.list_handles()
        except Exception as exc:
            log.warning("cannot list %s sessions: %s", runtime.name, exc)
            continue
        for handle in handles:
            if handle not in known and _valid_id(handle):
                orphans.tmux[handle] = _project_for(engine, handle)
    root = paths.workspaces_root()
    for project_dir in sorted(root.iterdir()) if root.is_dir() else []:
        if not project_dir.is_dir():
            continue
        for ws in sorted(project_dir.iterdir()):
            if ws.is_dir() and ws.name not in known and _valid_id(ws.name):
                project = project_dir.name if project_dir.name in engine.config.projects else ""
                orphans.workspaces[ws.name] = (project, ws)
    sessions_root = paths.ao_home() / "sessions"
    for d in sorted(sessions_root.iterdir()) if sessions_root.is_dir() else []:
        if d.is_dir() and d.name not in known and _valid_id(d.name):
            orphans.session_dirs[d.name] = d
    return orphans


# -- learning what a session was from what it left -------------------------------------------


def _branch_of(workspace: Path) -> str:
    try:
        done = git.run(workspace, "symbolic-ref", "--short", "-q", "HEAD", check=False, timeout=30)
    except AoError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _from_hook_events(session_dir: Path) -> dict[str, str]:
    """The agent's conversation id and first prompt, as its hooks reported them."""
    found: dict[str, str] = {}
    events = session_dir / "hook-events.jsonl"
    if not events.is_file():
        return found
    with events.open("rb") as f:
        for raw in f:
            try:
                line = json.loads(raw)
            except ValueError:
                continue  # a torn or damaged line: the next ones still count
            if not isinstance(line, dict):
                continue
            if isinstance(line.get("session_id"), str) and line["session_id"]:
                found["agent_session_id"] = line["session_id"]
            if "prompt" not in found and line.get("event") == "UserPromptSubmit" and isinstance(line.get("prompt"), str):
                found["prompt"] = line["prompt"]
    return found


def _newest_transcript(engine: Engine, session: Session) -> str:
    """The newest conversation the agent recorded for this workspace (its file stem is its id)."""
    try:
        agent = engine.agent(session)
        if not agent.has_transcript:
            return ""
        probe = session.model_copy(update={"agent_session_id": "00000000-0000-4000-8000-000000000000"})
        folder = agent.transcript_path(engine.launch_spec(probe))
    except Exception as exc:
        log.debug("no transcript folder for %s: %s", session.id, exc)
        return ""
    if folder is None or not folder.parent.is_dir():
        return ""
    files = sorted(folder.parent.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    return files[-1].stem if files else ""


def _rebuild(engine: Engine, session_id: str, project: str, alive: bool, workspace: Path | None,
             session_dir: Path | None) -> Session:
    cfg = engine.project_config(project)
    unknown = ["task", "usage", "ci_cycles", "review_rounds"]
    sources = []
    branch = _branch_of(workspace) if workspace and workspace.is_dir() else ""
    if branch:
        sources.append("worktree")
    else:
        branch = f"{cfg.branch_prefix}{session_id}"
        unknown.append("branch (assumed from the naming rule)")
    hooks = _from_hook_events(session_dir) if session_dir else {}
    if hooks:
        sources.append("hook events")
    session = Session(
        id=session_id, project=project, task_title=RECOVERED_TITLE, prompt=hooks.get("prompt", ""),
        branch=branch, workspace=str(workspace or paths.workspaces_root() / project / session_id),
        runtime=cfg.runtime.plugin, runtime_handle=session_id, agent=cfg.agent.plugin,
        agent_session_id=hooks.get("agent_session_id", ""),
    )
    if not session.prompt:
        unknown.append("prompt")
    if not session.agent_session_id:
        session.agent_session_id = _newest_transcript(engine, session)
        if session.agent_session_id:
            sources.append("transcripts")
        else:
            unknown.append("conversation")
    if alive:
        sources.append("tmux")
        session.status = SessionStatus.WORKING
        session.activity = Activity(state=ActivityState.UNKNOWN, source="runtime", detail="recovered: running")
    else:
        session.status = SessionStatus.EXITED
        session.activity = Activity(state=ActivityState.EXITED, source="runtime",
                                    detail="recovered: agent not running")
    session.extra["recovered"] = {"at": utcnow().isoformat(), "from": sources, "unknown": unknown}
    return session


def _find_pr(engine: Engine, session: Session) -> Any:
    cfg = engine.project_config(session.project)
    try:
        return engine.scm(session.project).find_pr(cfg.repo, Path(session.workspace), session.branch)
    except Exception as exc:
        log.warning("cannot look up a PR for %s: %s", session.branch, exc)
        return None


def adopt(engine: Engine) -> list[str]:
    """Give every orphan its record again, and bring known sessions up to date. One line per change."""
    report: list[str] = []
    orphans = find_orphans(engine)
    for sid in orphans.ids:
        project = (orphans.tmux.get(sid) or orphans.workspaces.get(sid, ("", None))[0]
                   or _project_for(engine, sid))
        if not project:
            report.append(f"{sid}: left alone (no configured project has its prefix)")
            continue
        workspace = orphans.workspaces.get(sid, ("", None))[1]
        if workspace is None and (paths.workspaces_root() / project / sid).is_dir():
            workspace = paths.workspaces_root() / project / sid
        sdir = paths.ao_home() / "sessions" / sid
        if sid in orphans.session_dirs and sid not in orphans.tmux and workspace is None:
            continue  # only a session dir: nothing left to work with, nothing to adopt
        session = _rebuild(engine, sid, project, sid in orphans.tmux, workspace, sdir if sdir.is_dir() else None)
        pr = _find_pr(engine, session)
        engine.store.insert_session(session)
        engine.store.add_event(Event(session_id=sid, kind="recovered", data=session.extra["recovered"]))
        what = "running" if sid in orphans.tmux else "agent not running"
        if pr is not None:
            engine.store.update(sid, pr=pr, pr_opened_at=utcnow())
            engine.refresh_pr(sid)
            what += f", PR #{pr.number}" if pr.number else ", PR found"
        conv = "conversation " + (session.agent_session_id[:8] if session.agent_session_id else "unknown")
        report.append(f"{sid}: adopted ({what}; {conv}; task unknown)")
    report += _bring_known_up_to_date(engine, skip=set(orphans.ids))
    return report


def _bring_known_up_to_date(engine: Engine, skip: set[str]) -> list[str]:
    """Sessions the backup knew: their agents' liveness and PRs as they are now."""
    report = []
    for sid in engine.reconcile():
        report.append(f"{sid}: now {engine.session(sid).status.value} (its agent is not running)")
    live = {s.id for s, alive, _ in engine.agent_liveness(
        [s for s in engine.sessions() if s.status is SessionStatus.EXITED and s.id not in skip]) if alive}
    for sid in sorted(live):
        engine.store.mutate(sid, lambda s: None, event=Event(session_id=sid, kind="recovered",
                                                             data={"note": "agent found running"}))
        report.append(f"{sid}: its agent is running (status kept: {engine.session(sid).status.value})")
    for s in engine.sessions():
        if s.id in skip or s.status in (SessionStatus.KILLED, SessionStatus.DONE, SessionStatus.MERGED):
            continue
        try:
            if s.pr is None:
                pr = _find_pr(engine, s)
                if pr is not None:
                    engine.store.update(s.id, pr=pr, pr_opened_at=s.pr_opened_at or utcnow())
                    report.append(f"{s.id}: PR #{pr.number} found by its branch")
            if engine.session(s.id).pr is not None:
                before = engine.session(s.id).status
                engine.refresh_pr(s.id)
                after = engine.session(s.id).status
                if after is not before:
                    report.append(f"{s.id}: {before.value} -> {after.value} (its PR as it is now)")
        except Exception as exc:
            report.append(f"{s.id}: PR not checked ({exc})")
    return report


def clean(engine: Engine, orphans: Orphans) -> list[str]:
    """Stop orphan tmux sessions and remove orphan workspaces (a branch with unsaved work is kept)."""
    report = []
    for handle, project in sorted(orphans.tmux.items()):
        name = project or next(iter(engine.config.projects), "")
        try:
            engine.plugin("runtime", name).kill(handle)
            report.append(f"stopped tmux session {handle}")
        except Exception as exc:
            report.append(f"tmux session {handle} not stopped: {exc}")
    for sid, (project, path) in sorted(orphans.workspaces.items()):
        if not project:
            report.append(f"{path}: left (no configured project owns it)")
            continue
        cfg = engine.project_config(project)
        try:
            engine.workspace(project).remove(cfg.repo, path, _branch_of(path) or f"{cfg.branch_prefix}{sid}")
            report.append(f"removed workspace {path}")
        except Exception as exc:
            report.append(f"{path}: kept ({exc})")
    return report  # session dirs (hook events, a few KB) are kept: they are what a later recovery reads
