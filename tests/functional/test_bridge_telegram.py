"""The Telegram bridge against a local Bot API (tests/support/telegram_server.py), a real
engine over a real git repository with the local SCM, and the scripted Anthropic server.

A user on the allow list gets the notifications that matter with buttons, approves and
merges with them, and talks to the orchestrator, whose confirmations are Yes/No buttons
only the asker can press. Strangers get nothing; forged presses, floods, unknown
commands, markup and very long replies each get a clear answer or none.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_tui.bridges import BridgeRunner, configured
from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import Session, SessionStatus
from ao_tui.orchestrator.client import ModelClient
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.gitrepo import git
from tests.support.telegram_server import FakeTelegram

ME, FRIEND, STRANGER = 111, 222, 999


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        monkeypatch.setenv("AO_TEST_TELEGRAM_TOKEN", fake.token)
        yield fake


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-not-secret")
        yield server


@pytest.fixture
def engine(git_repo: Path, ao_home: Path, telegram: FakeTelegram) -> Iterator[Engine]:
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({
        "projects": {"demo": {"repo": str(git_repo), "session_prefix": "dm", "notifiers": []}},
        "orchestrator": {"model": "claude-test-model"},
        "bridges": {"rate_limit": 5, "telegram": {"token_env": "AO_TEST_TELEGRAM_TOKEN", "base_url": telegram.url,
                                                  "allowed_users": [ME, FRIEND]}},
    }))
    eng = Engine(load_config(str(config)))
    yield eng
    eng.store.close()


@pytest.fixture
def bridge(engine: Engine, telegram: FakeTelegram) -> Iterator[object]:
    client = ModelClient("claude-test-model", sdk_retries=1, attempts=2, backoff=0.01, timeout=15.0)
    bridges, problems = configured(engine, client=client)
    assert problems == [] and len(bridges) == 1
    bridges[0].transport.poll_seconds = 1
    runner = BridgeRunner(bridges).start()
    yield bridges[0]
    runner.stop()


def open_pr(engine: Engine, repo: Path, sid: str = "dm-1", title: str = "Add cache") -> Session:
    """A session whose branch has one commit and an open local PR, waiting for review."""
    branch = f"ao/{sid}"
    git(repo, "checkout", "-q", "-b", branch)
    (repo / f"{sid}.txt").write_text("cache\n")
    git(repo, "add", f"{sid}.txt")
    git(repo, "commit", "-q", "-m", title)
    git(repo, "checkout", "-q", "main")
    pr = engine.scm("demo").open_pr(repo, repo, branch, "main", title, "")
    engine.store.insert_session(Session(id=sid, project="demo", branch=branch, workspace=str(repo),
                                        runtime_handle=sid, task_title=title))
    for status in (SessionStatus.WORKING, SessionStatus.PR_OPEN):
        engine.store.transition(sid, status, pr=pr)
    return engine.session(sid)


def wait(predicate, timeout: float = 30.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def test_notification_buttons_approve_and_merge_and_strangers_get_nothing(
        engine: Engine, git_repo: Path, telegram: FakeTelegram, bridge) -> None:  # noqa: ANN001
    open_pr(engine, git_repo)
    engine.refresh_pr("dm-1")  # the engine sees the PR: green, waiting for review
    review = telegram.message_with("dm-1: PR #1 is green and waits for your review", chat=ME)
    buttons = telegram.buttons(review)
    assert set(buttons) == {"Approve dm-1", "Open dm-1"}
    assert review["parse_mode"] is None

    # A stranger who got hold of the button's data: ignored, not even answered.
    telegram.press(STRANGER, buttons["Approve dm-1"])
    wait(lambda: bridge.counters.strangers == 1)
    # A press of a button ao never sent.
    forged = telegram.press(ME, "approve:not-a-button-ao-sent")
    assert "not one ao sent" in telegram.answer_for(forged)["text"]
    assert bridge.counters.forged == 1
    assert engine.session("dm-1").status is SessionStatus.PR_OPEN or engine.session("dm-1").status is SessionStatus.REVIEW_PENDING

    pressed = telegram.press(ME, buttons["Approve dm-1"])
    assert telegram.answer_for(pressed)["text"] == "Approved dm-1."
    ready = telegram.message_with("dm-1: PR #1 approved and green, ready to merge")
    merge = telegram.buttons(ready)["Merge dm-1"]
    telegram.press(FRIEND, merge)
    telegram.message_with("Merged dm-1.")
    assert engine.session("dm-1").status is SessionStatus.MERGED
    assert "Add cache" in git(git_repo, "log", "--format=%s", "main")
    telegram.message_with("All done")
    who = [(e.data["action"], e.data["user"]) for e in engine.events("dm-1") if e.kind == "bridge"]
    assert who == [("approve", str(ME)), ("merge", str(FRIEND))]
    assert not any(str(STRANGER) in str(m["chat"]["id"]) for m in telegram.sent)
    # Pressing Merge again: nothing to merge, said in one line.
    again = telegram.press(ME, merge)
    assert telegram.answer_for(again)["text"] == "dm-1 is already merged: nothing done."


def test_the_orchestrator_answers_and_only_the_asker_confirms(
        engine: Engine, git_repo: Path, telegram: FakeTelegram, api: AnthropicServer, bridge) -> None:  # noqa: ANN001
    open_pr(engine, git_repo)
    engine.approve("dm-1", "ok")
    api.script.on_prompt("status", text("One PR is ready: **dm-1**. Merge it?"))
    api.script.on_prompt("merge dm-1", text("Merging.") + tool_use("merge", {"session_id": "dm-1"}, id="toolu_m"))
    api.script.on_tool_result("toolu_m", text("Merged dm-1."))

    telegram.say(ME, "what's the status?")
    telegram.message_with("One PR is ready: **dm-1**. Merge it?", chat=ME)
    assert "[via telegram] what's the status?" in api.main_requests[0].last_user_text

    telegram.say(ME, "merge dm-1")
    question = telegram.message_with("Merge PR #1 of dm-1?", chat=ME)
    assert "ao/dm-1 into main of demo" in question["text"]
    yes = telegram.buttons(question)["Yes, merge"]
    telegram.press(STRANGER, yes)
    not_yours = telegram.press(FRIEND, yes)
    assert telegram.answer_for(not_yours)["text"] == "Only the person who asked can answer this."
    assert engine.session("dm-1").status is not SessionStatus.MERGED
    mine = telegram.press(ME, yes)
    assert telegram.answer_for(mine)["text"] == "Yes"
    telegram.message_with("Merged dm-1.", chat=ME)
    assert engine.session("dm-1").status is SessionStatus.MERGED
    assert [e.data["user"] for e in engine.events("dm-1") if e.kind == "bridge"] == [str(ME)]
    assert bridge.counters.strangers == 1
    # The answered question's buttons are spent.
    late = telegram.press(ME, yes)
    assert "not open" in telegram.answer_for(late)["text"]


def test_markup_long_replies_unknown_commands_and_a_flood(
        engine: Engine, telegram: FakeTelegram, api: AnthropicServer, bridge) -> None:  # noqa: ANN001
    markup = "<b>bold</b> *star* [link](http://example.invalid) `code` _under_"
    api.script.on_prompt("<b>bold</b>", text(f"You wrote: {markup}"))
    api.script.on_prompt("essay", text("\n".join(f"line {n}: " + "x" * 90 for n in range(120))))

    telegram.say(ME, markup)
    echoed = telegram.message_with("You wrote: <b>bold</b> *star*")
    assert echoed["parse_mode"] is None  # shown as typed, never interpreted

    telegram.say(ME, "write an essay")
    telegram.message_with("line 119:")
    long_parts = [m["text"] for m in telegram.sent if "line " in m["text"]]
    assert len(long_parts) == 3 and all(len(p) <= 4096 for p in long_parts)
    assert telegram.errors == []

    telegram.say(ME, "/frobnicate now")
    telegram.message_with("Unknown command /frobnicate. ")
    telegram.say(ME, "/status")
    telegram.message_with("No sessions.\nNothing needs you right now.")

    telegram.say(STRANGER, "/status")
    telegram.say(STRANGER, "merge everything")
    wait(lambda: bridge.counters.strangers == 2)

    for n in range(12):
        telegram.say(FRIEND, f"/help {n}")
    telegram.message_with("Too many messages")
    wait(lambda: bridge.counters.rate_limited == 12 - 5)
    time.sleep(0.5)
    assert sum("Too many messages" in m["text"] for m in telegram.sent) == 1
    assert sum(m["text"].startswith("Write to the orchestrator") for m in telegram.sent
               if m["chat"]["id"] == FRIEND) == 5
    assert not [m for m in telegram.sent if m["chat"]["id"] == STRANGER]


def test_ao_run_brings_the_bridge_up_and_down(git_repo: Path, ao_home: Path, telegram: FakeTelegram) -> None:
    import os
    import signal
    import subprocess
    import sys

    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({
        "projects": {"demo": {"repo": str(git_repo), "session_prefix": "dm", "notifiers": []}},
        "bridges": {"telegram": {"token_env": "AO_TEST_TELEGRAM_TOKEN", "base_url": telegram.url,
                                 "allowed_users": [ME]}},
    }))
    proc = subprocess.Popen([sys.executable, "-m", "ao_tui.cli", "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        telegram.wait_for(lambda: "getUpdates" in telegram.calls, 20, "the bridge's first poll")
        telegram.say(ME, "/status")
        telegram.message_with("No sessions.", timeout=20, chat=ME)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert telegram.token not in out + err


def test_ci_failing_after_its_retries_needs_you_and_open_shows_the_session(
        engine: Engine, git_repo: Path, telegram: FakeTelegram, bridge) -> None:  # noqa: ANN001
    open_pr(engine, git_repo)
    engine.escalate("dm-1", "CI failed 3 times: check.py")  # what the ci_failed reaction does past its retries
    notice = telegram.message_with("dm-1 needs you: CI failed 3 times: check.py", chat=ME)
    assert list(telegram.buttons(notice)) == ["Open dm-1"]
    telegram.press(ME, telegram.buttons(notice)["Open dm-1"])
    detail = telegram.message_with("PR #1 local://", chat=ME)
    assert "dm-1" in detail["text"] and "Add cache" in detail["text"]
    assert [e.data["action"] for e in engine.events("dm-1") if e.kind == "bridge"] == []  # looking is no action
