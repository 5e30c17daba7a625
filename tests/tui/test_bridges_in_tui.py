"""The ao-tui that runs the engine runs the chat bridges too, and stops them when it quits."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ao_tui.config import load_config
from ao_tui.engine import Engine
from ao_tui.tui.app import AoApp
from tests.support.telegram_server import FakeTelegram
from tests.tui.helpers import notifications, wait_until


def engine_with_telegram(git_repo: Path, telegram_url: str, token_env: str) -> Engine:
    config = git_repo.parent / "ao.config.yaml"
    config.write_text(json.dumps({
        "projects": {"demo": {"repo": str(git_repo), "session_prefix": "dm", "notifiers": []}},
        "bridges": {"telegram": {"token_env": token_env, "base_url": telegram_url, "allowed_users": [111]}},
    }))
    return Engine(load_config(str(config)))


async def test_the_leading_app_runs_the_bridge(git_repo: Path, ao_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeTelegram() as telegram:
        monkeypatch.setenv("AO_TEST_TELEGRAM_TOKEN", telegram.token)
        engine = engine_with_telegram(git_repo, telegram.url, "AO_TEST_TELEGRAM_TOKEN")
        app = AoApp(engine)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: app.engine_state == "running", what="the engine running here")
            await wait_until(pilot, lambda: "getUpdates" in telegram.calls, timeout=20, what="the bridge's poll")
            telegram.say(111, "/status")
            await wait_until(pilot, lambda: any("No sessions." in m["text"] for m in telegram.sent),
                             timeout=20, what="the answer to /status")
            runner = app._bridges
            assert runner is not None
        await asyncio.to_thread(runner._thread.join, 10)
        assert not runner._thread.is_alive()  # quitting the app stopped the bridge
        engine.store.close()


async def test_a_missing_token_is_one_warning(git_repo: Path, ao_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AO_TEST_NO_TELEGRAM_TOKEN", raising=False)
    engine = engine_with_telegram(git_repo, "http://127.0.0.1:9", "AO_TEST_NO_TELEGRAM_TOKEN")
    app = AoApp(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: any("AO_TEST_NO_TELEGRAM_TOKEN is not set" in n for n in notifications(app)),
                         timeout=20, what="the warning")
    engine.store.close()
