"""The JSON objects at the end of a JSON-lines file (hook events, transcripts): what several readers
need when they look back for one record without following the file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def tail_objects(path: Path | str, tail_bytes: int = 256 << 10, *, newest_first: bool = False) -> Iterator[dict[str, Any]]:
    """The JSON objects in the file's last ``tail_bytes`` (other lines skipped), oldest first unless
    ``newest_first``. Raises OSError when the file cannot be read."""
    with open(path, "rb") as handle:
        handle.seek(max(0, handle.seek(0, 2) - tail_bytes))
        lines = handle.read().splitlines()
    for raw in reversed(lines) if newest_first else lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record
