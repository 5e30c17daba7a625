"""The watch loop behind ``ao run`` and the TUI: activity, reactions, merged sessions, hosts;
the outbox (``ao_tui.outbox``) types queued messages, the PR poller (``ao_tui.pr_poller``) opens,
publishes and polls PRs, ``ao_tui.liveness`` hears agents end and marks stuck ones.

One process at a time runs it, the leader, decided by an ``flock`` on
``$AO_HOME/engine.lock`` (released by the kernel if that process dies, so a
second ``ao-tui`` or ``ao run`` can take over; see ``ao_tui.leader``). Other
processes act on the human's commands through the store and tell the leader,
which then follows what they did from the store's event log (``_follow_others``).

Nothing here polls files: agent activity arrives from the watchfiles-based
``ActivityMonitor``; this loop wakes on those updates and on a slow timer for
PR status, liveness and stuck detection.

The loop knows nothing of the orchestrator: whoever builds it adds the orchestrator's part as
hooks (``ao_tui.orchestrator.loop_hooks.leader_loop``): work run on every pass (autopilot), and a
first look at an agent's question or a stuck agent before the human is called (the escalation chain).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui import git, leader, lifecycle
from ao_tui.activity.jsonl_tail import tail_objects
from ao_tui.budget import BudgetWatch
from ao_tui.config import LOCAL_HOST
from ao_tui.errors import AoError
from ao_tui.lifecycle import status_for_activity
from ao_tui.limit_resume import LimitResume
from ao_tui.liveness import Liveness
from ao_tui.malloc_tuning import PeriodicTrim, fix_mmap_threshold
from ao_tui.models import Activity, ActivityState, Event, Session, SessionStatus, utcnow
from ao_tui.outbox import AT_PROMPT, Outbox
from ao_tui.pr_poller import PrPoller

if TYPE_CHECKING:
    from ao_tui.activity.transcript import TranscriptState
    from ao_tui.engine import Engine

log = logging.getLogger("ao.loop")


#: Work the loop runs on every pass, after its own (autopilot); an exception is logged and the
#: human told (once per distinct error), and the loop goes on.
TickHook = Callable[[], None]
#: A first look at an agent's question (kind ``question``) or a stuck agent (``stuck``):
#: ``(session, kind, text, key) -> taken``. Not taken: the human is called, as without one. One
#: that takes it and then leaves it to the human calls ``EngineLoop.to_human``.
FirstLook = Callable[[Session, str, str, str], bool]


class EngineLoop:
    tick_seconds = 2.0
    liveness_seconds = 10.0
    #: A merged session's workspace is removed this long after the merge (its agent stopped first).
    merged_grace_seconds = 3600.0
    #: How long after a launch a start-up dialog ao already decided for is looked for and answered.
    startup_dialog_seconds = 120.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None
        self._last_liveness = 0.0
        self._merged_seen: set[str] = set()
        self.monitor: Any = None
        self.liveness = Liveness(self)  # agents' ends heard (pidfds) or found (a listing), stuck agents
        self._host_kills_due: set[str] = set()  # hosts back with kills queued for them
        self.runner: Any = None
        self.branches: Any = None  # ao_tui.branch_watch.BranchWatch: conflicts, rebases, the merge train
        from ao_tui.store_upkeep import StoreUpkeep

        self.upkeep = StoreUpkeep(engine)
        fix_mmap_threshold()  # RSS follows what the engine holds (see ao_tui/malloc_tuning.py)
        self.memory = PeriodicTrim()
        # Writes a full disk refused, kept to be made again once space is back (nothing is lost):
        self._unrecorded_activity: dict[str, tuple[Activity, TranscriptState | None]] = {}
        # Sessions just launched -> until when their screen is watched for a start-up dialog.
        self._starting: dict[str, float] = {}
        self._answered: dict[str, set[str]] = {}  # the start-up dialogs answered, each once
        #: Sessions whose agent this loop follows -> the store's last event id when it began to.
        self._tracked: dict[str, int] = {}
        #: The store's event log is read from here on when another process says it wrote.
        self._event_cursor = 0
        self._others_wrote = False
        self._listener: leader.ChangeListener | None = None
        #: Held while tracking changes: a follow-up of others' writes and this process's own
        #: spawn or kill must not interleave (the follow-up's read of the store would be stale).
        self._follow_lock = threading.RLock()
        #: For benchmarks and tests: (session, "tracked" / "untracked" / "fenced", wall time) as
        #: this loop took up another process's doing.
        self.followed: deque[tuple[str, str, float]] = deque(maxlen=1000)
        self.prs = PrPoller(engine, self.wake)  # PRs opened when ready, branches published, PRs polled
        self.outbox = Outbox(engine, self._screen_reader)  # queued messages, typed at the agent's prompt
        self.limits = LimitResume(engine)  # usage limits: waited out, each agent continued once
        self.budget = BudgetWatch(engine)  # budgets: notified at 80 %, held at 100 %
        self._tick_hooks: list[tuple[str, TickHook]] = []
        self._hook_errors: set[tuple[str, str]] = set()  # (hook, error) the human was told of
        #: Takes agents' questions and stuck agents before the human (the escalation chain), if set.
        self.first_look: FirstLook | None = None

    # -- hooks: what whoever builds the loop adds ------------------------------------

    def add_tick_hook(self, name: str, hook: TickHook) -> None:
        """Run ``hook`` on every pass of the loop (``name`` says what failed, if it fails)."""
        self._tick_hooks.append((name, hook))

    def _run_tick_hooks(self) -> None:
        for name, hook in self._tick_hooks:
            try:
                hook()
            except Exception as exc:
                log.exception("%s failed", name)
                error = " ".join(str(exc).split())[:300] or type(exc).__name__
                if (name, error) not in self._hook_errors:  # said once, not on every pass
                    if len(self._hook_errors) > 100:
                        self._hook_errors.clear()
                    self._hook_errors.add((name, error))
                    self.engine.notify(f"{name} failed: {error}",
                                       "the engine goes on and tries again next pass "
                                       "(ao's log on stderr has the traceback)", urgency="critical")

    def first_look_takes(self, session: Session, kind: str, text: str, key: str) -> bool:
        """Whether the first look (if any) takes this question or stuck agent from the human."""
        return self.first_look is not None and self.first_look(session, kind, text, key)

    def to_human(self, session: Session, kind: str, data: dict[str, Any]) -> None:
        """The human's reaction to a question (``kind`` ``question``) or a stuck agent (``stuck``), as
        with no first look: for a first look that took it and then leaves it to the human."""
        event = "agent_stuck" if kind == "stuck" else "agent_needs_input"
        key = f"{session.id}:{'stuck' if kind == 'stuck' else 'needs_input'}:{session.activity.since.isoformat()}"
        self.react(event, self.engine.session(session.id), key, data)

    # -- ownership -------------------------------------------------------------

    def acquire(self, fd: int | None = None) -> bool:
        """Lead, if no other process does (``fd``: a lock already taken by ``leader.wait_for_leadership``)."""
        fd = fd if fd is not None else leader.try_lock()
        if fd is None:
            return False
        self._lock_fd = fd
        return True

    def release(self) -> None:
        if self._lock_fd is not None:
            leader.unlock(self._lock_fd)
            self._lock_fd = None

    # -- start and stop ----------------------------------------------------------

    def start(self) -> None:
        # What this process writes it knows; what others write they announce, and from this
        # point of the event log on it is read (before the first look, so nothing falls between).
        self.store.announce = False
        self._event_cursor = self.store.last_event_id()
        self._listener = leader.ChangeListener(self._on_others_wrote)
        try:
            self._listener.start()
        except OSError as exc:
            log.warning("cannot listen on %s (other processes' sessions are followed when this "
                        "engine restarts): %s", self._listener.path, exc)
            self._listener = None
        self.engine.reconcile()
        self.liveness.start_exit_watch()
        self._follow_hosts()
        self._start_reactions()
        self._start_branch_watch()
        self._start_monitor()
        self.prs.listen_to_scms()
        for s in self.engine.sessions(include_at_rest=False):
            if lifecycle.has_live_agent(s.status):
                self.track(s)
        for host in {s.host for s in self._queued_host_kills()}:
            self.engine.remote.link(host)  # connected (or retrying): its queued kills follow once it answers
        self.outbox.fence_recent(self._event_cursor)
        self.outbox.resolve_interrupted()
        self._thread = threading.Thread(target=self._run, name="ao-engine-loop", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self.monitor is not None:
            try:
                self.monitor.stop()
            except Exception:
                log.exception("stopping the activity monitor")
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.liveness.close()
        if self.branches is not None:
            self.branches.stop()
        self.prs.close_scms()
        self.store.announce = True
        self.release()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._space_back():
                    self.tick()
            except Exception as exc:
                if not self.engine.disk.report(exc):  # a full disk is said once; the next tick retries
                    log.exception("engine tick failed")
            self._wake.wait(self.tick_seconds)
            self._wake.clear()

    def _space_back(self) -> bool:
        """While writes fail for lack of space: probe; once they succeed, make the writes that were refused."""
        if not self.engine.disk.short:
            return True
        if not self.engine.disk.probe():
            return False
        for sid in list(self._unrecorded_activity):
            activity, transcript = self._unrecorded_activity.pop(sid)
            self.on_activity(sid, activity, transcript)
        if self.runner is not None:
            self.runner.resume()  # reactions claimed but cut off by the full disk are carried out now
        return not self.engine.disk.short

    def tick(self) -> None:
        if self._others_wrote:
            self._others_wrote = False
            self._follow_others()
        now = time.monotonic()
        self.outbox.record_typed()
        periodic = now - self._last_liveness >= self.liveness_seconds
        self.liveness.tick(periodic)
        if periodic:
            self._last_liveness = now
            self._check_merged()
            self.forget_gone()
        self.prs.poll(now)
        if self.branches is not None:
            self.branches.tick()
        self._budget_tick()
        self.limits.tick(self.fence, self.outbox.unfence)  # continues typed as they are claimed
        self.limits.deliver(self.fence, self.outbox.unfence)  # and any left over (a failed typing, a restart)
        self._answer_startup_dialogs()
        self.outbox.deliver()
        if self._host_kills_due:
            self._carry_out_host_kills()
        self.liveness.check_stuck()
        self._run_tick_hooks()
        self.upkeep.tick(now)
        self.memory.tick(now)

    # -- what other processes did ---------------------------------------------------

    def _on_others_wrote(self) -> None:
        """From the listener's thread: another process committed a write to the store."""
        self._others_wrote = True
        self.wake()

    def _follow_others(self) -> None:
        """Bring what this loop follows in line with the store after another process wrote.

        Sessions spawned or restored elsewhere are tracked (a restore is seen in the event log
        even when the session looks unchanged by now), killed ones left, a session marked
        exited elsewhere gets its reaction here, and a message typed by someone else fences
        the outbox as one typed here does (so nothing queued lands on top of it).
        """
        with self._follow_lock:
            relaunched: set[str] = set()
            while True:
                batch = self.store.events(after_id=self._event_cursor, limit=500)
                for e in batch:
                    self._event_cursor = max(self._event_cursor, e.id or 0)
                    if e.kind == "status" and e.to_status == SessionStatus.SPAWNING.value \
                            and self._tracked.get(e.session_id, -1) < (e.id or 0):
                        relaunched.add(e.session_id)
                    elif e.kind == "message":
                        self.outbox.fence_at(e.session_id, e.at)
                        self.followed.append((e.session_id, "fenced", time.time()))
                if len(batch) < 500:
                    break
            seen_at = self._event_cursor  # the sessions read below are at least this new
            now = time.time()
            sessions = self.engine.sessions(include_at_rest=False)
            listed = {s.id for s in sessions}
            # one followed here that another process killed is at rest now: read on its own
            sessions += [s for sid in list(self._tracked) if sid not in listed
                         and (s := self.store.find_session(sid)) is not None]
            for s in sessions:
                live = lifecycle.has_live_agent(s.status) and s.status is not SessionStatus.SPAWNING
                tracked_at = self._tracked.get(s.id)
                if live and (tracked_at is None or s.id in relaunched):
                    self.track(s)
                    self.followed.append((s.id, "tracked", now))
                elif not live and tracked_at is not None and tracked_at <= seen_at:
                    self.untrack(s.id)
                    self.followed.append((s.id, "untracked", now))
                    if s.status is SessionStatus.EXITED:  # marked so by another process (`ao ls`, `ao restore`)
                        self.react("agent_exited", s, f"{s.id}:exited:{s.status_since.isoformat()}",
                                      {"reason": s.activity.detail or "agent exited"})
        self.outbox.deliver()

    # -- activity -------------------------------------------------------------

    def _start_monitor(self) -> None:
        from ao_tui.activity.watcher import ActivityMonitor

        self.monitor = ActivityMonitor(on_update=self.on_activity, screen_reader=self._screen_reader)
        self.monitor.start()

    def _screen_reader(self, session_id: str) -> tuple[str, str] | None:
        """The monitor asks for a screen only when its file signals are ambiguous."""
        try:
            session = self.engine.session(session_id)
        except AoError:
            return None
        return self.engine.screen(session)

    def track(self, session: Session) -> None:
        with self._follow_lock:
            self._tracked[session.id] = self.store.last_event_id()
            # Watched for a start-up dialog until its launch is startup_dialog_seconds old: an agent this
            # engine just launched for the whole window, one found running (an engine starting over a
            # fleet, another process's spawn) only for what is left of it.
            launched = max(session.created_at, session.status_since)
            left = self.startup_dialog_seconds - (utcnow() - launched).total_seconds()
            if left > 0:
                self._starting[session.id] = time.monotonic() + left
            self._track(session)

    def _track(self, session: Session) -> None:
        self.liveness.watch_exit(session.id)
        if self.monitor is None:
            return
        agent = self.engine.agent(session)
        spec = self.engine.launch_spec(session)
        local = session.host == LOCAL_HOST
        # A remote agent's files are the host's: its hook events arrive in this machine's copy of the
        # file (streamed by ao there), its transcript is not read; without hooks, its screen is.
        transcript = agent.transcript_path(spec) if agent.has_transcript and local else None
        # Hooks come with a transcript (Claude Code); an agent with neither is read from its
        # screen alone (the monitor does that only when it has no file to follow).
        hooks = agent.has_hooks and (local or bool(session.extra.get("remote_hooks")))
        if hooks and not local:
            try:
                self.engine.remote.follow(session.host, session.id)
            except AoError as exc:  # the host is away: followed again when it is back (_host_up)
                log.info("hook events of %s not followed yet: %s", session.id, exc)
        self.monitor.track(
            session.id,
            events_file=self.engine.events_file(session.id) if hooks else None,
            transcript_path=transcript,
            agent_read_screen=agent.read_screen,
            watch_dialogs=agent.watch_dialogs,
            screen_polled=agent.screen_polled,
        )

    def untrack(self, session_id: str) -> None:
        with self._follow_lock:
            self._tracked.pop(session_id, None)
            self._started(session_id)
            if self.monitor is not None:
                self.monitor.untrack(session_id)
            self.liveness.forget(session_id)

    def on_activity(self, session_id: str, activity: Activity, transcript: TranscriptState | None = None) -> None:
        """From the monitor's thread: record the activity and what follows from it."""
        try:
            session = self.engine.session(session_id)
        except AoError:
            return
        if session.status is SessionStatus.SPAWNING:
            return  # a restore under way: this is the previous agent's last word (its exit), not the new one's
        already_exited = session.status is SessionStatus.EXITED  # the liveness check said so (and reacted)
        target = status_for_activity(session.status, activity.state)
        if not lifecycle.can_transition(session.status, target):
            target = session.status

        counted = None
        if transcript is None:  # agents without a tailed transcript may keep their tokens elsewhere (aider, OpenCode)
            try:
                agent = self.engine.agent(session)
                counted = agent.usage(self.engine.launch_spec(session)) if not agent.has_transcript else None
            except Exception as exc:  # noqa: BLE001 - tokens must never stop a state change
                log.debug("usage read for %s failed: %s", session_id, exc)

        last_words = None
        remote_usage = None
        if transcript is None and session.host != LOCAL_HOST and activity.source == "hook" \
                and activity.state in (ActivityState.IDLE, ActivityState.WAITING_INPUT):
            last_words = last_stop_words(self.engine.events_file(session_id))  # its transcript is the host's
            remote_usage = self._remote_usage(session)

        def change(s: Session) -> None:
            s.activity = activity
            if last_words:
                s.last_message = last_words
            if counted is not None:
                s.usage = counted
            if remote_usage is not None:
                s.usage, s.model = remote_usage[0], remote_usage[1] or s.model
            if transcript is not None:
                s.usage = transcript.usage
                s.last_message = transcript.last_text or s.last_message
                s.model = transcript.model or s.model
                s.pr_links = list(transcript.pr_links or s.pr_links)
                if not s.agent_session_id:  # agents that name their own session (Codex) say it here
                    s.agent_session_id = transcript.agent_session_id

        try:
            updated = self.store.mutate(session_id, change, status=target,
                                        reason=f"{activity.state} ({activity.source})")
        except Exception as exc:
            if not self.engine.disk.report(exc):
                raise
            self._unrecorded_activity[session_id] = (activity, transcript)  # recorded once space is back
            return
        if updated.model != session.model:  # the transcript named the model: its commits say so from now on
            self.engine.update_commit_trailer(updated)
        self.limits.on_activity(updated)  # before anyone is told: the limit is on record when they look
        self.engine.announce(updated)
        if activity.state in (ActivityState.WAITING_PERMISSION, ActivityState.WAITING_INPUT):
            key = f"{session_id}:needs_input:{activity.since.isoformat()}"
            # A question (never a permission prompt) goes to the first look (the orchestrator's), if any.
            if not (activity.state is ActivityState.WAITING_INPUT
                    and self.first_look_takes(updated, "question", activity.detail, key)):
                self.react("agent_needs_input", updated, key, {"detail": activity.detail})
        elif activity.state is ActivityState.EXITED and not already_exited:
            # Keyed by when the session became exited, as everywhere an exit is seen (the liveness
            # check, an exit marked by another process): one exit, one reaction, whoever saw it first.
            self.react("agent_exited", updated, f"{session_id}:exited:{updated.status_since.isoformat()}", {})
        if activity.state in AT_PROMPT:
            self.prs.check_soon(session_id)  # it may have committed
        elif activity.state is not ActivityState.UNKNOWN:
            self.outbox.unfence(session_id)  # the agent took up what was typed
        self.wake()

    def _remote_usage(self, session: Session) -> tuple[Any, str] | None:
        """A remote Claude Code session's tokens, cost and model at the end of a turn, counted by ao on
        its host from the transcript there (one request over the host's connection)."""
        if session.agent != "claude-code" or not session.agent_session_id:
            return None
        import os

        config_dir = self.engine.launch_spec(session).env.get("CLAUDE_CONFIG_DIR") or os.environ.get("CLAUDE_CONFIG_DIR", "")
        try:
            return self.engine.remote.transcript_usage(session.host, session.agent_session_id, config_dir)
        except Exception as exc:  # noqa: BLE001 - tokens must never stop a state change
            log.info("usage of %s not read from its host: %s", session.id, exc)
            return None

    def _budget_tick(self) -> None:
        try:
            self.budget.tick()
        except Exception:
            log.exception("budget check failed")

    def fence(self, session_id: str) -> None:
        """Something was just typed into the agent: hold queued messages until it is seen busy."""
        self.outbox.fence(session_id)

    # -- start-up dialogs ------------------------------------------------------------

    def _answer_startup_dialogs(self) -> None:
        """Answer, once, a start-up dialog ao already decided for (the agent plugin says which:
        Claude Code's trust dialog for ao's own workspace, its bypass dialog when the config
        asked for that mode) until the agent is seen taking its prompt or at its prompt (a
        spinner in the pane title while it starts says nothing).

        Agents starting together in one HOME rewrite their shared config over each other and
        can drop what ao wrote there, so one may stop at a dialog ao meant to pre-answer.
        """
        now = time.monotonic()
        for sid, until in list(self._starting.items()):
            if now > until:
                self._started(sid)
                continue
            try:
                session = self.engine.session(sid)
                if session.status is SessionStatus.SPAWNING:
                    continue
                if not lifecycle.has_live_agent(session.status):
                    self._started(sid)
                    continue
                events = self.engine.events_file(sid)
                if events.exists() and b'"UserPromptSubmit"' in events.read_bytes()[:1 << 20]:
                    self._started(sid)  # past every start-up dialog
                    continue
                screen = self._screen_reader(sid)
                if screen is None:
                    continue
                agent = self.engine.agent(session)
                answer = agent.startup_answer(self.engine.launch_spec(session), screen[0])
                if answer is None:
                    guess = agent.read_screen(*screen)
                    if guess is not None and guess.state is ActivityState.IDLE:
                        self._started(sid)  # at its prompt: past every start-up dialog
                    continue
                what, keys = answer
                answered = self._answered.setdefault(sid, set())
                if what in answered:
                    continue  # once: the same dialog back again is the user's
                answered.add(what)
                for key in keys:  # one at a time: a burst can reach the dialog as one unknown sequence
                    self.engine.send_keys(sid, key)
                    time.sleep(0.3)
                self.store.add_event(Event(session_id=sid, kind="startup_dialog",
                                           data={"answered": what, "keys": keys}))
                log.info("%s: answered the %s ao had already decided", sid, what)
            except Exception as exc:  # noqa: BLE001 - one session's screen must not stop the loop
                log.debug("start-up dialog check for %s failed: %s", sid, exc)

    def _started(self, session_id: str) -> None:
        """The session is past its start-up dialogs: stop watching for them."""
        self._starting.pop(session_id, None)
        self._answered.pop(session_id, None)

    # -- sessions on other hosts ----------------------------------------------------

    def _follow_hosts(self) -> None:
        """Hear from the SSH hosts: an agent's exit there, a host lost and back."""
        remote = self.engine.remote
        remote.on_exit = lambda host, handle: self.liveness.on_process_exit(handle)
        remote.on_down = self._host_down
        remote.on_up = self._host_up

    def _host_sessions(self, host: str) -> list[Session]:
        return [s for s in self.engine.sessions(include_at_rest=False) if s.host == host and lifecycle.has_live_agent(s.status)]

    def _host_down(self, host: str, since: float) -> None:
        """Its sessions need the human's eye ("host unreachable since"): never exited, never lost
        (their agents keep working in the host's tmux)."""
        said = f"host {host} unreachable since {time.strftime('%H:%M', time.localtime(since))}"
        for s in self._host_sessions(host):
            if s.escalation.startswith(f"host {host} unreachable"):
                continue
            updated = self.store.update(s.id, escalation=said)
            self.store.add_event(Event(session_id=s.id, kind="host_unreachable", data={"host": host, "since": since}))
            self.engine.announce(updated)

    def _host_up(self, host: str, panes: dict[str, Any]) -> None:
        """Back: its sessions' state is read again from the host (an agent that ended meanwhile is
        marked by the liveness check), and queued messages are typed once (the outbox)."""
        for s in self._host_sessions(host):
            if s.escalation.startswith(f"host {host} unreachable"):
                updated = self.store.update(s.id, escalation="")
                self.store.add_event(Event(session_id=s.id, kind="host_reachable", data={"host": host}))
                self.engine.announce(updated)
            if s.extra.get("remote_hooks") and s.id in self._tracked:
                try:
                    self.engine.remote.follow(host, s.id)  # what the hooks wrote meanwhile comes now
                except AoError as exc:
                    log.info("hook events of %s not followed: %s", s.id, exc)
            if self.monitor is not None:
                self.monitor.refresh(s.id)
        self._host_kills_due.add(host)  # carried out by the loop's thread (this is the link's)
        self.liveness.due = True
        self.wake()

    def _queued_host_kills(self) -> list[Session]:
        return [s for s in self.engine.sessions() if s.extra.get("kill_on_host") and s.host != LOCAL_HOST]

    def _carry_out_host_kills(self) -> None:
        """Stop the panes `ao kill` left on hosts that did not answer then, once each host is back."""
        hosts, self._host_kills_due = self._host_kills_due, set()
        for s in self._queued_host_kills():
            if s.host in hosts:
                try:
                    self.engine.carry_out_host_kill(s)
                except AoError as exc:  # gone again: the next time it is back
                    log.info("queued kill of %s not carried out: %s", s.id, exc)

    # -- PRs and reactions ---------------------------------------------------------

    def _start_reactions(self) -> None:
        from ao_tui.reaction_runner import ReactionRunner

        self.runner = ReactionRunner.for_engine(self.engine)
        try:
            self.runner.resume()
        except Exception:
            log.exception("resuming reactions")

    def _start_branch_watch(self) -> None:
        from ao_tui.branch_watch import BranchWatch

        self.branches = BranchWatch(self)
        self.branches.start()

    def react(self, event: str, session: Session, key: str, data: dict[str, Any]) -> None:
        """The reaction configured for ``event`` on ``session``, once per ``key`` (see ao_tui.reaction_runner)."""
        if self.runner is None:
            return
        from ao_tui.slots.reaction import Trigger

        try:
            self.runner.handle(Trigger(event=event, session_id=session.id, key=key, data=data))
        except Exception:
            log.exception("reaction %s for %s failed", event, session.id)

    def handle_triggers(self, triggers: list[Any]) -> None:
        """Reactions for what a PR poll found (each key is acted on once, see ao_tui.reaction_runner)."""
        if self.runner is None:
            return
        for trigger in triggers:
            try:
                self.runner.handle(trigger)
            except Exception:
                log.exception("reaction %s for %s failed", trigger.event, trigger.session_id)
        self.wake()

    def on_merged(self, s: Session) -> None:
        """A session's PR merged (by ao or found merged): its outcome, the pr_merged reaction."""
        try:
            from ao_tui.outcomes import record_outcome

            record_outcome(self.store, s)
        except Exception:
            log.exception("recording the outcome of %s", s.id)
        pr = s.pr
        self.react("pr_merged", s, f"{s.id}:pr_merged",
                      {"url": pr.url if pr else "", "number": pr.number if pr else None,
                       "branch": s.branch, "base": pr.base if pr else ""})
        self.engine.close_task(s)
        self._check_all_done(s.project)

    def _check_all_done(self, project: str) -> None:
        """``all_done``: the project's last session merged and its backlog holds nothing to start.

        Keyed by the newest merge, so it fires once per time the work runs out (a task added and
        merged later makes the next one), whatever order the merges were noticed in.
        """
        if any(x.status is not SessionStatus.MERGED for x in self.engine.sessions(project, include_at_rest=False)):
            return  # one still works (the usual case: decided without reading the history)
        sessions = self.engine.sessions(project)
        if not sessions:
            return
        merged = [x for x in sessions if x.merged_at is not None]
        if not merged:
            return
        try:
            remaining = self.engine.tracker(project).list_tasks()
        except Exception as exc:
            log.debug("backlog of %s unavailable: %s", project, exc)
            return
        if remaining:
            return
        newest = max(merged, key=lambda x: x.merged_at or x.status_since)  # merged_at is set: filtered above
        self.react("all_done", newest, f"{project}:all_done:{newest.id}",
                      {"project": project, "merged": [x.id for x in merged]})

    def forget_gone(self) -> None:
        """Drop what this loop (and the engine, the branch watch, the merge train) keeps per session
        for sessions at rest (done, killed) or deleted: a long run must not keep a little of every
        session it ever saw. One still followed is left too (its agent's files, its exit watch)."""
        with self._follow_lock:  # a spawn here records then tracks under this lock: it is never missed
            kept = self.engine.sessions(include_at_rest=False)  # done or killed: nothing left to follow
            present = {s.id for s in kept}
            for sid in [k for k in self._tracked if k not in present]:
                self.untrack(sid)
        keep = {s.id for s in kept}
        self.outbox.forget(keep)
        self.prs.forget(keep)
        self._merged_seen &= keep
        self.engine.forget_gone(kept)
        if self.branches is not None:
            self.branches.forget_gone(keep)

    def _check_merged(self) -> None:
        """Merged sessions: the outcome and ``pr_merged`` reaction of one merged by another
        process (``ao merge`` while ``ao run`` runs), and after the grace period their agent stopped and workspace removed (the branch stays
        if it holds anything unmerged: the workspace plugin refuses to drop such a branch)."""
        now = utcnow()
        for s in self.engine.sessions(include_at_rest=False):
            if s.status is not SessionStatus.MERGED:
                continue
            if s.id not in self._merged_seen:
                self._merged_seen.add(s.id)
                self.on_merged(s)  # idempotent: the outcome is rewritten, pr_merged claimed once ever
            merged_at = s.merged_at or s.status_since
            if (now - merged_at).total_seconds() < self.merged_grace_seconds:
                continue
            try:
                self._retire(s)
            except Exception as exc:
                log.warning("cleaning up merged %s failed: %s", s.id, exc)

    def _retire(self, s: Session) -> None:
        runtime = self.engine.runtime(s)
        if s.runtime_handle in runtime.list_handles():
            runtime.kill(s.runtime_handle)
        self.untrack(s.id)
        reason = "merged; workspace removed"
        try:
            self.engine.remove_workspace(s.id)
        except AoError as exc:
            # The plugin keeps a branch whose commits are not in the default branch, which is
            # always so after a squash merge: if merging it again would change nothing, its
            # work is all there and it may go; otherwise (commits after the merge) both stay.
            if self._content_merged(s):
                self.engine.remove_workspace(s.id, force=True)
            else:
                reason = f"merged; workspace kept: {exc}"
                self.store.add_event(Event(session_id=s.id, kind="cleanup_refused", data={"reason": str(exc)}))
        updated = self.store.transition(s.id, SessionStatus.DONE, reason=reason)
        self.engine.announce(updated)

    def _content_merged(self, s: Session) -> bool:
        """Whether merging the session's branch into the default branch would change nothing."""
        cfg = self.engine.project_config(s.project)
        return git.merge_changes_nothing(cfg.repo, cfg.default_branch, s.branch, timeout=60)


def last_stop_words(events: Path, tail_bytes: int = 256 << 10) -> str:
    """The agent's last words as its latest Stop hook event gives them (``last_assistant_message``), from
    the end of its events file: what a remote session's transcript would say, for READY and the UI."""
    try:
        for event in tail_objects(events, tail_bytes, newest_first=True):
            if event.get("event") == "Stop":
                text = event.get("last_assistant_message")
                return text if isinstance(text, str) else ""
    except OSError:
        pass
    return ""
