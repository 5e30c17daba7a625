"""Fixtures shared by every test: a private AO_HOME, tmux socket and git repo.

Fixture names avoid ``server`` and ``session``, the names tmux pytest plugins (libtmux's) take.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepo import make_repo

ROOT = Path(__file__).resolve().parent.parent


TOOLS = ROOT / ".tools"
#: The build the running real-CLI test uses (set per test by the ``claude_build`` fixture).
_current_claude: str | None = None


@functools.cache
def claude_builds() -> dict[str, str]:
    """The Claude Code CLIs the real-CLI tests run on, ``{version: path}``, oldest first.

    ``$AO_CLAUDE_BIN`` alone, to try another build; else what scripts/setup installs side by side:
    the oldest supported version in ``.tools/node_modules`` and npm's newest in
    ``.tools/claude/<version>/`` (only the highest there); else ``claude`` on PATH.
    """
    from ao_tui_plugins.agent_claude_code import claude_version, version_key

    override = os.environ.get("AO_CLAUDE_BIN")
    if override:
        candidates = [override] if Path(override).exists() else []
    else:
        newest = sorted(TOOLS.glob("claude/*/node_modules/.bin/claude"), key=lambda p: version_key(p.parts[-4]))
        candidates = [str(p) for p in [TOOLS / "node_modules" / ".bin" / "claude", *newest[-1:]] if p.exists()]
        if not candidates and shutil.which("claude"):
            candidates = [str(shutil.which("claude"))]
    builds = {claude_version(path) or Path(path).name: path for path in candidates}
    return dict(sorted(builds.items(), key=lambda item: version_key(item[0])))


def claude_bin() -> str | None:
    """The real Claude Code CLI of the running test (the oldest build outside one)."""
    if _current_claude is not None:
        return _current_claude
    return next(iter(claude_builds().values()), None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test marked ``claude`` runs once per Claude Code build (ids ``claude-2.1.197``, ...)."""
    builds = claude_builds()
    if metafunc.definition.get_closest_marker("claude") is not None and builds:
        metafunc.parametrize("claude_build", list(builds.values()), ids=[f"claude-{v}" for v in builds],
                             indirect=True)


@pytest.fixture(autouse=True)
def claude_build(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The Claude Code build a real-CLI test runs on (None for every other test)."""
    global _current_claude
    _current_claude = getattr(request, "param", None)
    try:
        yield _current_claude
    finally:
        _current_claude = None


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
    """CI (``AO_REQUIRE_CLAUDE=1``, set by .ci/run) fails rather than skip the real-CLI tests, and
    needs both ends scripts/setup installs: the oldest supported Claude Code and npm's newest."""
    if os.environ.get("AO_REQUIRE_CLAUDE") != "1":
        return
    from ao_tui_plugins.agent_claude_code import TESTED_VERSIONS

    builds = claude_builds()
    if not builds:
        raise pytest.UsageError("AO_REQUIRE_CLAUDE=1 but the Claude Code CLI is not installed (.tools/ or PATH)")
    if not os.environ.get("AO_CLAUDE_BIN") and TESTED_VERSIONS[0] not in builds:
        raise pytest.UsageError(f"AO_REQUIRE_CLAUDE=1 but Claude Code {TESTED_VERSIONS[0]} (the oldest supported) "
                                f"is not in .tools/ (found {', '.join(builds)}); run scripts/setup")
    if not os.environ.get("AO_CLAUDE_BIN") and not list(TOOLS.glob("claude/*/node_modules/.bin/claude")):
        raise pytest.UsageError("AO_REQUIRE_CLAUDE=1 but npm's newest Claude Code is not in .tools/claude/; "
                                "run scripts/setup")


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
