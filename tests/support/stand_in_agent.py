"""A fast stand-in for Claude Code: accepts its flags, records what it gets.

Used as ``agent.command`` in engine tests so that they exercise the real
engine, tmux and git without the cost of the real CLI. It writes, under
``$AO_STANDIN_DIR/<ao session id>/``: ``argv.json`` (its arguments),
``prompt.txt`` (the positional prompt) and ``received.txt`` (every line typed
into it), and draws a Claude-like prompt.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    out = Path(os.environ.get("AO_STANDIN_DIR", ".")) / os.environ.get("AO_SESSION_ID", "unknown")
    out.mkdir(parents=True, exist_ok=True)
    (out / "argv.json").write_text(json.dumps(args))
    flags_with_value = {"--session-id", "--model", "--permission-mode", "--append-system-prompt", "--resume", "--settings"}
    positional, i = [], 0
    while i < len(args):
        if args[i] in flags_with_value:
            i += 2
            continue
        if args[i].startswith("--"):
            i += 1
            continue
        positional.append(args[i])
        i += 1
    if positional:
        (out / "prompt.txt").write_text(positional[-1])
    mode = "resumed" if "--resume" in args else "started"
    (out / "pid").write_text(str(os.getpid()))
    return _repl(out, mode)


def _repl(out: Path, mode: str) -> int:
    """Like Claude Code's prompt: raw input, bracketed paste, Enter submits.

    Each submitted message is appended to ``received.jsonl`` exactly as typed
    (newlines inside a paste included), so tests can compare byte for byte.
    """
    import termios

    fd = sys.stdin.fileno()
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ICANON | termios.ECHO)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    sys.stdout.write(f"\x1b[?2004hstand-in agent {mode}\r\n❯ ")
    sys.stdout.flush()
    buffer, pasting, pending = "", False, ""
    with (out / "received.jsonl").open("a", encoding="utf-8") as received:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return 0
            pending += chunk.decode("utf-8", "replace")
            while pending:
                if pending.startswith("\x1b[200~"):
                    pasting, pending = True, pending[6:]
                elif pending.startswith("\x1b[201~"):
                    pasting, pending = False, pending[6:]
                elif len(pending) < 6 and ("\x1b[200~".startswith(pending) or "\x1b[201~".startswith(pending)):
                    break  # an incomplete paste marker: wait for the rest
                elif pending[0] in "\r\n" and not pasting:
                    pending = pending[1:]
                    if buffer == "/exit":
                        return 3
                    received.write(json.dumps(buffer) + "\n")
                    received.flush()
                    sys.stdout.write(f"\r\ngot {len(buffer)} chars\r\n❯ ")
                    sys.stdout.flush()
                    buffer = ""
                else:
                    buffer, pending = buffer + pending[0], pending[1:]


if __name__ == "__main__":
    sys.exit(main())
