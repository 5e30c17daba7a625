"""A stand-in agent ao can only read from its screen (no hooks, no transcript), drawn like aider.

It shows aider's input prompt (``> `` under a rule); each line typed into it is
appended to ``$AO_STANDIN_DIR/<ao session id>/received.jsonl`` as ``{"text", "busy"}``
and answered after a second of ``Waiting for stand-in-model``. ``busy`` tells
whether the text arrived while it was still "waiting" (ao must not type then).
"""

from __future__ import annotations

import json
import os
import select
import sys
import termios
import time
from pathlib import Path

RULE = "─" * 40


def main() -> int:
    out = Path(os.environ.get("AO_STANDIN_DIR", ".")) / os.environ.get("AO_SESSION_ID", "unknown")
    out.mkdir(parents=True, exist_ok=True)
    (out / "argv.json").write_text(json.dumps(sys.argv[1:]))
    fd = sys.stdin.fileno()
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~termios.ICANON  # bytes readable at once, as in aider's prompt_toolkit input
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    write = sys.stdout.write
    write(f"screen stand-in\n{RULE}\n> ")
    sys.stdout.flush()
    pending = b""
    with (out / "received.jsonl").open("a", encoding="utf-8") as received:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return 0
            pending += chunk
            while b"\n" in pending or b"\r" in pending:
                cut = min(i for i in (pending.find(b"\n"), pending.find(b"\r")) if i >= 0)
                line, pending = pending[:cut], pending[cut + 1:]
                received.write(json.dumps({"text": line.decode("utf-8", "replace"), "busy": False}) + "\n")
                received.flush()
                write("\nWaiting for stand-in-model\n")
                sys.stdout.flush()
                deadline = time.monotonic() + 1.0
                while (left := deadline - time.monotonic()) > 0:
                    if select.select([fd], [], [], left)[0]:  # typed into a busy agent
                        extra = os.read(fd, 65536)
                        received.write(json.dumps({"text": extra.decode("utf-8", "replace"), "busy": True}) + "\n")
                        received.flush()
                write(f"Answered {len(line)} bytes.\n{RULE}\n> ")
                sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
