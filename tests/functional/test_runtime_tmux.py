"""Runtime ``tmux`` against real tmux on the test's private socket, and terminal ``tmux``.

The program on the other end is ``READER``: a small line reader that behaves
like Claude Code's prompt where it matters (raw mode, bracketed paste, Enter
submits, and an Enter that arrives in the same read as the end of a paste is
taken as part of the paste). It appends every submitted message to a JSON
lines file, so tests compare exactly what the program received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ao_tui.errors import AoError, InvalidName, NotFound
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.runtime_tmux import TmuxRuntime
from ao_tui_plugins.terminal_tmux import TmuxTerminal
from tests.conftest import claude_bin
from tests.support.waiting import wait_until

READER = r'''
import json, os, sys, termios, time
out = open(sys.argv[1], "a", encoding="utf-8")
attrs = termios.tcgetattr(0)
attrs[0] &= ~(termios.ICRNL | termios.IXON)
attrs[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG)
termios.tcsetattr(0, termios.TCSANOW, attrs)
os.write(1, b"\x1b]2;reader ready\x07\x1b[?2004hready\r\n> ")
START, END = b"\x1b[200~", b"\x1b[201~"
buf, pending, pasting, pasted = b"", b"", False, 0
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    paste_in_chunk = pasting or START in chunk
    pending += chunk
    while pending:
        if pending.startswith(START):
            pasting, pending, pasted = True, pending[6:], 0
        elif pending.startswith(END):
            pasting, pending = False, pending[6:]
            os.write(1, b"[Pasted text +%d bytes]" % pasted)
        elif len(pending) < 6 and (START.startswith(pending) or END.startswith(pending)):
            break
        elif pending[:1] == b"\r" and not pasting and not paste_in_chunk:
            pending = pending[1:]
            text = buf.decode("utf-8", "replace")
            if text == "/exit":
                sys.exit(3)
            out.write(json.dumps(text) + "\n"); out.flush()
            os.write(1, b"\r\ngot %d chars\r\n> " % len(text))
            buf = b""
        elif pending[:1] == b"\r" and not pasting:
            # Like a real TUI, an Enter that arrives glued to a paste is a newline in it.
            buf, pending = buf + b"\n", pending[1:]
        else:
            byte, pending = pending[:1], pending[1:]
            buf += byte
            if pasting:
                pasted += 1
            else:
                os.write(1, byte if 32 <= byte[0] < 127 else b"?")
    if paste_in_chunk:
        time.sleep(0.05)  # busy redrawing after a paste, as Claude Code is
'''

HOSTILE = [
    "hello",
    "quotes \"double\" 'single' and \\backslash",
    "$(rm -rf x); `touch pwned` ; echo $HOME && exit",
    "\x1b[31mred\x1b[0m [bold]not markup[/bold] \x07bell",
    "line one\nline two\n\nline four\n",
    "unicode héllo ❯ 日本語 🚀",
    "-t =other: starts with a dash",
    "C-c Enter Escape",
]


def received(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def runtime(ao_home: Path, tmux_socket: str) -> TmuxRuntime:
    return TmuxRuntime(PluginContext(ao_home=ao_home, tmux_socket=tmux_socket))


@pytest.fixture
def reader(tmp_path: Path):
    """Start READER under a runtime: returns (start(runtime, handle) -> received file)."""
    script = tmp_path / "reader.py"
    script.write_text(READER)
    workdir = tmp_path / "work"
    workdir.mkdir()

    def start(rt, handle: str = "rd-1", size: tuple[int, int] = (100, 30)) -> Path:
        out = tmp_path / f"{handle}.jsonl"
        rt.create(handle, workdir, [sys.executable, str(script), str(out)], {}, size=size)
        wait_until(lambda: "ready\n>" in rt.capture(handle), message=lambda: rt.capture(handle))
        return out

    start.workdir = workdir  # type: ignore[attr-defined]
    return start


def test_hostile_text_reaches_the_program_exactly_once_each(runtime: TmuxRuntime, reader) -> None:
    out = reader(runtime)
    (reader.workdir / "x").write_text("keep me")
    for text in HOSTILE:
        runtime.send_text("rd-1", text)
    got = wait_until(lambda: len(received(out)) == len(HOSTILE) and received(out), timeout=15)
    assert got == HOSTILE
    assert (reader.workdir / "x").read_text() == "keep me"
    assert not (reader.workdir / "pwned").exists()
    assert runtime.status("rd-1").alive  # "C-c" and "exit" were text, not keys


def test_a_100kb_prompt_with_newlines_is_submitted_exactly_once(runtime: TmuxRuntime, reader) -> None:
    out = reader(runtime)
    line = "0123456789 abcdefghij $(x) `y` 'q' \"d\" ; \\ " * 2 + "\n"
    text = (line * (100_000 // len(line) + 1))[:100_000]
    started = time.monotonic()
    runtime.send_text("rd-1", text)
    took = time.monotonic() - started
    assert wait_until(lambda: received(out), timeout=15) == [text]
    assert took < 8, f"send_text of 100 kB took {took:.2f}s"
    runtime.send_text("rd-1", "after")  # the program is back at its prompt
    assert wait_until(lambda: len(received(out)) == 2 and received(out))[1] == "after"


def test_enter_sent_without_waiting_is_swallowed_by_the_reader(runtime: TmuxRuntime, reader, tmux_socket) -> None:
    """The race send_text avoids is real with this reader: paste then an immediate Enter fails."""
    out = reader(runtime)
    text = "x" * 20_000
    subprocess.run(
        ["tmux", "-L", tmux_socket, "load-buffer", "-b", "naive", "-", ";", "paste-buffer", "-p", "-d", "-b", "naive",
         "-t", "=rd-1:", ";", "send-keys", "-t", "=rd-1:", "Enter"],
        input=text.encode(), check=True,
    )  # fmt: skip
    time.sleep(0.5)
    assert received(out) == []  # typed but never submitted: complaint #4
    runtime.send_text("rd-1", "", submit=True)
    assert wait_until(lambda: received(out)) == [text + "\n"]


def test_text_without_submit_waits_for_an_enter_key(runtime: TmuxRuntime, reader) -> None:
    out = reader(runtime)
    runtime.send_text("rd-1", "draft", submit=False)
    wait_until(lambda: "[Pasted text +5 bytes]" in runtime.capture("rd-1"))
    assert received(out) == []
    runtime.send_keys("rd-1", "Enter")
    assert wait_until(lambda: received(out)) == ["draft"]
    runtime.send_bytes("rd-1", "typed ❯\r".encode())
    assert wait_until(lambda: len(received(out)) == 2 and received(out)) == ["draft", "typed ❯"]
    runtime.send_keys("rd-1", "h", "i", "Enter")
    assert wait_until(lambda: len(received(out)) == 3 and received(out))[2] == "hi"


def test_exit_status_environment_and_working_directory(
    runtime: TmuxRuntime, ao_home: Path, tmp_path: Path, tmux_socket, monkeypatch: pytest.MonkeyPatch
):
    code = "import os,sys; print('cwd', os.getcwd()); print('token', os.environ['AO_TEST_TOKEN']); sys.exit(7)"
    command_lines: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        command_lines.append([str(a) for a in argv])
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    runtime.create("ex-1", tmp_path, [sys.executable, "-c", code], {"AO_TEST_TOKEN": "tok-$(id)-secret"})
    monkeypatch.setattr(subprocess, "run", real_run)
    assert any("new-session" in argv for argv in command_lines)
    assert not any("tok-$(id)" in arg for argv in command_lines for arg in argv), "a secret on a command line (ps)"
    status = wait_until(lambda: (s := runtime.status("ex-1")) and not s.alive and s)
    assert status.exit_code == 7
    screen = runtime.capture("ex-1")  # the last screen stays as the program left it
    assert f"cwd {tmp_path}" in screen and "token tok-$(id)-secret" in screen
    assert "ex-1" in runtime.list_handles()  # kept after exit, for its status and screen
    for path in ao_home.rglob("*"):
        assert not path.is_file() or "tok-$(id)" not in path.read_text(errors="replace")
    server_pid = subprocess.run(["tmux", "-L", tmux_socket, "display", "-p", "#{pid}"], capture_output=True, text=True)
    server_title = Path(f"/proc/{server_pid.stdout.strip()}/cmdline").read_bytes()
    assert b"tok-$(id)" not in server_title  # `ps` shows the tmux server's title for its whole life
    runtime.kill("ex-1")
    runtime.kill("ex-1")  # idempotent
    assert runtime.list_handles() == [] and not runtime.status("ex-1").alive


def test_a_signal_death_is_not_alive(runtime: TmuxRuntime, tmp_path: Path) -> None:
    runtime.create("sig-1", tmp_path, ["sleep", "30"], {})
    pid = wait_until(lambda: runtime.status("sig-1").pid)
    os.kill(pid, 9)
    status = wait_until(lambda: (s := runtime.status("sig-1")) and not s.alive and s)
    assert status.exit_code == -9


def test_huge_argv_and_single_word_commands_run_without_a_shell(runtime: TmuxRuntime, ao_home: Path, tmp_path: Path):
    report = tmp_path / "argv.json"
    big = "$(touch pwned) " + "a" * 100_000
    code = f"import json,sys; open({str(report)!r},'w').write(json.dumps(sys.argv[1:]))"
    runtime.create("big-1", tmp_path, [sys.executable, "-c", code, big, "two words"], {"AO_SECRET": "s3cr3t"})
    assert wait_until(lambda: report.exists() and json.loads(report.read_text() or "null")) == [big, "two words"]
    assert not (tmp_path / "pwned").exists()
    assert list((ao_home / "runtime").glob("*.launch.json")) == []  # the spec is gone once read
    # One word would be `sh -c word` in tmux: a path with a space and a `$` must still run as is.
    tool = tmp_path / "my tool $(x)"
    tool.write_text(f"#!/bin/sh\necho ran > {tmp_path}/single\n")
    tool.chmod(0o755)
    runtime.create("one-1", tmp_path, [str(tool)], {})
    wait_until(lambda: (tmp_path / "single").exists())


def test_arguments_ending_in_a_semicolon_stay_arguments(runtime: TmuxRuntime, tmux_socket, tmp_path: Path) -> None:
    """tmux ends its command at an argument ending in ``;`` and runs the next word as a tmux command."""
    report = tmp_path / "argv.json"
    code = f"import json,sys,time; open({str(report)!r},'w').write(json.dumps(sys.argv[1:])); time.sleep(30)"
    words = ["fix it;", "kill-server", ";", "kill-server", "ends in \\;", "x"]
    runtime.create("semi-1", tmp_path, [sys.executable, "-c", code, *words], {})
    assert wait_until(lambda: report.exists() and json.loads(report.read_text() or "null")) == words
    assert runtime.status("semi-1").alive  # the tmux server is still there
    runtime.send_keys("semi-1", "a;", "kill-server")
    assert runtime.status("semi-1").alive
    listed = subprocess.run(["tmux", "-L", tmux_socket, "list-sessions"], capture_output=True, text=True)
    assert "semi-1" in listed.stdout


def test_handles_are_validated_and_matched_exactly(runtime: TmuxRuntime, tmp_path: Path) -> None:
    for bad in ("a.b", "a:b", "../x", "-t", "", "x" * 80, "a b"):
        with pytest.raises(InvalidName):
            runtime.create(bad, tmp_path, ["sleep", "5"], {})
    runtime.create("dm-10", tmp_path, ["sleep", "30"], {})
    assert not runtime.status("dm-1").alive  # tmux alone would match dm-1 to dm-10 by prefix
    with pytest.raises(NotFound):
        runtime.capture("dm-1")
    runtime.kill("dm-1")
    assert runtime.status("dm-10").alive
    with pytest.raises(AoError):
        runtime.create("dm-10", tmp_path, ["sleep", "30"], {})  # already there


def test_panes_lists_every_session_in_one_tmux_call(runtime: TmuxRuntime, reader, tmp_path: Path, monkeypatch):
    reader(runtime, "rd-1", size=(90, 20))
    runtime.create("gone-1", tmp_path, [sys.executable, "-c", "raise SystemExit(4)"], {})
    wait_until(lambda: runtime.status("gone-1").exit_code == 4)
    calls = []
    real = runtime._tmux
    monkeypatch.setattr(runtime, "_tmux", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    panes = runtime.panes()
    assert calls == ["list-panes"]
    assert set(panes) == {"rd-1", "gone-1"}
    assert panes["rd-1"].title == "reader ready" and not panes["rd-1"].dead
    assert (panes["rd-1"].width, panes["rd-1"].height) == (90, 20) and panes["rd-1"].pid
    assert panes["gone-1"].dead and panes["gone-1"].exit_code == 4
    runtime.resize("rd-1", 120, 40)
    assert (runtime.panes()["rd-1"].width, runtime.panes()["rd-1"].height) == (120, 40)


def test_capture_with_colours_and_scrollback(runtime: TmuxRuntime, tmp_path: Path) -> None:
    code = "import time\nfor i in range(300): print(f'line {i}')\nprint('\\x1b[31mred word\\x1b[0m')\ntime.sleep(30)"
    runtime.create("cap-1", tmp_path, [sys.executable, "-c", code], {}, size=(80, 24))
    wait_until(lambda: "red word" in runtime.capture("cap-1"))
    plain = runtime.capture("cap-1")
    assert "line 0\n" not in plain and "\x1b[" not in plain
    assert len(plain.split("\n")) == 24
    assert "line 0\n" in runtime.capture("cap-1", history=400)
    assert "\x1b[31mred word" in runtime.capture("cap-1", escapes=True)


async def test_stream_yields_what_the_program_prints(runtime: TmuxRuntime, reader) -> None:
    reader(runtime, "rd-1", size=(90, 20))
    got = bytearray()

    async def collect() -> None:
        async for chunk in runtime.stream("rd-1"):
            got.extend(chunk)
            if b"got 5 chars" in got:
                return

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.3)  # the control client attaches
    await asyncio.to_thread(runtime.send_text, "rd-1", "hello")
    await asyncio.wait_for(task, 10)
    assert b"[Pasted text +5 bytes]" in got and b"\r\ngot 5 chars\r" in got  # raw bytes, control characters intact
    pane = runtime.panes()["rd-1"]
    assert (pane.width, pane.height) == (90, 20)  # watching did not resize the agent's window
    with pytest.raises(NotFound):
        async for _ in runtime.stream("nope-1"):
            pass


def test_killed_tmux_server_means_not_alive_and_create_works_again(runtime: TmuxRuntime, reader, tmux_socket):
    reader(runtime)
    subprocess.run(["tmux", "-L", tmux_socket, "kill-server"], check=True)
    assert runtime.status("rd-1") .alive is False
    assert runtime.list_handles() == [] and runtime.panes() == {}
    out = reader(runtime)
    runtime.send_text("rd-1", "back")
    assert wait_until(lambda: received(out)) == ["back"]


def test_attach_shows_the_session_in_a_real_terminal(runtime: TmuxRuntime, reader, tmux_socket) -> None:
    import pty

    reader(runtime)
    argv = runtime.attach_argv("rd-1")
    assert argv[:3] == ["tmux", "-L", tmux_socket] and argv[-3:] == ["attach-session", "-t", "=rd-1"]
    argv = TmuxTerminal(PluginContext(ao_home=Path("."), tmux_socket=tmux_socket)).attach_argv(argv, False)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.pop("TMUX", None)
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    seen = bytearray()
    try:
        deadline = time.monotonic() + 10
        while b"ready" not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                seen += os.read(fd, 65536)
        assert b"ready" in seen, seen
        subprocess.run(["tmux", "-L", tmux_socket, "detach-client", "-s", "=rd-1"], check=True)
        status = None
        while status is None and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                with contextlib.suppress(OSError):
                    seen += os.read(fd, 65536)
            done, raw = os.waitpid(pid, os.WNOHANG)
            status = raw if done else None
        assert status is not None and os.waitstatus_to_exitcode(status) == 0, seen[-300:]
        assert b"detached" in seen
    finally:
        os.close(fd)
    assert runtime.status("rd-1").alive  # detaching left the agent running


def test_terminal_attach_from_inside_another_tmux(tmux_socket: str, monkeypatch) -> None:
    term = TmuxTerminal(PluginContext(ao_home=Path("."), tmux_socket=tmux_socket))
    attach = ["tmux", "-L", tmux_socket, "attach-session", "-t", "=rd-1"]
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,123,0")
    nested = term.attach_argv(attach, True)
    assert nested == ["env", "-u", "TMUX", "-u", "TMUX_PANE", *attach]
    monkeypatch.delenv("TMUX_TMPDIR", raising=False)
    socket_path = f"/tmp/tmux-{os.getuid()}/{tmux_socket}"
    monkeypatch.setenv("TMUX", f"{socket_path},123,0")  # already a client of ao's own server
    assert term.attach_argv(attach, True) == ["tmux", "-L", tmux_socket, "switch-client", "-t", "=rd-1"]
    sized = ["tmux", "-L", tmux_socket, "set-option", "-w", "-t", "=rd-1:", "window-size", "latest", ";",
             "attach-session", "-t", "=rd-1"]  # the commands before attaching stay
    assert term.attach_argv(sized, True) == [*sized[:-3], "switch-client", "-t", "=rd-1"]
    other = [sys.executable, "-m", "ao_tui_plugins.pty_supervisor", "attach", "/x.sock"]
    assert term.attach_argv(other, True) == other


@pytest.mark.claude
@pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed")
def test_real_claude_code_receives_pasted_prompts_exactly_once(runtime: TmuxRuntime, tmp_path: Path) -> None:
    """Complaint #4 against the real CLI: a multi-line prompt and a 60 kB one, each submitted once."""
    from tests.support.anthropic_server import AnthropicServer, text
    from tests.support.claude_env import claude_env

    workdir = tmp_path / "work"
    workdir.mkdir()
    small = "MARK-ONE first line with $(rm -rf ~) and `id`; \"quoted\" 'single'\nsecond line [bold]x[/bold]\n\nlast"
    big = "MARK-TWO " + ("a long prompt line with some words in it; $(x)\n" * 1300)[:60_000]
    with AnthropicServer() as api:
        api.script.on_prompt("MARK-ONE", text("got one"))
        api.script.on_prompt("MARK-TWO", text("got two"))
        env = claude_env(tmp_path / "home", [workdir], api.url, inherit=False)
        runtime.create("cc-1", workdir, [claude_bin(), "--model", "claude-sonnet-4-5"], env, size=(120, 40))
        wait_until(lambda: "? for shortcuts" in runtime.capture("cc-1"), timeout=30,
                   message=lambda: runtime.capture("cc-1"))  # fmt: skip
        timings = []
        for prompt, reply in ((small, "got one"), (big, "got two")):
            started = time.monotonic()
            runtime.send_text("cc-1", prompt)
            timings.append(round(time.monotonic() - started, 2))
            wait_until(lambda reply=reply: reply in runtime.capture("cc-1"), timeout=30,
                       message=lambda: runtime.capture("cc-1"))  # fmt: skip
        prompts = [r.last_user_text for r in api.main_requests]
    assert sum("MARK-ONE" in p for p in prompts) == 1 and sum("MARK-TWO" in p for p in prompts) == 1
    sent_one = next(p for p in prompts if "MARK-ONE" in p)
    sent_two = next(p for p in prompts if "MARK-TWO" in p)
    assert small in sent_one.replace("\r\n", "\n").replace("\r", "\n")
    assert big.strip() in sent_two.replace("\r\n", "\n").replace("\r", "\n")
    print("send_text into Claude Code (small, 60 kB):", timings)


def test_many_sessions_created_at_once_on_a_fresh_server_all_start(runtime: TmuxRuntime, tmp_path: Path) -> None:
    """Concurrent spawns never lose the race that starts ao's server (QA: 4 of 6 demo agents lost).

    Meanwhile another agent is spawned and killed over and over: each kill that
    leaves no session lets the server exit, so creates keep meeting a server on
    its way out and must start it again.
    """
    import threading

    errors: list[BaseException] = []
    handles = [f"cc-{i}" for i in range(12)]
    barrier = threading.Barrier(len(handles) + 1)
    stop = threading.Event()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]

    def create(handle: str) -> None:
        barrier.wait()
        try:
            runtime.create(handle, tmp_path, sleeper, {"K": "v"})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def churn() -> None:
        barrier.wait()
        while not stop.is_set():
            try:
                runtime.create("churn-1", tmp_path, sleeper, {})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            runtime.kill("churn-1")

    threads = [threading.Thread(target=create, args=(h,)) for h in handles]
    other = threading.Thread(target=churn)
    other.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    stop.set()
    other.join(timeout=15)
    assert errors == []
    assert sorted(runtime.list_handles()) == sorted(handles)
    assert all(runtime.status(h).alive for h in handles)
    for handle in handles:
        runtime.kill(handle)
    assert runtime.list_handles() == []
    # With no session left, ao's server exits rather than lingering.
    wait_until(lambda: subprocess.run(["tmux", "-L", runtime.socket, "list-sessions"], capture_output=True,
                                      stdin=subprocess.DEVNULL).returncode != 0, timeout=5)
