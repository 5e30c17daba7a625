"""The engine: spawns sessions, acts on them, and runs the watch loop.

Everything a user can do (CLI, TUI, orchestrator) goes through ``Engine``.
It knows nothing of Textual. Plugins are reached only through their slot
interfaces, created per project from the config.

Crash safety of ``spawn``: the session row (with its id, branch, workspace
path and the agent's session id decided up front) is written *before* any
side effect, so a ``kill -9`` at any point leaves a tracked session that
``reconcile`` finishes or marks exited — never an untracked worktree or a
duplicate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ao_tui import commit_trailer, git, leader, lifecycle, paths, session_changes
from ao_tui.config import LOCAL_HOST, Config, ProjectConfig
from ao_tui.errors import AoError, NotFound
from ao_tui.models import Activity, ActivityState, Event, PullRequest, Session, SessionStatus, Task, utcnow
from ao_tui.names import validate_branch, validate_session_id
from ao_tui.prompts import session_rules, task_prompt
from ao_tui.registry import create
from ao_tui.session_changes import ChangedFile, Commit
from ao_tui.slots.agent import Agent, LaunchSpec
from ao_tui.slots.base import PluginContext
from ao_tui.slots.notifier import Notification, Notifier
from ao_tui.slots.runtime import Runtime
from ao_tui.slots.scm import SCM
from ao_tui.slots.terminal import Terminal
from ao_tui.slots.tracker import Tracker
from ao_tui.slots.workspace import Workspace
from ao_tui.store import Store, open_store

if TYPE_CHECKING:
    from ao_tui.remote import RemoteHosts
    from ao_tui.slots.reaction import Trigger

log = logging.getLogger("ao.engine")

#: An update pushed to in-process listeners (the TUI) when a session changes.
Listener = Callable[[Session], None]


class Loop(Protocol):
    """The leader's watch loop as the engine sees it (``ao_tui.engine_loop.EngineLoop``, a layer up):
    the engine starts and stops it, and tells it at once what its own commands did."""

    def acquire(self, fd: int | None = None) -> bool: ...  # take the engine lock (False: another process leads)
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def track(self, session: Session) -> None: ...  # an agent was started (spawn, restore)
    def untrack(self, session_id: str) -> None: ...  # an agent was stopped (kill)
    def fence(self, session_id: str) -> None: ...  # text was typed: queued messages wait for this turn
    def wake(self) -> None: ...  # a message was queued
    def on_merged(self, session: Session) -> None: ...
    def handle_triggers(self, triggers: list[Trigger]) -> None: ...  # what a PR poll found


#: Builds the loop an engine runs while it leads. Whoever starts the engine passes it in
#: (``ao_tui.orchestrator.loop_hooks.leader_loop``: the loop with autopilot and the escalation chain).
LoopFactory = Callable[["Engine"], Loop]


@dataclass(frozen=True)
class SearchHit:
    session: Session
    matched: str  # what matched: "id", "pr", "task", "branch", "status", "title"


#: How to get each built-in agent when its command is missing.
#: Variables by which CLIs decide they run in CI, headless (see interactive_environment).
CI_VARIABLES = ("CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS")

INSTALL_HINTS = {
    "claude-code": "npm install -g @anthropic-ai/claude-code",
    "aider": "python -m pip install aider-install && aider-install",
    "codex": "npm install -g @openai/codex",
    "gemini": "npm install -g @google/gemini-cli",
}


def interactive_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The agent runs in a terminal ao types into: a ``CI`` variable inherited from ao's shell (a CI
    runner, some dev containers) would make Gemini CLI run headless and exit, and Ink-based CLIs stop
    redrawing. Each such variable present is set to ``false``, which both readings take as "not CI"."""
    return {name: "false" for name in CI_VARIABLES if name in environ}


def _check_executable(command: str, env: dict[str, str], agent: str) -> None:
    """Refuse to start an agent whose program is not there: a pane that dies at once says nothing."""
    found = shutil.which(command, path=env.get("PATH") or os.environ.get("PATH"))
    if found is None:
        hint = INSTALL_HINTS.get(agent)
        raise AoError(
            f"agent {agent}: `{command}` was not found on PATH"
            + (f"; install it ({hint})" if hint else "")
            + " or set agent.command in the config to where it is"
        )


def _origin_url(repo: Path) -> str:
    """Where a host clones the project from: the repository's ``origin`` (the host fetches it itself)."""
    out = git.run(repo, "remote", "get-url", "origin", check=False, timeout=30)
    if out.returncode != 0 or not out.stdout.strip():
        raise AoError(f"{repo} has no origin remote: a host clones the project from its origin")
    return out.stdout.strip()


class Engine:
    """The façade over store, config and plugins."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or open_store()
        self._plugins: dict[tuple[str, str, str], Any] = {}
        self._listeners: list[Listener] = []
        self._notice_listeners: list[Callable[[Notification], None]] = []
        self._lock = threading.RLock()
        self._loop: Loop | None = None  # while this process leads (``start``)
        self._pr_locks: dict[str, threading.Lock] = {}
        self._remote: RemoteHosts | None = None  # made when a session on another host is touched
        #: Where what a user should hear about hosts goes (ao installed there, a host lost and back).
        self.host_say: Callable[[str], None] = lambda text: log.info("%s", text)
        from ao_tui.store_upkeep import DiskWatch

        self.disk = DiskWatch(self)  # a full disk: reported once, new sessions refused until space is back

    # -- plugins -------------------------------------------------------------

    def project_config(self, project: str) -> ProjectConfig:
        return self.config.project(project)[1]

    def _context(self, project: str | None, options: dict[str, Any]) -> PluginContext:
        return PluginContext(
            ao_home=paths.ao_home(),
            tmux_socket=paths.tmux_socket_name(),
            project=project,
            project_config=self.config.projects.get(project) if project else None,
            options=options,
        )

    def plugin(self, slot: str, project: str, name: str | None = None) -> Any:
        """The plugin filling ``slot`` for ``project`` (created once, then cached)."""
        cfg = self.project_config(project)
        if slot == "agent":
            name = name or cfg.agent.plugin
            options = cfg.agent_options(name).model_dump(exclude={"plugin"})
        else:
            ref = getattr(cfg, slot)
            name = name or ref.plugin
            options = ref.options
        key = (slot, project, name)
        with self._lock:
            if key not in self._plugins:
                self._plugins[key] = create(slot, name, self._context(project, options))
            return self._plugins[key]

    def forget_plugins(self, slot: str) -> None:
        """Drop cached plugins of ``slot`` (after closing them): the next use creates new ones."""
        with self._lock:
            for key in [k for k in self._plugins if k[0] == slot]:
                del self._plugins[key]

    def runtime(self, session: Session) -> Runtime:
        if session.host != LOCAL_HOST:
            return self.remote.runtime(session.host)
        runtime: Runtime = self.plugin("runtime", session.project, session.runtime)
        return runtime

    @property
    def remote(self) -> RemoteHosts:
        """The links to SSH hosts (``ao_tui.remote.RemoteHosts``), made on first use."""
        with self._lock:
            if self._remote is None:
                from ao_tui.remote import RemoteHosts

                self._remote = RemoteHosts(self.config, paths.ao_home())
                self._remote.say = lambda text: self.host_say(text)
            return self._remote

    def close_hosts(self) -> None:
        """Let go of the SSH hosts' links (ao there ends; the agents live on in the host's tmux)."""
        with self._lock:
            remote, self._remote = self._remote, None
        if remote is not None:
            remote.close()

    def agent(self, session: Session) -> Agent:
        agent: Agent = self.plugin("agent", session.project, session.agent)
        return agent

    def workspace(self, project: str) -> Workspace:
        workspace: Workspace = self.plugin("workspace", project)
        return workspace

    def tracker(self, project: str) -> Tracker:
        tracker: Tracker = self.plugin("tracker", project)
        return tracker

    def scm(self, project: str) -> SCM:
        scm: SCM = self.plugin("scm", project)
        return scm

    def notifiers(self, project: str) -> list[Notifier]:
        cfg = self.project_config(project)
        result = []
        for ref in cfg.notifiers:
            key = ("notifier", project, ref.plugin)
            with self._lock:
                if key not in self._plugins:
                    self._plugins[key] = create("notifier", ref.plugin, self._context(project, ref.options))
            result.append(self._plugins[key])
        return result

    # -- listeners -------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def subscribe_notifications(self, listener: Callable[[Notification], None]) -> Callable[[], None]:
        """In-process listeners (the TUI's toasts) for what the notifiers are told."""
        self._notice_listeners.append(listener)
        return lambda: self._notice_listeners.remove(listener) if listener in self._notice_listeners else None

    def announce(self, session: Session) -> Session:
        """Tell the in-process listeners (``subscribe``: the TUI) that ``session`` changed; returns it."""
        for listener in list(self._listeners):
            try:
                listener(session)
            except Exception:  # a listener must never break the engine
                log.exception("listener failed")
        return session

    # -- queries -----------------------------------------------------------

    def sessions(self, project: str | None = None, *, include_at_rest: bool | datetime = True,
                 at_rest_limit: int | None = None) -> list[Session]:
        """Every session; ``include_at_rest=False`` (what a pass of the loop reads) leaves out the
        done and killed ones (``lifecycle.AT_REST``), a datetime keeps those of them changed since,
        ``at_rest_limit`` the newest that many of them."""
        return self.store.list_sessions(project, include_at_rest=include_at_rest, at_rest_limit=at_rest_limit)

    def recent_sessions(self, project: str | None = None, *, now: datetime | None = None) -> list[Session]:
        """The live sessions and the recently finished ones (``lifecycle.RECENT_WINDOW``, at most
        ``RECENT_MAX``): what a screen shows unless asked for all. The older ones are left unread."""
        since = (now or utcnow()) - lifecycle.RECENT_WINDOW
        return self.sessions(project, include_at_rest=since, at_rest_limit=lifecycle.RECENT_MAX)

    def count_at_rest(self, project: str | None = None) -> int:
        """How many done and killed sessions the store keeps (counted, none read)."""
        return self.store.count_sessions(lifecycle.AT_REST, project)

    def search_at_rest(self, text: str, limit: int = 50) -> list[Session]:
        """Done and killed sessions with id ``text`` or whose record mentions it (a PR number, a
        title word, a branch), newest first: how a screen showing only the recent ones finds an older one."""
        return self.store.search_sessions(text, lifecycle.AT_REST, limit)

    def session(self, session_id: str) -> Session:
        return self.store.get_session(session_id)

    def observed_sessions(self, project: str | None = None, *, recent: bool = False,
                          now: datetime | None = None) -> list[Session]:
        """Sessions as they are now, for showing (``ao ls``, a following UI, the orchestrator);
        with ``recent``, the live and recently finished ones only (``recent_sessions``).

        While an engine runs (here or in another process) it keeps the store current. With
        none, what is stored may be long past: each live agent's activity is read now from its
        own files (``ao_tui.activity.snapshot``, the engine's detector), and its status shown as
        the engine would set it. Nothing is written: the next engine decides for itself.
        """
        sessions = self.recent_sessions(project, now=now) if recent else self.sessions(project)
        if self._loop is not None or leader.leader_pid() is not None:
            return sessions
        shown = []
        for s in sessions:
            if lifecycle.has_live_agent(s.status) and s.status is not SessionStatus.SPAWNING:
                activity = self.read_activity(s)
                status = lifecycle.status_for_activity(s.status, activity.state)
                if not lifecycle.can_transition(s.status, status):
                    status = s.status
                s = s.model_copy(update={"activity": activity, "status": status})
            shown.append(s)
        return shown

    def read_activity(self, session: Session) -> Activity:
        """The agent's activity read now from its files (see ``observed_sessions``)."""
        from ao_tui.activity.snapshot import read_activity

        try:
            agent = self.agent(session)
        except Exception as exc:
            return Activity(state=ActivityState.UNKNOWN, source="files", detail=f"agent plugin unavailable: {exc}")
        local = session.host == LOCAL_HOST  # a remote agent's files are the host's: its screen is read
        hooks = agent.has_hooks and local
        events_file = paths.session_dir(session.id) / "hook-events.jsonl" if hooks else None

        def transcript() -> Path | None:
            return agent.transcript_path(self.launch_spec(session)) if agent.has_transcript else None

        try:
            return read_activity(events_file, transcript if agent.has_transcript and local else None,
                                 lambda: self.screen(session), agent.read_screen,
                                 screen_polled=agent.screen_polled)
        except Exception as exc:  # noqa: BLE001 - a listing must show every session, whatever one's files hold
            return Activity(state=ActivityState.UNKNOWN, source="files", detail=f"cannot read its files: {exc}")

    def screen(self, session: Session) -> tuple[str, str] | None:
        """The agent's visible screen and its pane title; None if it has no live pane."""
        try:
            runtime = self.runtime(session)
            pane = runtime.panes().get(session.runtime_handle)
            if pane is None or pane.dead:
                return None
            return runtime.capture(session.runtime_handle), pane.title
        except Exception as exc:
            log.debug("screen read for %s failed: %s", session.id, exc)
            return None

    def events(self, session_id: str, limit: int = 200) -> list[Event]:
        return self.store.events(session_id, limit=limit)

    def backlog(self, project: str | None = None, include_done: bool = False) -> list[Task]:
        name, _ = self.config.project(project)
        return self.tracker(name).list_tasks(include_done=include_done)

    def find(self, query: str) -> list[SearchHit]:
        """Sessions matching ``query`` by id, PR number (``#12``), task, branch, status or title."""
        q = query.strip().lower()
        if not q:
            return []
        hits: list[SearchHit] = []
        for s in self.sessions():
            pr_num = s.pr.number if s.pr else None
            if q == s.id.lower():
                hits.insert(0, SearchHit(s, "id"))
            elif q.lstrip("#").isdigit() and pr_num is not None and int(q.lstrip("#")) == pr_num:
                hits.insert(0, SearchHit(s, "pr"))
            elif s.task_id and q in (s.task_id.lower(), f"#{s.task_id.lower()}"):
                hits.append(SearchHit(s, "task"))
            elif q in s.branch.lower():
                hits.append(SearchHit(s, "branch"))
            elif q == s.status.value:
                hits.append(SearchHit(s, "status"))
            elif q in s.id.lower() or q in s.title.lower():
                hits.append(SearchHit(s, "title"))
        return hits

    # -- spawn ---------------------------------------------------------------

    def spawn(
        self,
        project: str | None = None,
        task_id: str | None = None,
        prompt: str | None = None,
        *,
        agent: str | None = None,
        host: str | None = None,
    ) -> Session:
        """Create a session: record it, make its workspace, start its agent.

        It runs on ``host`` if given (and the project allows it), else on the allowed host with room
        and the fewest live sessions (``hosts.place``)."""
        if not task_id and not (prompt and prompt.strip()):
            raise AoError("spawn needs a task id or a prompt")
        self.disk.refuse_spawn()
        name, cfg = self.config.project(project)
        if not (cfg.repo / ".git").exists():
            raise AoError(f"project {name}: {cfg.repo} is not a git repository")
        self._check_room(name, cfg.max_sessions)
        from ao_tui import budget
        from ao_tui.limit_resume import check_spawn

        check_spawn(self, name, agent)  # the agent's account at its usage limit: start after the reset
        budget.check_spawn(self, name)  # a spent budget: start once it is raised or the human says go on
        task = self.tracker(name).get_task(task_id) if task_id else None
        agent_plugin: Agent = self.plugin("agent", name, agent)
        # Counting the live sessions and recording the new one is one step across processes (two
        # `ao spawn` at once never make max_sessions + 1); the agent then starts outside it.
        with leader.FileLock(paths.ensure_dir(paths.ao_home()) / f"spawn-{name}.lock") as room:
            self._check_room(name, cfg.max_sessions)
            where = self._place(cfg, host)
            return self._spawn(name, cfg, task, prompt, agent_plugin, room, where)

    def _place(self, cfg: ProjectConfig, pinned: str | None) -> str:
        """The host a new session runs on (``local`` for a project with no other hosts)."""
        if pinned is None and self.config.hosts_of(cfg) == [LOCAL_HOST]:
            return LOCAL_HOST
        from ao_tui.hosts import place

        live: dict[str, int] = {}
        for s in self.sessions(include_at_rest=False):
            if lifecycle.has_live_agent(s.status):
                live[s.host] = live.get(s.host, 0) + 1
        return place(self.config, cfg, live, pinned)

    def _check_room(self, project: str, max_sessions: int) -> None:
        live = [s for s in self.sessions(project, include_at_rest=False) if lifecycle.has_live_agent(s.status)]
        if len(live) >= max_sessions:
            raise AoError(f"project {project} already has {len(live)} live sessions (max_sessions: {max_sessions})")

    def _spawn(self, name: str, cfg: ProjectConfig, task: Task | None, prompt: str | None, agent_plugin: Agent,
               room: leader.FileLock, host: str = LOCAL_HOST) -> Session:
        session_id = self.store.next_session_id(cfg.session_prefix)
        branch = validate_branch(f"{cfg.branch_prefix}{session_id}")
        remote = host != LOCAL_HOST
        # A remote session's worktree is the host's: its path is learnt from the host, never opened here.
        workspace_path = "" if remote else str(paths.workspaces_root() / name / session_id)
        session = Session(
            id=session_id,
            project=name,
            task_id=task.id if task else None,
            task_title=task.title if task else "",
            prompt=task_prompt(task, prompt),
            branch=branch,
            workspace=workspace_path,
            runtime="host" if remote else cfg.runtime.plugin,
            runtime_handle=session_id,
            host=host,
            agent=agent_plugin.name,
            agent_session_id=agent_plugin.new_agent_session_id(),
            model=cfg.agent_options(agent_plugin.name).model or "",
        )
        with self.launching(session_id):
            self.store.insert_session(session)
            room.release()  # recorded (and live): the next spawn counts it
            self.announce(session)
            try:
                return self._launch(session, restore=False, task=task)
            except Exception as exc:
                from ao_tui.store_health import describe, is_no_space

                reason = str(exc) if isinstance(exc, AoError) else f"{type(exc).__name__}: {exc}"
                full = is_no_space(exc)
                if full:
                    self.disk.report(exc)
                try:
                    self.store.transition(session_id, SessionStatus.ERRORED, reason=f"spawn failed: {reason}",
                                          escalation=reason)
                    self.announce(self.session(session_id))
                except Exception as again:
                    if not self.disk.report(again):
                        raise
                if full:
                    raise (exc if isinstance(exc, AoError) else describe(exc, paths.store_path()) or exc) from None
                raise

    def launching(self, session_id: str) -> contextlib.AbstractContextManager[None]:
        """Held by the process starting a session's agent (spawn, restore), whichever it is:
        ``reconcile`` in any process leaves a session it holds alone (a spawn under way is not
        an interrupted one), and two restores of one session take turns."""
        return leader.holding(paths.ensure_dir(paths.session_dir(session_id)) / "launch.lock")

    def being_launched(self, session_id: str) -> bool:
        return leader.held(paths.session_dir(session_id) / "launch.lock")

    def launch_spec(self, session: Session) -> LaunchSpec:
        """What the agent plugin is given to start, restore or read ``session``'s agent."""
        cfg = self.project_config(session.project)
        self.agent(session)  # an agent plugin that cannot load fails here, before anything is launched
        options = cfg.agent_options(session.agent)
        model = session.model or options.model or ""
        from ao_tui.outcomes import lessons_for  # learning from outcomes

        lessons = lessons_for(self.store, session.project)
        rules = session_rules(session.branch, self.model_trailer(session), options.rules, lessons, cfg.scm.plugin)
        return LaunchSpec(
            session_id=session.id,
            agent_session_id=session.agent_session_id,
            # on another host: the host's path (start-up dialogs name it), never opened here
            workspace=Path(session.workspace or session.extra.get("remote_workspace") or ""),
            prompt=session.prompt,
            model=model or None,
            permission_mode=options.permission_mode,
            extra_rules=rules,
            events_file=self.events_file(session.id),
            command=options.command,
            env=dict(options.env),
        )

    def model_trailer(self, session: Session) -> str:
        """The trailer the session's commits carry: its model once known, else the configured one, else the agent."""
        model = session.model or self.project_config(session.project).agent_options(session.agent).model or ""
        return self.agent(session).model_trailer(model or session.agent)

    def update_commit_trailer(self, session: Session) -> None:
        try:
            commit_trailer.write_trailer(paths.ensure_dir(paths.session_dir(session.id)), self.model_trailer(session))
        except (OSError, AoError) as exc:
            log.warning("commit trailer for %s not updated: %s", session.id, exc)

    def events_file(self, session_id: str) -> Path:
        return paths.ensure_dir(paths.session_dir(session_id)) / "hook-events.jsonl"

    def _launch(self, session: Session, *, restore: bool, task: Task | None = None) -> Session:
        if session.host != LOCAL_HOST:
            return self._launch_remote(session, restore=restore, task=task)
        cfg = self.project_config(session.project)
        workspace_path = Path(session.workspace)
        ws = self.workspace(session.project)
        # A marker lives while the workspace is being made: found at launch, the last making was cut
        # off (kill -9 mid-spawn) and the checkout may lack its included files or setup: make it again.
        session_dir = paths.ensure_dir(paths.session_dir(session.id))
        making = session_dir / "workspace-incomplete"
        if making.exists() and ws.exists(workspace_path):
            ws.discard(cfg.repo, workspace_path)
        if not ws.exists(workspace_path):
            making.touch()
            ws.create(cfg.repo, session.id, session.branch, cfg.default_branch)
            making.unlink()
        agent = self.agent(session)
        spec = self.launch_spec(session)
        agent.prepare_workspace(spec)
        argv = agent.restore_argv(spec) if restore else agent.launch_argv(spec)
        env = {**interactive_environment(os.environ), **agent.environment(spec)}
        _check_executable(argv[0], env, agent.name)
        self._launch_notice(session, agent, argv[0], env)
        env["AO_SESSION_ID"] = session.id
        env.update(commit_trailer.install(session_dir, workspace_path, self.model_trailer(session)))
        runtime = self.runtime(session)
        if session.runtime_handle in runtime.list_handles():
            runtime.kill(session.runtime_handle)  # a dead pane kept for its exit status
        runtime.create(session.runtime_handle, workspace_path, argv, env)
        return self._launched(session, spec, restore=restore, task=task)

    def _launch_remote(self, session: Session, *, restore: bool, task: Task | None) -> Session:
        """Start the session's agent on its SSH host: the host's worktree (from its own clone of the
        project's ``origin``), the agent's argv and environment sent to ao there as data. Nothing is
        written on this machine for it, and no token is written on the host (tmux holds the env)."""
        import dataclasses

        cfg = self.project_config(session.project)
        remote = self.remote
        worktree = session.extra.get("remote_workspace")
        if not worktree:
            url = _origin_url(cfg.repo)
            worktree = remote.make_workspace(session.host, session.project, url, session.id, session.branch,
                                             cfg.default_branch)
            session = self.store.mutate(session.id, lambda s: s.extra.update(remote_workspace=worktree))
        agent = self.agent(session)
        # The agent's files are the host's. Its hooks append there and ao on the host streams each line
        # back into this machine's copy (RemoteHosts.follow); without hooks it is read from its screen.
        spec = dataclasses.replace(self.launch_spec(session), workspace=Path(worktree), events_file=None)
        argv = agent.restore_argv(spec) if restore else agent.launch_argv(spec)
        hooks = self._remote_hooks(session, agent)
        if hooks:
            cut = len(agent.executable(spec))  # after the program, before its flags and the prompt
            argv = [*argv[:cut], *hooks, *argv[cut:]]
        if bool(hooks) != bool(session.extra.get("remote_hooks")):
            session = self.store.mutate(session.id, lambda s: s.extra.update(remote_hooks=bool(hooks)))
        env = {**interactive_environment(os.environ), **agent.environment(spec), "AO_SESSION_ID": session.id}
        runtime = self.runtime(session)
        if session.runtime_handle in runtime.list_handles():
            runtime.kill(session.runtime_handle)  # a dead pane kept for its exit status
        runtime.create(session.runtime_handle, Path(worktree), argv, env)
        return self._launched(session, spec, restore=restore, task=task)

    def _remote_hooks(self, session: Session, agent: Agent) -> list[str]:
        """The agent's hooks given on its command line, appending to the host's events file through the
        host's own ao (``python -m ao_tui.activity.hook``); empty for an agent without them."""
        if not agent.has_hooks:
            return []
        import shlex

        link = self.remote.link(session.host)
        events = str(link.call("events_file", session=session.id))
        state = link.state_dir
        hook = shlex.join([f"{state}/venv/bin/python", "-m", "ao_tui.activity.hook", "--session", session.id,
                           "--out", events])
        return agent.settings_argv(hook) or []

    def _launched(self, session: Session, spec: LaunchSpec, *, restore: bool, task: Task | None) -> Session:
        agent = self.agent(session)
        updated = self.store.transition(
            session.id,
            SessionStatus.WORKING,
            reason="restored" if restore else "agent started",
            activity=Activity(state=ActivityState.WORKING, source="runtime", detail="starting"),
            exit_code=None,
            escalation="",
        )
        if not restore and agent.types_prompt:
            self.store.enqueue_message(session.id, spec.prompt, key="task")  # typed in once it is at its prompt
        if task is not None and not restore:
            try:
                tracker = self.tracker(session.project)
                tracker.set_status(task.id, "in_progress")
                tracker.on_session_started(task, session.id, session.branch)
            except Exception as exc:  # the tracker must not undo a running session
                log.warning("tracker update for %s failed: %s", session.id, exc)
        if self._loop is not None:
            self._loop.track(updated)
        return self.announce(updated)

    def _launch_notice(self, session: Session, agent: Agent, command: str, env: dict[str, str]) -> None:
        """What the agent plugin wants said before it runs (Claude Code outside the tested versions):
        an event on every session it concerns, and a notification once per state dir."""
        executable = shutil.which(command, path=env.get("PATH") or os.environ.get("PATH")) or command
        try:
            notice = agent.launch_notice(executable)
        except Exception:  # a notice must never stop an agent from starting
            log.exception("launch notice of %s", agent.name)
            return
        if not notice:
            return
        self.store.add_event(Event(session_id=session.id, kind="agent_notice", data={"notice": notice}))
        said = f"notice:{agent.name}:{notice}"
        if self.store.get_setting(said) is None:
            self.store.set_setting(said, utcnow().isoformat())
            self.notify(notice.split(";")[0], notice, session_id=session.id)

    # -- acting on a session ---------------------------------------------------

    def _live(self, session_id: str) -> Session:
        validate_session_id(session_id)
        session = self.session(session_id)
        if not self.runtime(session).status(session.runtime_handle).alive:
            raise AoError(f"session {session_id} has no live agent (status {session.status}); try `ao restore {session_id}`")
        return session

    def send(self, session_id: str, text: str) -> bool:
        """Type ``text`` into the agent and submit it, now (True). A session on a host that does not
        answer gets it through the outbox instead, typed once when the host is back (False)."""
        if not text.strip():
            raise AoError("nothing to send")
        session = self.session(validate_session_id(session_id))
        if session.host != LOCAL_HOST and lifecycle.has_live_agent(session.status):
            self.remote.link(session.host)
            if self.remote.unreachable_since(session.host) is not None:
                self.queue_message(session_id, text)
                return False
        session = self._live(session_id)
        if self._loop is not None:
            self._loop.fence(session_id)  # queued reaction messages wait for this turn
        self.agent(session).submit(self.runtime(session), session.runtime_handle, text)
        self.store.add_event(Event(session_id=session_id, kind="message", data={"from": "human", "chars": len(text)}))
        return True

    def queue_message(self, session_id: str, text: str, key: str | None = None) -> int | None:
        """Deliver ``text`` once the agent is at its prompt (reactions use this)."""
        self.session(session_id)
        msg = self.store.enqueue_message(session_id, text, key=key)
        if self._loop is not None:
            self._loop.wake()
        return msg

    def send_bytes(self, session_id: str, data: bytes) -> None:
        session = self.session(session_id)
        self.runtime(session).send_bytes(session.runtime_handle, data)

    def send_keys(self, session_id: str, *keys: str) -> None:
        session = self.session(session_id)
        self.runtime(session).send_keys(session.runtime_handle, *keys)

    def peek(self, session_id: str, *, escapes: bool = False, history: int = 0) -> str:
        session = self.session(session_id)
        runtime = self.runtime(session)
        # No list_handles() first: the live pane captures this every 25 ms while an agent floods,
        # and one tmux round trip is half the cost of two.
        try:
            if not session.runtime_handle:
                raise NotFound(session_id)
            return runtime.capture(session.runtime_handle, escapes=escapes, history=history)
        except NotFound:
            raise AoError(f"session {session_id} has no terminal (status {session.status})") from None

    def stream(self, session_id: str) -> AsyncIterator[bytes]:
        session = self.session(session_id)
        return self.runtime(session).stream(session.runtime_handle)

    def resize(self, session_id: str, width: int, height: int) -> None:
        session = self.session(session_id)
        self.runtime(session).resize(session.runtime_handle, width, height)

    def attach_argv(self, session_id: str) -> list[str]:
        session = self.session(session_id)
        runtime = self.runtime(session)
        if session.runtime_handle not in runtime.list_handles():
            raise AoError(f"session {session_id} has no terminal to attach to; try `ao restore {session_id}`")
        terminal: Terminal = self.plugin("terminal", session.project)
        return terminal.attach_argv(runtime.attach_argv(session.runtime_handle), bool(os.environ.get("TMUX")))

    def kill(self, session_id: str, reason: str = "killed by the human") -> Session:
        session = self.session(validate_session_id(session_id))
        if session.status is SessionStatus.KILLED:
            return session
        # Recorded first: the leader (here or in another process) sees the agent's end as ao's
        # doing, not an agent that died; `ao cleanup` stops a pane a failed kill left.
        stopped = Activity(state=ActivityState.EXITED, source="ao", detail="killed")
        updated = self.store.transition(session_id, SessionStatus.KILLED, reason=reason, activity=stopped)
        if self._loop is not None:
            self._loop.untrack(session_id)
        try:
            self.runtime(session).kill(session.runtime_handle)
        except AoError:
            if session.host == LOCAL_HOST or self.remote.unreachable_since(session.host) is None:
                raise
            # The host does not answer: its pane is stopped once it does (by the leader, or a restore).
            updated = self.store.mutate(session_id, lambda s: s.extra.update(kill_on_host=session.runtime_handle))
            self.store.add_event(Event(session_id=session_id, kind="host_kill_queued", data={"host": session.host}))
        return self.announce(updated)

    def carry_out_host_kill(self, session: Session) -> Session:
        """Stop the pane a kill left running on a host that did not answer then (once: the mark goes
        after). Raises while the host still does not answer."""
        handle = session.extra.get("kill_on_host")
        if not handle or session.host == LOCAL_HOST:
            return session
        if session.status is SessionStatus.KILLED:
            self.runtime(session).kill(str(handle))
            self.store.add_event(Event(session_id=session.id, kind="host_kill_done", data={"host": session.host}))
        return self.store.mutate(session.id, lambda s: s.extra.pop("kill_on_host", None))

    def restore(self, session_id: str) -> Session:
        """Bring a session back in its workspace with its conversation."""
        with self.launching(validate_session_id(session_id)):
            return self._restore(session_id)

    def _restore(self, session_id: str) -> Session:
        session = self.carry_out_host_kill(self.session(session_id))
        runtime = self.runtime(session)
        status = runtime.status(session.runtime_handle)
        if status.alive:
            return session
        if session.status in (SessionStatus.DONE, SessionStatus.MERGED):
            raise AoError(f"session {session_id} is {session.status}; nothing to restore")
        if not lifecycle.can_transition(session.status, SessionStatus.SPAWNING):
            # Still marked working (or with a PR) though its agent is gone: no engine saw it die.
            reason = "agent exited" if status.exit_code is not None else "agent not running (runtime gone)"
            self.store.transition(session_id, SessionStatus.EXITED, reason=reason, exit_code=status.exit_code)
        if session.status is not SessionStatus.SPAWNING:
            self.store.transition(session_id, SessionStatus.SPAWNING, reason="restore")
        return self._launch(self.session(session_id), restore=self._has_conversation(session))

    def _has_conversation(self, session: Session) -> bool:
        if session.host != LOCAL_HOST:
            # The transcript is the host's: an agent that names its conversation up front has one once
            # it was started there (ao does not read the host's files to check).
            return bool(session.extra.get("remote_workspace")) and self.agent(session).has_transcript
        return bool(self._transcript_exists(session))

    def _transcript_exists(self, session: Session) -> bool:
        try:
            path = self.agent(session).transcript_path(self.launch_spec(session))
        except Exception:
            return False
        return bool(path and path.exists())

    def remove_workspace(self, session_id: str, force: bool = False) -> None:
        session = self.session(session_id)
        if session.host != LOCAL_HOST:
            if session.extra.get("remote_workspace"):
                self.remote.remove_workspace(session.host, session.project, session.id, force=force)
            return
        cfg = self.project_config(session.project)
        ws = self.workspace(session.project)
        if ws.exists(Path(session.workspace)):
            ws.remove(cfg.repo, Path(session.workspace), session.branch, force=force)

    def cleanup(self, *, force: bool = False, dry_run: bool = False) -> list[str]:
        """Remove workspaces of finished sessions (never one with unmerged work unless forced)."""
        done: list[str] = []
        for s in self.sessions():
            if s.status not in (SessionStatus.KILLED, SessionStatus.DONE, SessionStatus.MERGED):
                continue
            if s.host != LOCAL_HOST:
                continue  # the host keeps its worktrees; `ao kill` leaves them like a local one
            if not self.workspace(s.project).exists(Path(s.workspace)):
                continue
            if dry_run:
                done.append(s.id)
                continue
            try:
                self.remove_workspace(s.id, force=force)
                done.append(s.id)
            except AoError as exc:
                log.warning("cleanup kept %s: %s", s.id, exc)
                self.store.add_event(Event(session_id=s.id, kind="cleanup_refused", data={"reason": str(exc)}))
        for s in self.sessions():
            runtime = self.runtime(s)
            if (s.status in (SessionStatus.KILLED, SessionStatus.DONE, SessionStatus.MERGED)
                    and s.runtime_handle in runtime.list_handles()):
                runtime.kill(s.runtime_handle)
        return done

    # -- what a session changed (read-only; git runs: call off a UI's event loop) ------

    def work_span(self, session_id: str) -> session_changes.WorkSpan:
        """Where the session's work is: its workspace, or its commits in the repository once retired."""
        session = self.session(session_id)
        cfg = self.project_config(session.project)
        if session.host != LOCAL_HOST:
            if not session.extra.get("remote_workspace"):
                raise AoError(f"session {session.id} has no workspace on {session.host} (yet)")
            link = self.remote.link(session.host)
            return session_changes.remote_span(lambda args: str(link.call("git", session=session.id, args=args)),
                                            cfg.default_branch)
        return session_changes.span_of(session, cfg.repo, cfg.default_branch)

    def commits(self, session_id: str, limit: int = 20) -> list[Commit]:
        """The session branch's own commits, newest first."""
        return session_changes.commits(self.work_span(session_id), limit)

    def changed_files(self, session_id: str) -> list[ChangedFile]:
        """Files the session changed against its base, committed or not."""
        return session_changes.changed_files(self.work_span(session_id))

    def diff(self, session_id: str, path: str | None = None) -> str:
        """The session's diff against its base (one file when ``path`` is given)."""
        return session_changes.diff(self.work_span(session_id), path)

    # -- PR, review, merge -------------------------------------------------------

    def open_pr(self, session_id: str) -> Session:
        session = self.session(session_id)
        cfg = self.project_config(session.project)
        body = session.prompt[:4000]
        if session.task_id:
            body += f"\n\nTask: {session.task_id}"
        scm = self.scm(session.project)
        workspace = Path(session.workspace)
        if session.host != LOCAL_HOST:
            self._publish_remote(session, scm)
            workspace = cfg.repo  # the branch is here now: the SCM reads it from the repository
        else:
            scm.publish_branch(cfg.repo, workspace, session.branch)  # GitHub: push what the agent did not
        pr = scm.open_pr(
            cfg.repo, workspace, session.branch, cfg.default_branch, session.title or session.id, body
        )
        target = SessionStatus.PR_OPEN if session.status is not SessionStatus.PR_OPEN else session.status
        updated = self.store.transition(session_id, target, reason="PR opened", pr=pr, pr_opened_at=utcnow())
        return self.announce(updated)

    def _publish_remote(self, session: Session, scm: SCM) -> None:
        """A remote session's branch where its PR needs it: pushed by the host to ``origin`` (what an SCM
        that publishes, GitHub, reads), and fetched into the project's repository here over the host's
        connection (what the local SCM reviews and merges)."""
        cfg = self.project_config(session.project)
        worktree = session.extra.get("remote_workspace")
        if not worktree:
            raise AoError(f"session {session.id} has no worktree on {session.host} yet")
        try:
            self.remote.link(session.host).call("push", worktree=worktree, branch=session.branch)
        except AoError as exc:
            if type(scm).publish_branch is not SCM.publish_branch:  # this SCM sees only what is pushed
                raise
            log.info("push of %s from %s: %s (the local SCM reads the branch fetched here)", session.branch,
                     session.host, exc)
        self.remote.bring_branch(session.host, session.project, session.branch, cfg.repo)

    def forget_gone(self, kept: list[Session]) -> None:
        """Drop per-session locks, and what the SCMs made so far keep per PR, of every session but
        ``kept`` (the others were retired or deleted; the loop calls this)."""
        keep = {s.id for s in kept}
        with self._lock:
            for sid in [k for k in self._pr_locks if k not in keep]:
                del self._pr_locks[sid]
            scms = [(project, plugin) for (slot, project, _), plugin in self._plugins.items() if slot == "scm"]
        for project, scm in scms:
            cfg = self.config.projects.get(project)
            if cfg is None:
                continue
            try:
                scm.forget_except(cfg.repo, [(Path(s.workspace), s.branch, s.pr) for s in kept
                                             if s.project == project])
            except Exception:  # noqa: BLE001 - a plugin's bookkeeping must not stop the loop
                log.exception("scm of %s: forgetting retired sessions' PRs", project)

    def refresh_pr(self, session_id: str) -> PullRequest | None:
        """Ask the SCM for the PR's truth and apply it: status, counters, reactions.

        Every path that learns PR state goes through here (the loop's polls,
        the human's approve / request-changes), so counters advance once and
        the reactions see every change. Triggers are handed to the loop when
        this process runs it; otherwise the process that does re-derives them
        on its next poll (they are keyed by their cause, so nothing doubles).
        """
        with self._lock:
            lock = self._pr_locks.setdefault(session_id, threading.Lock())
        with lock:  # the loop's poll and the human's review must not both count one change
            return self._refresh_pr(session_id)

    def _refresh_pr(self, session_id: str) -> PullRequest | None:
        from ao_tui.pr_evaluation import evaluate

        session = self.session(session_id)
        if session.pr is None:
            return None
        cfg = self.project_config(session.project)
        pr = self.scm(session.project).pr_status(cfg.repo, Path(session.workspace), session.pr)
        decision = evaluate(session, pr)
        target = decision.status if lifecycle.can_transition(session.status, decision.status) else session.status

        # What was escalated (CI red or changes requested beyond retries...) is over once the
        # PR has moved on to a healthy state: the session leaves *Needs you*.
        resolved = bool(session.escalation) and target is not session.status and target in (
            SessionStatus.REVIEW_PENDING, SessionStatus.APPROVED, SessionStatus.MERGEABLE, SessionStatus.MERGED)

        applied: list[bool] = []

        def change(s: Session) -> None:
            applied.append(True)
            s.pr = pr
            for key, value in decision.fields.items():
                setattr(s, key, value)
            if resolved:
                s.escalation = ""

        updated = self.store.mutate(session_id, change, status=target, reason=decision.reason,
                                    only_from={session.status})
        if not applied:  # another process moved it on while the SCM was asked (`ao merge`): the next poll decides
            return pr
        if resolved:
            self.store.add_event(Event(session_id=session_id, kind="escalation_resolved",
                                       data={"reason": session.escalation, "now": target.value}))
        self.announce(updated)
        loop = self._loop
        if loop is not None:
            loop.handle_triggers(decision.triggers)
            if target is SessionStatus.MERGED and session.status is not SessionStatus.MERGED:
                loop.on_merged(updated)
        return pr

    def approve(self, session_id: str, body: str = "") -> Session:
        session = self.session(session_id)
        if session.pr is None:
            raise AoError(f"session {session_id} has no PR to approve")
        self.scm(session.project).approve(self.project_config(session.project).repo, session.pr, body)
        self.store.add_event(Event(session_id=session_id, kind="review", data={"action": "approve"}))
        self.refresh_pr(session_id)
        return self.session(session_id)

    def request_changes(self, session_id: str, body: str) -> Session:
        session = self.session(session_id)
        if session.pr is None:
            raise AoError(f"session {session_id} has no PR to review")
        if not body.strip():
            raise AoError("a change request needs a comment")
        self.scm(session.project).request_changes(self.project_config(session.project).repo, session.pr, body)
        self.store.add_event(Event(session_id=session_id, kind="review", data={"action": "request_changes"}))
        self.refresh_pr(session_id)
        return self.session(session_id)

    def merge_blockers(self, session: Session) -> list[str]:
        """Why merging now would be unwise; empty when approved and green."""
        from ao_tui.models import CheckState, ReviewState

        if session.pr is None:
            return ["no PR"]
        reasons = []
        if session.pr.ci is CheckState.FAILED:
            reasons.append("CI is failing")
        elif session.pr.ci in (CheckState.PENDING, CheckState.RUNNING):
            reasons.append("CI has not finished")
        if session.pr.review is not ReviewState.APPROVED:
            reasons.append("not approved")
        if session.pr.has_conflicts:
            reasons.append("has merge conflicts")
        return reasons

    def merge(self, session_id: str, method: str | None = None, *, force: bool = False) -> Session:
        session = self.session(session_id)
        if session.pr is None:
            raise AoError(f"session {session_id} has no PR to merge")
        blockers = self.merge_blockers(session)
        if blockers and not force:
            raise AoError(f"refusing to merge {session_id}: {', '.join(blockers)} (insist with --force)")
        cfg = self.project_config(session.project)
        green = cfg.reactions.get("approved_and_green")
        # Unless the human or the reaction config names a method, the SCM's own option decides.
        method = method or (green.method if green else None) or cfg.scm.options.get("merge_method")
        scm = self.scm(session.project)
        pr = scm.merge(cfg.repo, session.pr, method) if method else scm.merge(cfg.repo, session.pr)
        updated = self.store.transition(
            session_id, SessionStatus.MERGED, reason=f"merged ({method or 'default method'})", pr=pr, merged_at=utcnow()
        )
        self.close_task(updated)
        if self._loop is not None:
            self._loop.on_merged(updated)  # else the next engine loop records it (merged elsewhere)
        return self.announce(updated)

    def close_task(self, session: Session) -> None:
        """The session's PR merged: its tracker task is done (so a plan's dependents start).

        Once per session, whoever notices the merge first (``Engine.merge``, or the engine
        loop finding it merged elsewhere): a claim in the store decides.
        """
        if not session.task_id:
            return
        key = f"{session.id}:task_done"
        # Claimed under "engine", not the session: the reaction runner never replays it as a reaction.
        if not self.store.claim(key, "engine", "pr_merged", "task_done"):
            return
        try:
            tracker = self.tracker(session.project)
            task = tracker.get_task(session.task_id)
            tracker.set_status(task.id, "done")
            tracker.on_merged(task, session.id, session.pr.url if session.pr else "")
            self.store.set_claim_state(key, "done")
        except Exception as exc:
            self.store.set_claim_state(key, "failed", {"error": str(exc)})
            log.warning("tracker close for %s failed: %s", session.id, exc)

    # -- escalation and notification ---------------------------------------------

    def escalate(self, session_id: str, reason: str) -> Session:
        session = self.store.update(session_id, escalation=reason)
        self.store.add_event(Event(session_id=session_id, kind="escalated", data={"reason": reason}))
        self.notify(f"{session_id} needs you", reason, session_id=session_id, urgency="critical")
        return self.announce(session)

    def notify(self, title: str, body: str = "", session_id: str | None = None, urgency: str = "normal") -> None:
        notice = Notification(title=title, body=body, session_id=session_id, urgency=urgency)
        for listener in list(self._notice_listeners):
            try:
                listener(notice)
            except Exception:
                log.exception("notification listener failed")
        project = self.session(session_id).project if session_id else next(iter(self.config.projects), None)
        if project is None:
            return
        for notifier in self.notifiers(project):
            try:
                notifier.notify(Notification(title=title, body=body, session_id=session_id, urgency=urgency))
            except Exception as exc:
                log.warning("notifier %s failed: %s", notifier.name, exc)

    # -- recovery --------------------------------------------------------------

    def agent_liveness(self, sessions: list[Session]) -> Iterator[tuple[Session, bool, int | None]]:
        """Each session's agent: alive or not, and its exit status when known.

        One runtime listing covers every session of a runtime (so ``ao ls`` and the loop stay
        cheap with a hundred sessions); a runtime is asked about one handle only when its
        listing cannot tell (no listing at all, or a dead pane whose status it has not read).
        A session whose runtime cannot be asked is left out, with a warning.
        """
        listings: dict[tuple[str, str], dict[str, Any]] = {}
        for s in sessions:
            try:
                runtime = self.runtime(s)
                key = (s.project, s.runtime) if s.host == LOCAL_HOST else ("", s.host)
                if key not in listings:
                    listings[key] = runtime.panes()
                pane = listings[key].get(s.runtime_handle)
                if pane is not None and not pane.dead:
                    yield s, True, None
                elif pane is None and listings[key]:
                    yield s, False, None  # the listing is whole: a handle it lacks is gone
                elif pane is not None and pane.exit_code is not None:
                    yield s, False, pane.exit_code
                else:
                    status = runtime.status(s.runtime_handle)
                    yield s, status.alive, status.exit_code
            except Exception as exc:
                log.warning("cannot check %s: %s", s.id, exc)

    def reconcile(self) -> list[str]:
        """After a crash or restart: find every live agent again, mark the dead.

        Returns the ids whose status changed.
        """
        changed: list[str] = []
        unsettled = [s for s in self.sessions(include_at_rest=False)
                     if s.status not in (SessionStatus.MERGED, SessionStatus.EXITED)
                     and not (s.status is SessionStatus.SPAWNING and self.being_launched(s.id))]
        for s, alive, code in self.agent_liveness(unsettled):
            if alive:
                if s.status is SessionStatus.SPAWNING:
                    self.store.transition(s.id, SessionStatus.WORKING, reason="found alive after restart")
                    changed.append(s.id)
                continue
            reason = f"agent exited ({code})" if code is not None else "agent not running (runtime gone)"
            if s.status is SessionStatus.SPAWNING:
                reason = "spawn interrupted"
            if self.store.transition(s.id, SessionStatus.EXITED, reason=reason, exit_code=code, only_from={s.status},
                                     activity=Activity(state=ActivityState.EXITED, source="runtime",
                                                       detail=reason)).status is SessionStatus.EXITED:
                changed.append(s.id)
        for sid in changed:
            self.announce(self.session(sid))
        return changed

    # -- the loop ----------------------------------------------------------------

    def start(self, make_loop: LoopFactory, *, lock_fd: int | None = None) -> bool:
        """Run the watch loop ``make_loop`` builds, in background threads, if no other engine does.

        Returns False when another process (``ao run`` or another TUI) already
        holds the engine lock; this one then only acts on the human's commands
        (and the leader follows them, see ``ao_tui.leader``). ``lock_fd``: the
        lock already taken (``start_when_free``).
        """
        with self._lock:
            if self._loop is not None:
                if lock_fd is not None:
                    leader.unlock(lock_fd)
                return True
            loop = make_loop(self)
            if not loop.acquire(lock_fd):
                return False
            self._loop = loop
        try:
            loop.start()
        except BaseException:
            with self._lock:
                self._loop = None
            loop.stop()
            raise
        return True

    def start_when_free(self, make_loop: LoopFactory, on_started: Callable[[], None],
                        stop: threading.Event | None = None,
                        on_error: Callable[[BaseException], None] | None = None) -> threading.Thread:
        """Lead as soon as the leader goes (``kill -9`` included): a thread sleeps until its
        lock is free, then starts the loop here and calls ``on_started`` (``on_error`` if the
        start fails). Set ``stop`` to give up waiting."""
        stop = stop or threading.Event()

        def wait() -> None:
            fd = leader.wait_for_leadership(stop)
            if fd is None:
                return
            try:
                self.start(make_loop, lock_fd=fd)
            except BaseException as exc:  # noqa: BLE001 - reported to the caller, never lost in a thread
                log.exception("taking over the engine failed")
                if on_error is not None:
                    on_error(exc)
                return
            try:
                on_started()
            except Exception:  # noqa: BLE001 - the engine runs; what the caller adds is its own affair
                log.exception("after taking over the engine")

        thread = threading.Thread(target=wait, name="ao-engine-takeover", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        self.close_hosts()

    @property
    def is_active(self) -> bool:
        return self._loop is not None
