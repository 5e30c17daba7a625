"""Fixtures shared by every test: a private AO_HOME, tmux socket and git repo.

Fixture names avoid ``server`` and ``session``: libtmux's pytest plugin owns them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import make_repo

ROOT = Path(__file__).resolve().parent.parent


def claude_bin() -> str | None:
    """The real Claude Code CLI: ``$AO_CLAUDE_BIN`` (to try another version), the project's .tools copy, else PATH."""
    override = os.environ.get("AO_CLAUDE_BIN")
    if override:
        return override if Path(override).exists() else None
    local = ROOT / ".tools" / "node_modules" / ".bin" / "claude"
    if local.exists():
        return str(local)
    return shutil.which("claude")


@pytest.fixture
def ao_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh AO_HOME and a private tmux socket, killed afterwards."""
    home = tmp_path / "ao-home"
    home.mkdir()
    socket = f"ao-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("AO_HOME", str(home))
    monkeypatch.setenv("AO_TMUX_SOCKET", socket)
    monkeypatch.delenv("AO_CONFIG", raising=False)
    yield home
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)
    # tmux leaves the socket file behind after kill-server; hundreds of runs leave hundreds.
    (Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / socket).unlink(missing_ok=True)


@pytest.fixture
def tmux_socket(ao_home: Path) -> str:
    return os.environ["AO_TMUX_SOCKET"]


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real repository on ``main`` with a bare ``origin`` beside it."""
    return make_repo(tmp_path)


@pytest.fixture
def ao_store(ao_home: Path):
    from ao_tui.store import open_store

    st = open_store()
    yield st
    st.close()


def pytest_sessionstart(session: pytest.Session) -> None:  # noqa: ARG001
    """CI (``AO_REQUIRE_CLAUDE=1``, set by .ci/run) fails rather than skip the real-CLI tests."""
    if os.environ.get("AO_REQUIRE_CLAUDE") == "1" and claude_bin() is None:
        raise pytest.UsageError("AO_REQUIRE_CLAUDE=1 but the Claude Code CLI is not installed (.tools/ or PATH)")


# Hypothesis (tests/unit/test_hostile_input.py, tests/functional/test_hostile_tmux.py): small, repeatable runs in
# CI; HYPOTHESIS_PROFILE=explore for many random examples when hunting.
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile("ao", derandomize=True, deadline=None, database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.register_profile("explore", max_examples=2000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ao"))
except ImportError:  # the test extras not installed: those tests are skipped by their importorskip
    pass
