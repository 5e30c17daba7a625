"""The demo's setup and its scripted people, without tmux: what a newcomer gets to see and do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ao_tui.demo import HOLD_FOR_HUMAN, MERGE_AFTER, DemoFleet, run_demo_setup
from ao_tui.models import CheckState, PullRequest, ReviewState, Session, SessionStatus


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoFleet:
    for key in ("AO_HOME", "AO_TMUX_SOCKET", "AO_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    demo = run_demo_setup(tmp_path / "demo", pace=1.0)
    yield demo
    demo.cleanup()


def test_the_demo_ci_check_has_a_readable_name(fleet: DemoFleet) -> None:
    """QA: the list said "CI failed: /work/ma…", the interpreter's path."""
    from ao_tui_plugins.local_ci import parse_ci

    config = yaml.safe_load(fleet.config_path.read_text())
    checks = parse_ci(config["projects"]["demo"]["scm"]["ci"])
    assert [c.name for c in checks] == ["check.py"]
    assert checks[0].argv[-1] == "check.py"


class FakeEngine:
    def __init__(self) -> None:
        self.merged: list[str] = []

    def merge_blockers(self, session: Session) -> list[str]:
        return []

    def merge(self, session_id: str) -> None:
        self.merged.append(session_id)

    def peek(self, session_id: str) -> str:
        return ""

    def runtime(self, session: Session):  # noqa: ANN201 - nobody attached
        raise LookupError("no runtime in this test")


def _ready(sid: str) -> Session:
    pr = PullRequest(number=int(sid.rsplit("-", 1)[1]), ci=CheckState.PASSED, review=ReviewState.APPROVED)
    return Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=f"/nonexistent/{sid}", runtime_handle=sid,
                   status=SessionStatus.MERGEABLE, pr=pr, task_title="Add a greet() helper")


def test_one_ready_pr_waits_for_the_human_before_the_scripted_reviewer_merges_it(fleet: DemoFleet) -> None:
    """QA: every PR merged within ~10 s of turning green, so a newcomer rarely got to press M."""
    engine, first, second = FakeEngine(), _ready("demo-1"), _ready("demo-2")

    def tick(at: float) -> None:
        live = [s for s in (first, second) if s.id not in engine.merged]
        fleet._hold_one(live, at)
        for s in live:
            fleet._act(engine, s, at)

    tick(0.0)  # both become ready now; demo-1 is the one left for the human
    tick(0.5)
    tick(MERGE_AFTER + 1)
    assert engine.merged == ["demo-2"]  # the other merges as before
    tick(HOLD_FOR_HUMAN - 1)
    assert engine.merged == ["demo-2"]  # still waiting for M
    tick(HOLD_FOR_HUMAN + 1)
    assert engine.merged == ["demo-2", "demo-1"]  # nobody came: the reviewer merges it
    assert HOLD_FOR_HUMAN >= 60
