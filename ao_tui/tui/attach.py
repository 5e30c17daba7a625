"""What to tell a person before their terminal is handed to an agent's session: how to come back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

#: tmux's default prefix. The engine does not say ao's tmux prefix, so the default is what we name.
TMUX_PREFIX = "C-b"


def _spoken(key: str) -> str:
    """``C-b`` → ``ctrl+b``, ``M-a`` → ``alt+a`` (tmux's key names, as keys are named elsewhere in ao-tui)."""
    return key.replace("C-", "ctrl+").replace("M-", "alt+")


def detach_hint(session_id: str, argv: Sequence[str], prefix: str = TMUX_PREFIX) -> str:
    """One line: what happens and the keys that bring the person back to ao-tui."""
    names = [Path(arg).name for arg in argv]
    if "tmux" in names:
        if "switch-client" in argv:  # already inside ao's tmux server: the client switches, not attaches
            return (f"Switching to {session_id} — come back with {prefix} L "
                    f"({_spoken(prefix)} then L, tmux's last session)")
        return f"Attaching to {session_id} — detach with {prefix} d ({_spoken(prefix)} then d)"
    if any("pty_supervisor" in arg for arg in argv):
        return f"Attaching to {session_id} — detach with ctrl+]"
    return f"Attaching to {session_id} — leave its terminal to come back"


__all__ = ["TMUX_PREFIX", "detach_hint"]
