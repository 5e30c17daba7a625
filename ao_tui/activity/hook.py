"""The hook command Claude Code runs on every event: append one JSON line and exit.

``python -m ao_tui.activity.hook --session <ao id> --out <events file>``

It reads the event payload from stdin and appends ``{"ao_session", "at",
"event", ...payload}`` to the events file with a single ``O_APPEND`` write, so
concurrent hooks never interleave lines. It runs on every tool call, so it
imports only json, os, sys and time, prints nothing and always exits 0: a
broken hook must never block the agent.
"""

import json
import os
import sys
import time

#: Lines up to this size are written by one write() that no other writer can split.
LINE_LIMIT = 4000
#: Fields that can be huge (file contents, command output); trimmed first.
BULKY_FIELDS = ("tool_response", "tool_input", "last_assistant_message", "prompt", "message")


def _trim(value: object, limit: int) -> object:
    """``value`` with every string cut to ``limit`` characters, recursively."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    if isinstance(value, dict):
        return {k: _trim(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_trim(v, limit) for v in value[:20]]
    return value


def _encode(record: dict[str, object]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def event_line(session: str, payload: dict[str, object], now: float) -> bytes:
    """The line for one event, kept under LINE_LIMIT bytes by trimming bulky fields."""
    record = {"ao_session": session, "at": now, "event": payload.get("hook_event_name", "")}
    record.update(payload)
    line = _encode(record)
    for limit in (2000, 500, 120):
        if len(line) <= LINE_LIMIT:
            return line
        for name in BULKY_FIELDS:
            if name in record:
                record[name] = _trim(record[name], limit)
        record["trimmed"] = True
        line = _encode(record)
    if len(line) > LINE_LIMIT:  # pathological: many fields; keep what decides state
        keep = ("ao_session", "at", "event", "hook_event_name", "session_id", "transcript_path",
                "tool_name", "notification_type", "tool_use_id", "cwd")
        record = {k: _trim(record[k], 300) for k in keep if k in record}
        record["trimmed"] = True
        line = _encode(record)
    return line


def command(session: str, out: str, python: str = sys.executable) -> list[str]:
    """The fastest argv for this hook: the file itself, isolated (-I) and without site (-S).

    It needs nothing beyond the standard library, so skipping site-packages
    (and the editable-install finder) saves ~15 ms on every event against
    ``python -m ao_tui.activity.hook`` (docs/benchmarks.md).
    """
    return [python, "-I", "-S", os.path.abspath(__file__), "--session", session, "--out", out]


def _args(argv: list[str]) -> tuple[str, str]:
    session = out = ""
    it = iter(argv)
    for arg in it:
        if arg == "--session":
            session = next(it, "")
        elif arg == "--out":
            out = next(it, "")
        elif arg.startswith("--session="):
            session = arg.split("=", 1)[1]
        elif arg.startswith("--out="):
            out = arg.split("=", 1)[1]
    return session, out


def main(argv: list[str] | None = None) -> int:
    try:
        session, out = _args(sys.argv[1:] if argv is None else argv)
        if not out:
            return 0
        raw = sys.stdin.buffer.read()
        now = time.time()
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            payload = {"unparsed": raw[:500].decode("utf-8", "replace")}
        if not isinstance(payload, dict):
            payload = {"payload": payload}
        line = event_line(session, payload, now)
        fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except Exception:  # noqa: BLE001 - a hook must never fail the agent
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
