"""The app process of one browser (``ao-tui --web-child``): started ahead, sized when a browser comes.

``ao-tui --serve`` keeps one app process ready, its imports done (most of the
time a first screen takes), and waits here for the first packet the server
sends: the browser's terminal size (textual-serve's ``M`` meta packet,
``{"type": "resize", ...}``). Only then does the app start, so its first frame is
drawn at the right size.
"""

from __future__ import annotations

import json
import os


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))  # unbuffered: the web driver reads the rest of stdin itself
        if not chunk:
            raise SystemExit(0)  # the server went away before a browser came
        data += chunk
    return data


def wait_for_size(fd: int = 0) -> None:
    kind = _read_exactly(fd, 1)
    payload = _read_exactly(fd, int.from_bytes(_read_exactly(fd, 4), "big"))
    if kind != b"M":
        return
    try:
        meta = json.loads(payload)
        width, height = int(meta["width"]), int(meta["height"])
    except (ValueError, KeyError, TypeError):
        return
    if meta.get("type") == "resize" and width > 0 and height > 0:
        os.environ["COLUMNS"], os.environ["ROWS"] = str(width), str(height)
