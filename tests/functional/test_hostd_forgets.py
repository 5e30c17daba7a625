"""ao on a host lives as long as the engine's link to it: what it keeps per session goes when the
session does (a week-long run on a build host must not follow, count and remember every agent it ran)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

from ao_tui.hostd import USAGE_KEPT_SECONDS, HostDaemon


def _transcript(config_dir: Path, session: str, output_tokens: int) -> None:
    folder = config_dir / "projects" / "-work-app"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"type": "assistant", "requestId": f"req-{session}",
              "message": {"id": f"msg-{session}", "model": "claude-sonnet-4-5",
                          "usage": {"input_tokens": 10, "output_tokens": output_tokens}}}
    (folder / f"{session}.jsonl").write_text(json.dumps(record) + "\n")


def test_a_removed_sessions_hook_events_are_no_longer_followed(tmp_path: Path) -> None:
    hostd = HostDaemon(str(tmp_path / "state"))
    hostd._tailing = True  # (no tail thread in this test: only what is followed is looked at)
    hostd.op_follow("app-1")
    hostd.op_follow("app-2")
    hostd.op_remove_worktree("app", "app-1")
    assert list(hostd._follow) == ["app-2"]


def test_a_transcripts_usage_count_not_asked_for_an_hour_is_dropped(tmp_path: Path) -> None:
    hostd = HostDaemon(str(tmp_path / "state"))
    now = [1000.0]
    hostd.clock = lambda: now[0]
    config = tmp_path / "claude"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    _transcript(config, first, 7)
    _transcript(config, second, 9)
    assert hostd.op_transcript_usage(first, str(config))["output_tokens"] == 7  # type: ignore[index]
    now[0] += USAGE_KEPT_SECONDS + 1
    assert hostd.op_transcript_usage(second, str(config))["output_tokens"] == 9  # type: ignore[index]
    assert [Path(p).stem for p in hostd._usage] == [second]
    # asked again after all: counted afresh, to the same figure
    assert hostd.op_transcript_usage(first, str(config))["output_tokens"] == 7  # type: ignore[index]


def test_a_killed_panes_end_is_not_remembered(tmp_path: Path) -> None:
    hostd = HostDaemon(str(tmp_path / "state"))
    try:
        hostd.op_spawn("app-1", str(tmp_path), ["sh", "-c", "sleep 0.5; exit 3"])
        deadline = time.monotonic() + 30
        while "app-1" not in hostd._dead:
            assert time.monotonic() < deadline, "the pane's end was never seen"
            hostd._report_exits()
            time.sleep(0.1)
        hostd.op_kill("app-1")
        hostd._report_exits()
        assert hostd._dead == set() and hostd._dead_unknown == {}
    finally:
        subprocess.run(["tmux", "-S", hostd.socket, "kill-server"], capture_output=True)
