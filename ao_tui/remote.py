"""Sessions on other machines: the runtime and workspace of a session whose host is not this one.

Everything goes through ao on the host (``ao_tui.hostd``) over the host's one SSH connection
(``host_ao.HostLink``, which reconnects with backoff): the engine never reads a host's files through
the local file system. A remote session's worktree path is the host's (``Session.extra["remote_workspace"]``);
its ``workspace`` stays empty here, so nothing local (git, conflicts, rebases) ever opens it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ao_tui.config import LOCAL_HOST, Config
from ao_tui.errors import AoError, NotFound
from ao_tui.host_ao import HostLink
from ao_tui.slots.base import PluginContext
from ao_tui.slots.host import Host
from ao_tui.slots.runtime import PaneInfo, Runtime, RuntimeStatus

if TYPE_CHECKING:
    from ao_tui.models import Usage

log = logging.getLogger("ao.remote")

#: What a remote session's ``runtime`` says (its tmux is the host's, reached through ao there).
REMOTE_RUNTIME = "host"


def is_remote(host: str) -> bool:
    return bool(host) and host != LOCAL_HOST


class RemoteHosts:
    """The engine's links to its SSH hosts, made on first use and kept (one ``HostLink`` a host).

    ``say`` hears what a user should (ao being installed on a host, a host lost and back);
    ``on_down(host, since)``, ``on_up(host, panes)`` and ``on_exit(host, handle)`` are for the loop.
    """

    def __init__(self, config: Config, ao_home: Path) -> None:
        self.config = config
        self.ao_home = ao_home
        self.say: Callable[[str], None] = log.info
        self.on_down: Callable[[str, float], None] | None = None
        self.on_up: Callable[[str, dict[str, Any]], None] | None = None
        self.on_exit: Callable[[str, str], None] | None = None
        self._links: dict[str, HostLink] = {}
        self._runtimes: dict[str, RemoteRuntime] = {}
        self._lock = threading.RLock()  # a link's first connect calls back (on_down) under it

    def host(self, name: str) -> Host:
        from ao_tui.hosts import create_host

        entry = self.config.all_hosts().get(name)
        if entry is None or not is_remote(name):
            raise AoError(f"no SSH host {name!r} in the config (hosts: {', '.join(self.config.all_hosts())})")
        return create_host(entry, self.ao_home)

    def link(self, name: str) -> HostLink:
        """The link to host ``name``: connected now if it can be, else unreachable and retrying."""
        with self._lock:
            link = self._links.get(name)
            if link is None:
                link = self._links[name] = HostLink(
                    self.host(name), self.ao_home, say=lambda text: self.say(text),
                    on_state=lambda panes: self._up(name, panes),
                    on_event=lambda event: self._event(name, event),
                    on_down=lambda since: self._down(name, since),
                    connect_now=False)
            return link

    def runtime(self, name: str) -> RemoteRuntime:
        with self._lock:
            runtime = self._runtimes.get(name)
            if runtime is None:
                runtime = self._runtimes[name] = RemoteRuntime(self, name)
            return runtime

    def unreachable_since(self, name: str) -> float | None:
        """Since when host ``name`` has not answered (None: it answers, or nothing asked it yet)."""
        link = self._links.get(name)
        return link.unreachable_since if link is not None else None

    def connected(self) -> list[str]:
        return list(self._links)

    def _down(self, name: str, since: float) -> None:
        if self.on_down is not None:
            self.on_down(name, since)

    def _up(self, name: str, panes: dict[str, Any]) -> None:
        if self.on_up is not None:
            self.on_up(name, panes)

    def _event(self, name: str, event: dict[str, Any]) -> None:
        if event.get("event") == "exited" and self.on_exit is not None:
            self.on_exit(name, str(event.get("handle")))
        elif event.get("event") == "hook":
            self._mirror(str(event.get("session", "")), int(event.get("offset", 0)), str(event.get("data", "")))

    # -- the agents' hook events --------------------------------------------------

    @staticmethod
    def mirror_path(session_id: str) -> Path:
        """This machine's copy of a remote session's hook events, where the activity monitor reads them
        (the same file a local session's hooks write)."""
        from ao_tui import paths
        from ao_tui.names import validate_session_id

        return paths.session_dir(validate_session_id(session_id)) / "hook-events.jsonl"

    def follow(self, name: str, session_id: str) -> None:
        """Have ao on host ``name`` stream the session's hook events from where this machine's copy ends."""
        path = self.mirror_path(session_id)
        offset = path.stat().st_size if path.exists() else 0
        self.link(name).call("follow", session=session_id, offset=offset)

    def _mirror(self, session_id: str, offset: int, data: str) -> None:
        """Append what the host streamed at byte ``offset`` of its file, once: a part this copy already
        has (a follow asked again after a reconnect) is skipped."""
        from ao_tui import paths

        try:
            path = self.mirror_path(session_id)
            paths.ensure_dir(path.parent)
            raw = data.encode("utf-8")
            with open(path, "ab") as f:
                have = f.tell()
                if have < offset + len(raw):
                    f.write(raw[max(0, have - offset):])
        except Exception:  # noqa: BLE001 - a bad event never stops the host's reader
            log.warning("hook events of %s not copied", session_id, exc_info=True)

    # -- the agent's transcript ---------------------------------------------------------

    def transcript_usage(self, name: str, agent_session_id: str, config_dir: str = "") -> tuple[Usage, str] | None:
        """A remote Claude Code session's tokens, cost and model, counted by ao on host ``name`` from its
        transcript there (None while it has none): its figures, never its file."""
        from ao_tui.models import Usage

        found = self.link(name).call("transcript_usage", agent_session=agent_session_id, config_dir=config_dir)
        if not found:
            return None
        model = str(found.pop("model", "") or "")
        return Usage(**{k: v for k, v in found.items() if k in Usage.model_fields}), model

    # -- the host's worktrees ------------------------------------------------------

    def make_workspace(self, name: str, project: str, url: str, session_id: str, branch: str, base: str) -> str:
        """The session's worktree on host ``name`` (its clone of ``url`` fetched first); the host's path."""
        link = self.link(name)
        link.call("clone", name=project, url=url, default_branch=base)
        return str(link.call("worktree", name=project, session=session_id, branch=branch, base=base))

    def bring_branch(self, name: str, project: str, branch: str, repo: Path) -> None:
        """Fetch ``branch`` from host ``name``'s clone into ``repo`` here, over the host's connection (git's
        own transport: the host's files are read by git there, not through this file system)."""
        from ao_tui import git
        from ao_tui.names import validate_branch

        validate_branch(branch)
        link = self.link(name)
        state = link.state_dir
        if state is None:
            raise AoError(f"host {name} unreachable since {link.unreachable_since_clock()}")
        url, env = link.host.git_remote(f"{state}/repos/{project}")
        git.run(repo, "fetch", "-q", "--no-tags", url, f"+refs/heads/{branch}:refs/heads/{branch}", env=env,
                remote=True, timeout=120)

    def remove_workspace(self, name: str, project: str, session_id: str, *, force: bool = False) -> None:
        self.link(name).call("remove_worktree", name=project, session=session_id, force=force)

    def close(self) -> None:
        with self._lock:
            links, self._links = list(self._links.values()), {}
            self._runtimes.clear()
        for link in links:
            try:
                link.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                log.debug("closing a host link", exc_info=True)


class RemoteRuntime(Runtime):
    """The runtime slot for sessions on one SSH host: its tmux, through ao there.

    Pane pids are the host's, so none is given (the engine's local exit watch must not watch a
    local process of that number): exits arrive as ao's events from the host instead.
    """

    name = REMOTE_RUNTIME

    def __init__(self, hosts: RemoteHosts, host_name: str) -> None:
        super().__init__(PluginContext(ao_home=hosts.ao_home, options={}))
        self.hosts = hosts
        self.host_name = host_name

    def _call(self, op: str, **args: Any) -> Any:
        return self.hosts.link(self.host_name).call(op, **args)

    def create(self, handle: str, cwd: Path, argv: Sequence[str], env: Mapping[str, str],
               size: tuple[int, int] = (200, 50)) -> str:
        self._call("spawn", handle=handle, cwd=str(cwd), argv=list(argv), env=dict(env),
                   width=size[0], height=size[1])
        return handle

    def send_text(self, handle: str, text: str, submit: bool = True) -> None:
        self._call("send", handle=handle, text=text, submit=submit)

    def send_keys(self, handle: str, *keys: str) -> None:
        self._call("keys", handle=handle, keys=list(keys))

    def send_bytes(self, handle: str, data: bytes) -> None:
        self._call("bytes", handle=handle, hex=data.hex())

    def capture(self, handle: str, *, escapes: bool = False, history: int = 0) -> str:
        try:
            text = str(self._call("capture", handle=handle, escapes=escapes, history=history))
        except AoError as exc:
            if "can't find" in str(exc) or "no server running" in str(exc):
                raise NotFound(f"no session {handle!r} on host {self.host_name}") from None
            raise
        return text[:-1] if text.endswith("\n") else text

    def status(self, handle: str) -> RuntimeStatus:
        pane = self._call("status", handle=handle)
        return RuntimeStatus(alive=bool(pane["alive"]), exit_code=pane.get("exit_code"))

    def kill(self, handle: str) -> None:
        self._call("kill", handle=handle)

    def list_handles(self) -> list[str]:
        return list(self._call("list"))

    def panes(self) -> dict[str, PaneInfo]:
        return {handle: PaneInfo(handle=handle, title=str(p.get("title", "")), dead=not p["alive"],
                                 exit_code=p.get("exit_code"), pid=None, width=int(p.get("width", 0)),
                                 height=int(p.get("height", 0)))
                for handle, p in self._call("list").items()}

    def attach_argv(self, handle: str) -> list[str]:
        link = self.hosts.link(self.host_name)
        state = link.state_dir
        if state is None:
            raise AoError(f"host {self.host_name} unreachable since {link.unreachable_since_clock()}")
        return link.host.argv(["tmux", "-S", f"{state}/tmux.sock", "attach-session", "-t", f"={handle}"], tty=True)

    def resize(self, handle: str, width: int, height: int) -> None:
        self._call("resize", handle=handle, width=width, height=height)
