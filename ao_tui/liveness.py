"""Liveness, from the loop's side: which agents have ended, which are stuck.

An agent's end is heard through a pidfd on its process and its runtime's server
(``ao_tui.exit_watch``, when the runtime gives pids; ao on another host says so for its sessions);
a session not covered that way is found by one runtime listing for every session, made every
``EngineLoop.liveness_seconds`` only while some session is uncovered. An agent that ended is marked
exited and its ``agent_exited`` reaction fired; a working agent with no progress for its project's
``stuck_after`` is marked stuck (the loop's first look, else ``agent_stuck``). The loop
(``ao_tui.engine_loop``) owns one and calls ``tick`` and ``check_stuck`` on every pass.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ao_tui import lifecycle
from ao_tui.config import LOCAL_HOST
from ao_tui.durations import parse_duration
from ao_tui.models import Activity, ActivityState, SessionStatus, utcnow

if TYPE_CHECKING:
    from ao_tui.engine_loop import EngineLoop

log = logging.getLogger("ao.loop")


class Liveness:
    """Agents' ends heard or found, stuck agents marked (see the module's docstring)."""

    def __init__(self, loop: EngineLoop) -> None:
        self.loop = loop
        self.engine = loop.engine
        self.store = loop.store
        # Agent exits are seen through pidfds (ao_tui/exit_watch.py) when the runtime gives pids;
        # the runtime is listed every liveness_seconds only while some session is not covered.
        self._exit_watch: Any = None
        self._unwatched: set[str] = set()
        self.due = False  # an exit was heard (or a host is back): look at every agent on the next pass
        self._listings: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def tick(self, periodic: bool) -> None:
        """Look at every agent if an exit was heard, or on a periodic pass while some exit is not watched."""
        if self.due or (periodic and not self.exits_covered()):
            self.due = False
            self.check_liveness()
            for sid in list(self._unwatched):
                self.watch_exit(sid)

    def forget(self, session_id: str) -> None:
        """The loop no longer follows this session: its exit is not watched."""
        self._unwatched.discard(session_id)
        if self._exit_watch is not None:
            self._exit_watch.forget(session_id)

    def close(self) -> None:
        if self._exit_watch is not None:
            self._exit_watch.close()

    def start_exit_watch(self) -> None:
        from ao_tui.exit_watch import ProcessExitWatch

        if ProcessExitWatch.supported():
            self._exit_watch = ProcessExitWatch(self.on_process_exit)

    def on_process_exit(self, key: str) -> None:
        """From the exit watch's thread: an agent (or the runtime's server) ended; look now."""
        if not key.startswith("server:"):
            self._unwatched.add(key)  # watched again after the look if it is somehow still alive
        self.due = True
        self.loop.wake()

    def exits_covered(self) -> bool:
        return self._exit_watch is not None and not self._unwatched

    def watch_exit(self, session_id: str) -> None:
        """Watch the agent's process, and its runtime's server, for their end."""
        if self._exit_watch is None:
            return
        try:
            session = self.engine.session(session_id)
            if not lifecycle.has_live_agent(session.status) or session.host != LOCAL_HOST:
                self._unwatched.discard(session_id)  # on another host: ao there says when it exits
                if session.host != LOCAL_HOST:
                    self.engine.remote.link(session.host)  # connected now, so its exits are heard
                return
            runtime = self.engine.runtime(session)
            key = (session.project, session.runtime)
            listed_at, panes = self._listings.get(key, (0.0, {}))
            if time.monotonic() - listed_at > 1.0 or session.runtime_handle not in panes:
                panes = runtime.panes()  # one listing serves a burst (start: every session)
                self._listings[key] = (time.monotonic(), panes)
            pane = panes.get(session.runtime_handle)
            server = runtime.server_pid()
        except Exception as exc:
            log.debug("cannot watch %s for its exit: %s", session_id, exc)
            self._unwatched.add(session_id)
            return
        if pane is None or pane.dead or pane.pid is None or not self._exit_watch.watch(session_id, pane.pid):
            self._unwatched.add(session_id)  # the periodic listing covers it
            return
        if server is not None:
            self._exit_watch.watch(f"server:{server}", server)
        self._unwatched.discard(session_id)

    def check_liveness(self) -> None:
        """One runtime listing for every session: marks agents that died."""
        live = [s for s in self.engine.sessions(include_at_rest=False)
                if lifecycle.has_live_agent(s.status) and s.status is not SessionStatus.SPAWNING]
        for s, alive, code in self.engine.agent_liveness(live):
            if alive:
                continue
            reason = f"agent exited ({code})" if code is not None else "agent not running"
            updated = self.store.transition(
                s.id, SessionStatus.EXITED, reason=reason, exit_code=code, only_from={s.status},
                activity=Activity(state=ActivityState.EXITED, source="runtime", detail=reason),
            ) if lifecycle.can_transition(s.status, SessionStatus.EXITED) else s
            if updated.status is not SessionStatus.EXITED and updated.status is not s.status:
                continue  # killed or restored meanwhile (the listing is older than that): not an exit
            if self.loop.monitor is not None:
                self.loop.monitor.runtime_exited(s.id, reason)
            self.loop.untrack(s.id)
            self.engine.announce(updated)
            self.loop.react("agent_exited", updated, f"{s.id}:exited:{updated.status_since.isoformat()}", {"reason": reason})

    def check_stuck(self) -> None:
        now = utcnow()
        for s in self.engine.sessions(include_at_rest=False):
            if s.status is not SessionStatus.WORKING:
                continue
            if s.activity.state not in (ActivityState.WORKING, ActivityState.RUNNING_TOOL):
                continue
            cfg = self.engine.config.projects.get(s.project)
            if cfg is None:
                continue
            quiet = parse_duration(cfg.stuck_after)
            if (now - s.activity.since).total_seconds() < quiet:
                continue
            reason = f"no progress for {cfg.stuck_after}"
            updated = self.store.transition(s.id, SessionStatus.STUCK, reason=reason, only_from={SessionStatus.WORKING})
            if updated.status is not SessionStatus.STUCK:
                continue
            self.engine.announce(updated)
            key = f"{s.id}:stuck:{s.activity.since.isoformat()}"
            if not self.loop.first_look_takes(updated, "stuck", f"{reason}; last words: {s.last_message[-500:]}", key):
                self.loop.react("agent_stuck", updated, key, {"reason": reason})
