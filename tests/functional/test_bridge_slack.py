"""The Slack bridge (slack_sdk: Socket Mode and the Web API) against a local fake of both
(tests/support/slack_server.py), a real engine over a real git repository, and the scripted
Anthropic server: the same story as Telegram's, in Slack's shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_tui.bridges import BridgeRunner, configured
from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.models import SessionStatus
from ao_tui.orchestrator.client import ModelClient
from tests.functional.test_bridge_telegram import api, open_pr, wait  # noqa: F401  (api: a fixture)
from tests.support.anthropic_server import AnthropicServer, text, tool_use
from tests.support.gitrepo import git
from tests.support.slack_server import FakeSlack

ME, FRIEND, STRANGER, CHANNEL = "U0ME", "U0FRIEND", "U0STRANGER", "C0FLEET"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        monkeypatch.setenv("AO_TEST_SLACK_BOT", fake.bot_token)
        monkeypatch.setenv("AO_TEST_SLACK_APP", fake.app_token)
        yield fake


@pytest.fixture
def engine(git_repo: Path, ao_home: Path, slack: FakeSlack) -> Iterator[Engine]:
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({
        "projects": {"demo": {"repo": str(git_repo), "session_prefix": "dm", "notifiers": []}},
        "orchestrator": {"model": "claude-test-model"},
        "bridges": {"slack": {"token_env": "AO_TEST_SLACK_BOT", "app_token_env": "AO_TEST_SLACK_APP",
                              "base_url": slack.api_url, "allowed_users": [ME, FRIEND], "channel": CHANNEL}},
    }))
    eng = Engine(load_config(str(config)))
    yield eng
    eng.store.close()


@pytest.fixture
def bridge(engine: Engine, slack: FakeSlack) -> Iterator[object]:
    client = ModelClient("claude-test-model", sdk_retries=1, attempts=2, backoff=0.01, timeout=15.0)
    bridges, problems = configured(engine, client=client)
    assert problems == [] and len(bridges) == 1
    runner = BridgeRunner(bridges).start()
    slack.wait_for(lambda: slack.connections, what="the Socket Mode connection")
    yield bridges[0]
    runner.stop()


def test_buttons_in_the_channel_approve_and_merge_and_every_envelope_is_acked(
        engine: Engine, git_repo: Path, slack: FakeSlack, bridge) -> None:  # noqa: ANN001
    open_pr(engine, git_repo)
    slack.rate_limit_next = 1  # Slack says "ratelimited, retry after 1 s": the notice still arrives
    engine.refresh_pr("dm-1")
    review = slack.message_with("dm-1: PR #1 is green and waits for your review", channel=CHANNEL)
    assert review["blocks"][0]["text"]["type"] == "plain_text"  # markup is shown as typed
    buttons = slack.buttons(review)
    assert set(buttons) == {"Approve dm-1", "Open dm-1"}

    stranger = slack.press(STRANGER, buttons["Approve dm-1"], channel=CHANNEL)
    slack.wait_for(lambda: stranger in slack.acks, what="the stranger's envelope acked")
    wait(lambda: bridge.counters.strangers == 1)
    slack.press(ME, "merge:forged", channel=CHANNEL)
    slack.ephemeral_with("not one ao sent")

    slack.press(ME, buttons["Approve dm-1"], channel=CHANNEL)
    slack.ephemeral_with("Approved dm-1.")
    ready = slack.message_with("approved and green, ready to merge", channel=CHANNEL)
    slack.press(FRIEND, slack.buttons(ready)["Merge dm-1"], channel=CHANNEL)
    slack.message_with("Merged dm-1.", channel=CHANNEL)
    assert engine.session("dm-1").status is SessionStatus.MERGED
    assert "Add cache" in git(git_repo, "log", "--format=%s", "main")
    slack.message_with("All done", channel=CHANNEL)
    assert [(e.data["action"], e.data["user"]) for e in engine.events("dm-1") if e.kind == "bridge"] == [
        ("approve", ME), ("merge", FRIEND)]
    slack.wait_for(lambda: set(slack.envelopes) <= set(slack.acks), what="every envelope acked")
    assert not [m for m in slack.ephemeral if m["user"] == STRANGER]
    assert slack.errors == ["ratelimited"]


def test_a_direct_message_asks_the_orchestrator_and_the_asker_confirms(
        engine: Engine, git_repo: Path, slack: FakeSlack, api: AnthropicServer, bridge) -> None:  # noqa: ANN001, F811
    open_pr(engine, git_repo)
    engine.approve("dm-1", "ok")
    api.script.on_prompt("merge dm-1", text("Merging.") + tool_use("merge", {"session_id": "dm-1"}, id="toolu_m"))
    api.script.on_tool_result("toolu_m", text("Merged *dm-1* <@U0ALL>."))

    slack.dm(STRANGER, "merge dm-1")
    slack.dm(ME, "merge dm-1")
    question = slack.message_with("Merge PR #1 of dm-1?", channel=f"D{ME}")
    yes = slack.buttons(question)["Yes, merge"]
    slack.press(FRIEND, yes)
    slack.ephemeral_with("Only the person who asked can answer this.")
    assert engine.session("dm-1").status is not SessionStatus.MERGED
    slack.press(ME, yes)
    slack.message_with("Merged *dm-1* <@U0ALL>.", channel=f"D{ME}")
    assert engine.session("dm-1").status is SessionStatus.MERGED
    assert bridge.counters.strangers == 1
    assert len(api.main_requests) == 2  # the stranger's message never reached the model
    assert slack.errors == []


def test_long_replies_fit_slack_blocks_and_a_flood_is_answered_once(
        engine: Engine, slack: FakeSlack, api: AnthropicServer, bridge) -> None:  # noqa: ANN001, F811
    api.script.on_prompt("essay", text("\n".join(f"line {n}: <b>*{n}*</b> " + "x" * 90 for n in range(60))))
    slack.dm(ME, "write an essay")
    slack.message_with("line 59:", channel=f"D{ME}")
    parts = [m for m in slack.sent if "line " in m["text"]]
    assert len(parts) == 3 and all(len(m["blocks"][0]["text"]["text"]) <= 3000 for m in parts)
    assert "<b>*0*</b>" in parts[0]["text"]  # as typed
    slack.dm(ME, "/deploy prod")
    slack.message_with("Unknown command /deploy.", channel=f"D{ME}")
    for n in range(12):
        slack.dm(FRIEND, f"/help {n}")
    slack.message_with("Too many messages", channel=FRIEND)  # to the person, in their DM
    wait(lambda: bridge.counters.rate_limited == 12 - 8)  # rate_limit: 8 a minute by default
    assert sum("Too many messages" in m["text"] for m in slack.sent) == 1
    assert slack.errors == []
