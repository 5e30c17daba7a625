"""Validation and derivation of names that end up in paths and commands.

Session ids, branch names and slugs are derived from untrusted text (issue
titles, prompts). Everything that reaches git, tmux or the filesystem passes
through here first.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from ao_tui.errors import InvalidName

_SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}$")
# git check-ref-format rules, simplified to a safe subset.
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")


def validate_session_id(value: str) -> str:
    if not isinstance(value, str) or not _SESSION_ID.match(value):
        raise InvalidName(f"invalid session id {value!r}: use lowercase letters, digits, '-' and '_'")
    return value


def validate_prefix(value: str) -> str:
    if not _PREFIX.match(value):
        raise InvalidName(f"invalid session prefix {value!r}: use lowercase letters, digits, '-' and '_'")
    return value


def validate_branch(value: str) -> str:
    bad = (
        not value
        or not _BRANCH_CHARS.match(value)
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".." in value
        or "//" in value
        or "/." in value
        or "@{" in value
        or len(value) > 200
    )
    if bad:
        raise InvalidName(f"invalid branch name {value!r}")
    return value


def slugify(text: str, max_len: int = 40) -> str:
    """A lowercase ascii slug of free text, safe in a branch or file name."""
    norm = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", norm.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "task"


def contained_path(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root`` and refuse anything that escapes it."""
    root_resolved = root.resolve()
    candidate = root_resolved.joinpath(*parts).resolve()
    if candidate != root_resolved and root_resolved not in candidate.parents:
        raise InvalidName(f"path {'/'.join(parts)!r} escapes {root}")
    return candidate


def tmux_word(word: str) -> str:
    """One argument for tmux's command line, taken literally by tmux.

    tmux reads an argument that ends in ``;`` as the end of its command and runs the
    next argument as a tmux command of its own (an agent argument ``"x;"`` followed by
    ``"kill-server"`` would kill the server); ``\\;`` at the end stands for a literal ``;``.
    """
    return word[:-1] + "\\;" if word.endswith(";") else word
