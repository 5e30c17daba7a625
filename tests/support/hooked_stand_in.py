"""A stand-in for Claude Code that also fires Claude Code's hooks, so ao sees its activity.

Launched by the ``claude-code`` agent plugin (as ``agent.command``), it finds
the hook command ao installed in ``.claude/settings.local.json`` of its
working directory and runs it, with the event JSON on stdin, exactly as
Claude Code does: ``SessionStart`` when it starts, ``UserPromptSubmit`` for
the task prompt and for every message typed into it, ``Stop`` when a turn
ends. The task prompt's turn lasts until the file ``release`` appears in its
directory (so a test decides how long the agent is busy); a typed message's
turn ends at once.

Under ``$AO_STANDIN_DIR/<ao session id>/`` it writes ``argv.json`` and
``received.jsonl``: one ``{"text", "busy"}`` line per submitted message,
``busy`` telling whether it arrived while a turn was still running (ao must
never type into a busy agent).
"""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import termios
from pathlib import Path

FLAGS_WITH_VALUE = {"--session-id", "--model", "--permission-mode", "--append-system-prompt", "--resume", "--settings"}


def hook_argv(event: str) -> list[str] | None:
    try:
        settings = json.loads(Path(".claude/settings.local.json").read_text())
        command = settings["hooks"][event][-1]["hooks"][-1]["command"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return shlex.split(command)


#: The conversation id ao gave (``--session-id``) or resumes (``--resume``): Claude Code sends it in every hook.
CONVERSATION: list[str] = []


def fire(event: str, **payload: object) -> None:
    argv = hook_argv(event)
    if argv:
        body = {"hook_event_name": event, "cwd": os.getcwd(), **payload}
        if CONVERSATION:
            body["session_id"] = CONVERSATION[0]
        subprocess.run(argv, input=json.dumps(body).encode(), timeout=10, check=False)


def main() -> int:
    args = sys.argv[1:]
    out = Path(os.environ.get("AO_STANDIN_DIR", ".")) / os.environ.get("AO_SESSION_ID", "unknown")
    out.mkdir(parents=True, exist_ok=True)
    (out / "argv.json").write_text(json.dumps(args))
    positional, i = [], 0
    while i < len(args):
        if args[i] in FLAGS_WITH_VALUE:
            if args[i] in ("--session-id", "--resume") and i + 1 < len(args):
                CONVERSATION[:] = [args[i + 1]]
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            positional.append(args[i])
            i += 1
    fd = sys.stdin.fileno()
    attrs = termios.tcgetattr(fd)
    attrs[3] &= ~(termios.ICANON | termios.ECHO)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    sys.stdout.write("\x1b[?2004hhooked stand-in agent\r\n")
    fire("SessionStart", source="resume" if "--resume" in args else "startup")
    busy = False
    if positional:
        busy = True
        fire("UserPromptSubmit", prompt=positional[-1])
        sys.stdout.write("working on the task...\r\n")
    else:
        sys.stdout.write("❯ ")
    sys.stdout.flush()
    buffer, pasting, pending = "", False, ""
    with (out / "received.jsonl").open("a", encoding="utf-8") as received:
        while True:
            if busy and (out / "release").exists():
                busy = False
                fire("Stop", last_assistant_message="Done with the task.")
                sys.stdout.write("Done with the task.\r\n❯ ")
                sys.stdout.flush()
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
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
                    break
                elif pending[0] in "\r\n" and not pasting:
                    pending = pending[1:]
                    received.write(json.dumps({"text": buffer, "busy": busy}) + "\n")
                    received.flush()
                    fire("UserPromptSubmit", prompt=buffer)
                    sys.stdout.write(f"\r\ngot {len(buffer)} chars\r\n")
                    fire("Stop", last_assistant_message=f"Got {len(buffer)} characters.")
                    sys.stdout.write("❯ ")
                    sys.stdout.flush()
                    buffer = ""
                else:
                    buffer, pending = buffer + pending[0], pending[1:]


if __name__ == "__main__":
    sys.exit(main())
