"""Where `ao spawn` puts a session: the engine counts live sessions per host across projects and picks the
allowed host with room and the fewest; a pinned host the project may not use, or a full one, is one line
and records nothing. No host is contacted here (the hosts are never reached)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import Session, SessionStatus


@pytest.fixture
def config(git_repo: Path, ao_home: Path) -> Path:
    path = git_repo.parent / "ao.config.yaml"
    path.write_text(json.dumps({
        "hosts": [{"name": "build-1", "ssh": "dev@127.0.0.1:1", "max_sessions": 2, "labels": ["big"]},
                  {"name": "build-2", "ssh": "dev@127.0.0.1:1", "labels": ["big"]}],
        "projects": {"app": {"repo": str(git_repo), "session_prefix": "app", "hosts": ["label:big"]},
                     "solo": {"repo": str(git_repo), "session_prefix": "solo"}},
    }))
    return path


def _record(engine: Engine, sid: str, host: str, status: SessionStatus = SessionStatus.WORKING) -> None:
    engine.store.insert_session(Session(id=sid, project="app", host=host, status=status))


def test_placement_counts_live_sessions_on_each_host(config: Path) -> None:
    engine = Engine(load_config(str(config)))
    app, solo = engine.project_config("app"), engine.project_config("solo")
    assert engine._place(solo, None) == "local"  # a project with no hosts: this machine, no host asked
    assert engine._place(app, None) == "build-1"  # a tie: config order
    _record(engine, "x-1", "build-1")
    _record(engine, "x-2", "build-2", SessionStatus.KILLED)  # not live: not counted
    assert engine._place(app, None) == "build-2"
    _record(engine, "x-3", "build-2")
    _record(engine, "x-4", "build-2")
    assert engine._place(app, None) == "build-1"  # fewer there
    _record(engine, "x-5", "build-1")  # build-1 is full (max_sessions: 2)
    assert engine._place(app, "build-2") == "build-2"
    with pytest.raises(Exception, match=r"no host has room for another session \(build-1 2/2\)"):
        engine._place(app, "build-1")


def test_spawn_on_a_host_the_project_may_not_use_is_one_line_and_records_nothing(config: Path) -> None:
    env = {**os.environ, "AO_HOME": os.environ["AO_HOME"]}
    for host, said in (("build-1", "this project's sessions may not run on build-1 (its hosts: local)"),
                       ("nope", "no host 'nope'; known: local, build-1, build-2")):
        out = subprocess.run([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "spawn", "--project",
                              "solo", "--host", host, "--prompt", "hi"], capture_output=True, text=True, env=env,
                             timeout=60)
        assert out.returncode != 0 and out.stderr.strip().splitlines() == [f"ao: {said}"], out.stderr
    assert Engine(load_config(str(config))).sessions() == []
