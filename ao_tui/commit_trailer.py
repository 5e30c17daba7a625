"""Every agent commit carries a trailer naming its model, whether or not the agent remembers to.

The agent's environment points git at a per-session hooks directory through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (so no config
file in the user's repository changes) and again through ``GIT_CONFIG_PARAMETERS``
(what ``git -c`` hands its children), which git reads after them: an agent that
appends its own ``GIT_CONFIG_*`` overrides for the commands it runs (Gemini CLI
0.61 blanks ``core.hooksPath`` so) does not switch ao's hook off. The hook
needs nothing else from the environment (Gemini CLI drops unknown variables in
its strict mode): where the trailer and the repository's hooks are is written
into it. Its ``prepare-commit-msg`` hook adds the
trailer with ``git interpret-trailers --if-exists addIfDifferent``;
``prepare-commit-msg`` runs even for ``git commit --no-verify``, and an amend
or a trailer the agent wrote itself is not doubled.

The trailer text lives in a file beside the hooks, not in the environment, so
the engine can name the model once the transcript reveals it
(:func:`write_trailer`). The repository's own hooks keep running: each hook
that exists in the repository when the session starts is forwarded to it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ao_tui import git
from ao_tui.config import write_atomic
from ao_tui.errors import AoError

HOOKS_DIR_NAME = "git-hooks"
TRAILER_FILE_NAME = "commit-trailer"
#: The one hook ao adds; every other hook name only forwards.
TRAILER_HOOK = "prepare-commit-msg"

# Runs as the hook itself: no shell, no import of ao (fast, and independent of
# the agent's PYTHONPATH). Its own name says which hook git ran; install() fills in
# FORWARD and TRAILER_FILE.
_DISPATCHER = '''\
import os, subprocess, sys
name = os.path.basename(sys.argv[0])
forward = FORWARD
original = os.path.join(forward, name) if forward else ""
if original and os.access(original, os.X_OK):
    code = subprocess.run([original, *sys.argv[1:]]).returncode
    if code:
        sys.exit(code)
if name == "prepare-commit-msg" and len(sys.argv) > 1:
    try:
        with open(TRAILER_FILE, encoding="utf-8") as f:
            trailer = f.read().strip()
    except OSError:
        trailer = ""
    if trailer:
        subprocess.run(["git", "interpret-trailers", "--in-place", "--if-exists", "addIfDifferent",
                        "--trailer", trailer, sys.argv[1]])
'''


def repository_hooks_dir(workspace: Path) -> Path | None:
    """Where git would look for the workspace's hooks without ao (``core.hooksPath`` or ``<common dir>/hooks``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_")}

    def ask(*args: str) -> str:
        try:
            done = git.run(workspace, *args, check=False, environ=env, timeout=30)
        except AoError:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    configured = ask("config", "--get", "core.hooksPath")
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else workspace / path
    common = ask("rev-parse", "--git-common-dir")
    if not common:
        return None
    common_path = Path(common)
    return (common_path if common_path.is_absolute() else workspace / common_path) / "hooks"


def write_trailer(session_dir: Path, trailer: str) -> None:
    """Set the trailer the session's next commits carry (atomic; one line, no newlines kept)."""
    write_atomic(session_dir / TRAILER_FILE_NAME, " ".join(trailer.split()) + "\n")


def install(session_dir: Path, workspace: Path, trailer: str, base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write the session's hooks and trailer; return the environment that makes git use them.

    ``base_env`` is the environment the agent would otherwise inherit (ao's own
    by default): ``GIT_CONFIG_*`` entries already there are kept, ao's is added after them.
    """
    base_env = os.environ if base_env is None else base_env
    hooks = session_dir.absolute() / HOOKS_DIR_NAME
    hooks.mkdir(parents=True, exist_ok=True)
    forward = repository_hooks_dir(workspace)
    dispatcher = hooks / "ao-dispatch"
    constants = f"FORWARD = {str(forward or '')!r}\nTRAILER_FILE = {str((session_dir / TRAILER_FILE_NAME).absolute())!r}\n"
    write_atomic(dispatcher, f"#!{sys.executable} -IS\n{constants}{_DISPATCHER}")
    dispatcher.chmod(0o755)
    names = {TRAILER_HOOK}
    if forward is not None and forward.is_dir():
        names |= {p.name for p in forward.iterdir() if p.is_file() and not p.name.endswith(".sample") and os.access(p, os.X_OK)}
    for existing in hooks.iterdir():
        if existing.is_symlink() and existing.name not in names:
            existing.unlink()
    for name in names:
        link = hooks / name
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(dispatcher.name)
    write_trailer(session_dir, trailer)
    try:
        index = int(base_env.get("GIT_CONFIG_COUNT", "0"))
    except ValueError:
        index = 0
    parameters = " ".join(filter(None, [base_env.get("GIT_CONFIG_PARAMETERS", "").strip(),
                                         _sq_quote(f"core.hooksPath={hooks}")]))
    return {
        "GIT_CONFIG_COUNT": str(index + 1),
        f"GIT_CONFIG_KEY_{index}": "core.hooksPath",
        f"GIT_CONFIG_VALUE_{index}": str(hooks),
        "GIT_CONFIG_PARAMETERS": parameters,
    }


def _sq_quote(text: str) -> str:
    """One ``GIT_CONFIG_PARAMETERS`` entry, quoted as git's own ``sq_quote`` does."""
    return "'" + text.replace("'", "'\\''") + "'"
