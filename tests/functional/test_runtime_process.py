"""Runtime ``process``: the agent on a bare pty owned by a detached supervisor (no tmux)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.errors import AoError, InvalidName, NotFound
from ao_tui.slots.base import PluginContext
from ao_tui_plugins.runtime_process import ProcessRuntime
from tests.functional.test_runtime_tmux import HOSTILE, READER, received
from tests.support.waiting import wait_until


@pytest.fixture
def runtime(ao_home: Path):
    rt = ProcessRuntime(PluginContext(ao_home=ao_home))
    yield rt
    for handle in rt.list_handles():  # supervisors are detached: stop them explicitly
        rt.kill(handle)
    for pid_file in (ao_home / "runtime").glob("*.pid"):  # and any that no longer answer
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


@pytest.fixture
def reader(tmp_path: Path):
    script = tmp_path / "reader.py"
    script.write_text(READER)

    def start(rt: ProcessRuntime, handle: str = "rd-1", size: tuple[int, int] = (100, 30)) -> Path:
        out = tmp_path / f"{handle}.jsonl"
        rt.create(handle, tmp_path, [sys.executable, str(script), str(out)], {}, size=size)
        wait_until(lambda: "ready\n>" in rt.capture(handle), message=lambda: rt.capture(handle))
        return out

    return start


def test_hostile_and_100kb_text_arrive_exactly_once(runtime: ProcessRuntime, reader, tmp_path: Path) -> None:
    out = reader(runtime)
    for text in HOSTILE:
        runtime.send_text("rd-1", text)
    big = ("$(touch pwned) `x` \"q\" \\ ;\n" * 4000)[:100_000]
    runtime.send_text("rd-1", big)
    expected = [*HOSTILE, big]
    assert wait_until(lambda: len(received(out)) == len(expected) and received(out), timeout=15) == expected
    assert not (tmp_path / "pwned").exists()
    assert runtime.last_paste_wait < 8


def test_keys_bytes_and_a_draft_left_unsent(runtime: ProcessRuntime, reader) -> None:
    out = reader(runtime)
    runtime.send_text("rd-1", "draft", submit=False)
    wait_until(lambda: "[Pasted text +5 bytes]" in runtime.capture("rd-1"))
    assert received(out) == []
    runtime.send_keys("rd-1", "Enter")
    runtime.send_bytes("rd-1", b"ab\r")
    runtime.send_keys("rd-1", "h", "i", "Enter")
    assert wait_until(lambda: len(received(out)) == 3 and received(out)) == ["draft", "ab", "hi"]
    with pytest.raises(AoError):
        runtime.send_keys("rd-1", "NoSuchKey")


def test_exit_code_screen_and_secret_kept_off_disk(runtime: ProcessRuntime, ao_home: Path, tmp_path: Path) -> None:
    code = "import os,sys; print('cwd', os.getcwd()); print('tok', os.environ['AO_TEST_TOKEN']); sys.exit(9)"
    runtime.create("ex-1", tmp_path, [sys.executable, "-c", code, "$(id)"], {"AO_TEST_TOKEN": "tok-very-secret"})
    status = wait_until(lambda: (s := runtime.status("ex-1")) and not s.alive and s)
    assert status.exit_code == 9
    screen = runtime.capture("ex-1")
    assert f"cwd {tmp_path}" in screen and "tok tok-very-secret" in screen
    assert runtime.list_handles() == ["ex-1"]  # kept after exit, like tmux's remain-on-exit
    pane = runtime.panes()["ex-1"]
    assert pane.dead and pane.exit_code == 9
    for path in ao_home.rglob("*"):
        if path.is_file() and path.suffix != ".log":  # the raw output log holds what the program printed
            assert "tok-very-secret" not in path.read_text(errors="replace"), path
    runtime.kill("ex-1")
    runtime.kill("ex-1")
    assert runtime.list_handles() == [] and not runtime.status("ex-1").alive
    with pytest.raises(NotFound):
        runtime.capture("ex-1")


def test_session_survives_the_process_that_created_it(ao_home: Path, tmp_path: Path, runtime: ProcessRuntime):
    """`ao spawn` exits at once; the agent must keep running and be found again."""
    code = (
        "import sys; from pathlib import Path; from ao_tui.slots.base import PluginContext;"
        "from ao_tui_plugins.runtime_process import ProcessRuntime;"
        f"ProcessRuntime(PluginContext(ao_home=Path({str(ao_home)!r}))).create("
        f"'keep-1', Path({str(tmp_path)!r}), ['sleep', '30'], {{}})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert runtime.list_handles() == ["keep-1"]
    status = runtime.status("keep-1")
    assert status.alive and status.pid
    os.kill(status.pid, signal.SIGKILL)
    assert wait_until(lambda: (s := runtime.status("keep-1")) and not s.alive and s).exit_code == -9


def test_a_dead_supervisor_is_forgotten(runtime: ProcessRuntime, ao_home: Path, tmp_path: Path) -> None:
    runtime.create("sup-1", tmp_path, ["sleep", "30"], {})
    child = runtime.status("sup-1").pid
    supervisor = int((ao_home / "runtime" / "sup-1.pid").read_text())
    os.kill(supervisor, signal.SIGKILL)  # e.g. the machine's OOM killer
    wait_until(lambda: not runtime.status("sup-1").alive)
    assert runtime.list_handles() == []
    os.kill(child, signal.SIGKILL)  # the orphaned program, so the test leaves nothing behind
    runtime.create("sup-1", tmp_path, ["sleep", "30"], {})  # and the handle can be used again
    assert runtime.status("sup-1").alive


def test_capture_history_colours_title_and_resize(runtime: ProcessRuntime, tmp_path: Path) -> None:
    code = (
        "import sys,time\nsys.stdout.write('\\x1b]2;my title\\x07')\nfor i in range(300): print(f'line {i}')\n"
        "print('\\x1b[31mred word\\x1b[0m')\nsys.stdout.flush()\ntime.sleep(30)"
    )
    runtime.create("cap-1", tmp_path, [sys.executable, "-c", code], {}, size=(80, 24))
    wait_until(lambda: "red word" in runtime.capture("cap-1"))
    plain = runtime.capture("cap-1")
    assert "line 0\n" not in plain and len(plain.split("\n")) == 24 and "\x1b[" not in plain
    assert "line 0\n" in runtime.capture("cap-1", history=400)
    assert "\x1b[0;31mred word" in runtime.capture("cap-1", escapes=True)
    assert runtime.panes()["cap-1"].title == "my title"
    runtime.resize("cap-1", 120, 40)
    pane = runtime.panes()["cap-1"]
    assert (pane.width, pane.height) == (120, 40)


async def test_stream_yields_raw_output(runtime: ProcessRuntime, reader) -> None:
    reader(runtime)
    got = bytearray()

    async def collect() -> None:
        async for chunk in runtime.stream("rd-1"):
            got.extend(chunk)
            if b"got 5 chars" in got:
                return

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.2)
    await asyncio.to_thread(runtime.send_text, "rd-1", "hello")
    await asyncio.wait_for(task, 10)
    assert b"[Pasted text +5 bytes]" in got and b"\r\ngot 5 chars\r" in got


def test_handles_validated_and_duplicates_refused(runtime: ProcessRuntime, tmp_path: Path) -> None:
    for bad in ("../x", "a.b", "a/b", ""):
        with pytest.raises(InvalidName):
            runtime.create(bad, tmp_path, ["sleep", "1"], {})
    runtime.create("dup-1", tmp_path, ["sleep", "30"], {})
    with pytest.raises(AoError):
        runtime.create("dup-1", tmp_path, ["sleep", "30"], {})
    assert json.dumps(runtime.attach_argv("dup-1")).count("pty_supervisor") == 1


def test_attach_shows_the_screen_types_and_detaches_with_ctrl_bracket(runtime: ProcessRuntime, reader) -> None:
    import pty
    import select
    import time

    out = reader(runtime)
    argv = runtime.attach_argv("rd-1")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    seen = bytearray()

    def read_until(marker: bytes) -> None:
        deadline = time.monotonic() + 10
        while marker not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                seen.extend(os.read(fd, 65536))
        assert marker in seen, bytes(seen[-300:])

    try:
        read_until(b"ready")  # the current screen is drawn first
        os.write(fd, b"typed by a human\r")
        read_until(b"got 16 chars")  # then the live output
        os.write(fd, b"\x1d")  # Ctrl-]
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
    assert received(out) == ["typed by a human"]
    assert runtime.status("rd-1").alive  # detaching left the agent running
