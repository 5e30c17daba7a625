"""Terminal ``tmux``: attach the human's terminal to an agent's session.

ao-tui suspends itself and runs the returned argv in the foreground, so the
command must block until the human detaches:

- Outside tmux: the runtime's own attach command, unchanged (runtime ``tmux`` makes the
  window follow the attaching client's size, then attaches).
- Inside a client of ao's own tmux server (``$TMUX`` names ao's socket):
  ``switch-client`` to the agent's session (after the same size commands); no nesting.
- Inside another tmux server (the usual case: the user's own tmux): a
  client cannot switch across servers, so ao's server is attached nested in
  the current pane, with ``TMUX`` unset (``env -u``) because tmux refuses to
  nest otherwise. The inner session's prefix is the outer one pressed twice
  (``C-b C-b d`` detaches with default keys). ``new-window``/``display-popup``
  were rejected: they return at once, and ao-tui would resume over them.

Other runtimes' attach commands (the process runtime's) are returned as is.
"""

from __future__ import annotations

import os
from pathlib import Path

from ao_tui.slots.base import PluginOptions
from ao_tui.slots.terminal import Terminal


def tmux_socket_path(name: str) -> Path:
    """Where ``tmux -L name`` puts its socket (tmux's own rule: $TMUX_TMPDIR or /tmp)."""
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / name


class TmuxTerminal(Terminal):
    Options = PluginOptions  # no options

    def attach_argv(self, runtime_attach_argv: list[str], inside_tmux: bool) -> list[str]:
        argv = list(runtime_attach_argv)
        if not argv or Path(argv[0]).name != "tmux" or not inside_tmux:
            return argv
        socket, target = _socket_and_target(argv)
        current = os.environ.get("TMUX", "").split(",")[0]
        if socket and target and current and _same_file(Path(current), tmux_socket_path(socket)):
            # Keep the commands run before attaching (the window follows the human's client).
            return [*argv[: argv.index("attach-session")], "switch-client", "-t", target]
        return ["env", "-u", "TMUX", "-u", "TMUX_PANE", *argv]


def _socket_and_target(argv: list[str]) -> tuple[str | None, str | None]:
    """The ``-L`` socket and ``attach-session``'s ``-t`` target of a tmux attach command."""
    socket = argv[argv.index("-L") + 1] if "-L" in argv[:-1] else None
    if "attach-session" not in argv:
        return socket, None
    rest = argv[argv.index("attach-session"):]
    target = rest[rest.index("-t") + 1] if "-t" in rest[:-1] else None
    return socket, target


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
