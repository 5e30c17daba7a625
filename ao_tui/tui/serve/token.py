"""The one secret that opens ``ao-tui --serve``: made on first use, kept 0600 in the state dir."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from ao_tui import paths

TOKEN_FILE = "serve.token"


def token_path() -> Path:
    return paths.ao_home() / TOKEN_FILE


def load_or_create(path: Path | None = None) -> tuple[str, bool]:
    """The token and whether it was made just now (then, and only then, it is shown).

    Written atomically with mode 0600 from the start (``O_EXCL`` on a temporary name,
    then a rename), so no other user ever reads it, even for a moment.
    """
    path = path or token_path()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return token, False
    token = secrets.token_urlsafe(32)
    paths.ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return token, True


def matches(given: str | None, token: str) -> bool:
    """Constant-time comparison (``hmac.compare_digest``): no timing hints about the token."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))
