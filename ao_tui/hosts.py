"""The machines sessions run on: making each host's plugin, and placing a new session on one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ao_tui.config import LOCAL_HOST, Config, HostConfig, ProjectConfig
from ao_tui.errors import AoError
from ao_tui.slots.host import Host


def create_host(host: HostConfig, ao_home: Path) -> Host:
    """The host plugin for one ``hosts:`` entry (``local`` for this machine)."""
    from ao_tui.registry import create
    from ao_tui.slots.base import PluginContext

    plugin: Host = create("host", host.kind, PluginContext(ao_home=ao_home, options=host.plugin_options()))
    return plugin


def place(config: Config, project: ProjectConfig, live: Mapping[str, int], pinned: str | None = None) -> str:
    """The host a new session of ``project`` runs on: ``pinned`` if allowed and not full, else the allowed
    host with room and the fewest live sessions (config order breaks ties). ``live``: sessions per host."""
    hosts = config.all_hosts()
    allowed = config.hosts_of(project)
    if pinned is not None:
        if pinned not in hosts:
            raise AoError(f"no host {pinned!r}; known: {', '.join(hosts)}")
        if pinned not in allowed:
            raise AoError(f"this project's sessions may not run on {pinned} (its hosts: {', '.join(allowed)})")
        candidates = [pinned]
    else:
        candidates = allowed
    room = [name for name in candidates if live.get(name, 0) < hosts[name].max_sessions]
    if not room:
        full = ", ".join(f"{name} {live.get(name, 0)}/{hosts[name].max_sessions}" for name in candidates)
        raise AoError(f"no host has room for another session ({full})")
    return min(room, key=lambda name: (live.get(name, 0), candidates.index(name)))


__all__ = ["LOCAL_HOST", "create_host", "place"]
