"""Usage limits (issue 14): the messages agents print, the detector's reading, waiting them out once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ao_tui.activity.detector import ActivityDetector
from ao_tui.activity.transcript import TranscriptParser
from ao_tui.config import parse_config
from ao_tui.engine import Engine
from ao_tui.errors import AoError, ConfigError
from ao_tui.limit_resume import LimitResume, check_spawn, is_continue_key
from ao_tui.models import Activity, ActivityState, Session, SessionStatus
from ao_tui.usage_limits import account_of, find_limit, screen_limit

AT = datetime(2026, 12, 5, 3, 20, 5, tzinfo=UTC)
UTC = UTC


@pytest.mark.parametrize(("message", "resets"), [
    # Claude Code 2.1 on a plan (what the real CLI printed against the scripted 429)
    ("You've hit your session limit · resets 4:20am (UTC)", datetime(2026, 12, 5, 4, 21, tzinfo=UTC)),
    ("You've hit your weekly limit · resets Dec 8, 3pm (Europe/Berlin)", datetime(2026, 12, 8, 14, 1, tzinfo=UTC)),
    # older releases
    ("Claude usage limit reached. Your limit will reset at 9am (America/Chicago).",
     datetime(2026, 12, 5, 15, 1, tzinfo=UTC)),
    ("Claude AI usage limit reached|1765000800", datetime.fromtimestamp(1765000800, UTC)),
    ("5-hour limit reached ∙ resets 2am (UTC)", datetime(2026, 12, 6, 2, 1, tzinfo=UTC)),  # said at 3:20: tomorrow
    # codex, aider
    ("■ You've hit your usage limit. Try again in 2 hours 5 minutes.", AT + timedelta(hours=2, minutes=5)),
    ("You've hit your usage limit.\nTry again at 3:45 PM (UTC).", datetime(2026, 12, 5, 15, 46, tzinfo=UTC)),
    # Codex 0.171.0's rollout (task_complete's error) against the scripted server's 429 usage_limit_reached
    ("You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
     "https://chatgpt.com/settings/usage to purchase more credits or try again at 8:44 AM.",
     datetime(2026, 12, 5, 8, 45, tzinfo=UTC)),
    # aider 0.86.2's chat history (RateLimitError, then its own words), as ao's reader joins them
    ("litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for requests. Please try again "
     "in 20s. · The API provider has rate limited you. Try again later or check your quotas.",
     AT + timedelta(seconds=20)),
    ("litellm.RateLimitError: rate limit exceeded. Retry after 30 seconds", AT + timedelta(seconds=30)),
    # Claude Code with an API key, after its retries: no time given
    ("API Error: Request rejected (429) · Number of request tokens has exceeded your rate limit.", None),
])
def test_limit_messages_and_their_reset(message: str, resets: datetime | None) -> None:
    hit = find_limit(message, AT)
    assert hit is not None and hit.resets_at == resets
    assert "|17" not in hit.message and hit.message


@pytest.mark.parametrize("text", ["I fixed the rate limiter", "API Error: 500 Internal server error",
                                  "Let me check the usage limits module", ""])
def test_other_text_is_no_limit(text: str) -> None:
    assert find_limit(text, AT) is None


def test_screen_limit_reads_only_the_bottom_of_the_screen() -> None:
    screen = "\n".join(["❯ hello", "  ⎿  You've hit your session limit · resets 4:20am (UTC)"] + ["x"] * 20)
    assert screen_limit(screen, AT) is None  # long scrolled away: it is history
    assert screen_limit(screen.split("\nx")[0], AT) is not None


def test_accounts_are_the_credentials_location() -> None:
    assert account_of("claude-code", {"HOME": "/h"}) == "claude-code:/h/.claude"
    assert account_of("claude-code", {"HOME": "/h", "CLAUDE_CONFIG_DIR": "/work/acct2/"}) == "claude-code:/work/acct2"
    assert account_of("codex", {"HOME": "/h"}) == "codex:/h/.codex"


def _api_error(text: str, ts: str = "2026-12-05T03:20:05.829Z") -> bytes:
    return json.dumps({"type": "assistant", "timestamp": ts, "isApiErrorMessage": True, "error": "rate_limit",
                       "apiErrorStatus": 429, "message": {"model": "<synthetic>", "role": "assistant",
                                                          "content": [{"type": "text", "text": text}]}}).encode()


def test_detector_turns_the_transcripts_limit_record_into_rate_limited() -> None:
    now = [AT.timestamp() + 1]
    det = ActivityDetector(clock=lambda: now[0])
    parser = TranscriptParser()
    parser.feed_line(json.dumps({"type": "user", "timestamp": "2026-12-05T03:20:04Z",
                                 "message": {"role": "user", "content": "Task T-1"}}).encode())
    parser.feed_line(_api_error("You've hit your session limit · resets 4:20am (UTC)"))
    det.on_transcript(parser.state)
    act = det.update()
    assert act is not None and act.state is ActivityState.RATE_LIMITED
    assert act.until == datetime(2026, 12, 5, 4, 21, tzinfo=UTC)
    assert act.detail == "You've hit your session limit · resets 4:20am (UTC)"


def test_a_plain_api_error_stays_an_error_and_retrying_stays_working() -> None:
    det = ActivityDetector(clock=lambda: AT.timestamp() + 1)
    parser = TranscriptParser()
    parser.feed_line(_api_error("API Error: 500 Internal server error"))
    det.on_transcript(parser.state)
    assert det.update().state is ActivityState.ERRORED
    det2 = ActivityDetector(clock=lambda: AT.timestamp() + 1)
    det2.on_hook({"event": "UserPromptSubmit", "prompt": "go", "at": AT.timestamp()})
    det2.on_hook({"event": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "curl rate limit"},
                  "at": AT.timestamp()})
    assert det2.update().state is ActivityState.RUNNING_TOOL


# -- waiting out: one continue per session and reset ------------------------------------------


class Clock:
    def __init__(self, at: datetime) -> None:
        self.now = at.timestamp()

    def __call__(self) -> float:
        return self.now


def _engine(ao_store, repo: Path, extra: str = "") -> Engine:
    text = (f"projects:\n  demo:\n    repo: {repo}\n    session_prefix: dm\n    agent:\n      command: [\"true\"]\n"
            f"      env:\n        CLAUDE_CONFIG_DIR: /accounts/one\n" + extra)
    return Engine(parse_config(text, "ao.config.yaml"), store=ao_store)


def _limited(engine: Engine, sid: str, since: datetime, until: datetime | None, detail: str = "limit") -> Session:
    s = Session(id=sid, project="demo", branch=f"ao/{sid}", workspace=f"/tmp/{sid}", runtime_handle=sid)
    engine.store.insert_session(s)
    engine.store.transition(sid, SessionStatus.WORKING, activity=Activity(state=ActivityState.RATE_LIMITED, since=since,
                                                              until=until, detail=detail))
    return engine.session(sid)


def test_continue_is_queued_once_at_the_reset_even_when_the_clock_jumps(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo)
    reset = AT + timedelta(hours=1)
    clock = Clock(AT)
    limits = LimitResume(engine, clock=clock)
    s = _limited(engine, "dm-1", AT, reset, "You've hit your session limit · resets 4:20am (UTC)")
    limits.on_activity(s)
    assert limits.tick() == [] and ao_store.pending_messages() == []
    assert limits.next_due() == reset.timestamp()
    clock.now = reset.timestamp()
    assert limits.tick() == ["dm-1"]
    [msg] = ao_store.pending_messages()
    assert msg["text"] == "Your usage limit has reset. Continue the task where you left off."
    assert is_continue_key(msg["key"])
    clock.now -= 7200  # the clock jumps back two hours, then forward a day
    assert limits.tick() == []
    clock.now += 86400
    assert limits.tick() == []
    assert len(ao_store.pending_messages()) == 1
    # A second engine (another ao process) over the same store does not send it again either.
    assert LimitResume(_engine(ao_store, git_repo), clock=clock).tick() == []


def test_an_unreadable_reset_waits_the_default_and_says_so(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, "    usage_limits:\n      default_wait: 30m\n")
    clock = Clock(AT)
    limits = LimitResume(engine, clock=clock)
    s = _limited(engine, "dm-1", AT, None, "API Error: Request rejected (429) · rate limited")
    limits.on_activity(s)
    [event] = [e for e in engine.events("dm-1") if e.kind == "usage_limit"]
    assert event.data["note"] == "the agent did not say when it lifts: waiting the default 30m"
    assert event.data["until"] == (AT + timedelta(minutes=30)).isoformat()
    clock.now = (AT + timedelta(minutes=29)).timestamp()
    assert limits.tick() == []
    clock.now = (AT + timedelta(minutes=30)).timestamp()
    assert limits.tick() == ["dm-1"]


def test_off_per_project_sends_nothing(ao_store, git_repo) -> None:
    engine = _engine(ao_store, git_repo, "    usage_limits:\n      on: false\n")
    clock = Clock(AT + timedelta(hours=2))
    _limited(engine, "dm-1", AT, AT + timedelta(hours=1))
    assert LimitResume(engine, clock=clock).tick() == []


def test_spawns_pause_for_the_limited_account_only(ao_store, git_repo, monkeypatch) -> None:
    engine = _engine(ao_store, git_repo)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = Clock(now)
    limits = LimitResume(engine, clock=clock)
    reset = now + timedelta(hours=1)
    limits.on_activity(_limited(engine, "dm-1", now, reset, "You've hit your session limit · resets in an hour"))
    with pytest.raises(AoError, match="usage limit until"):
        check_spawn(engine, "demo", now=now.timestamp())
    with pytest.raises(AoError, match="usage limit until"):
        engine.spawn("demo", prompt="anything")  # the real time is before the reset too
    # Another account (another config dir) is not limited.
    other = Engine(parse_config(f"projects:\n  other:\n    repo: {git_repo}\n    agent:\n      env:\n"
                                f"        CLAUDE_CONFIG_DIR: /accounts/two\n", "ao.config.yaml"), store=ao_store)
    check_spawn(other, "other", now=now.timestamp())
    # After the reset (by the loop's clock) the account takes sessions again.
    clock.now = reset.timestamp() + 1
    limits.tick()
    check_spawn(engine, "demo", now=now.timestamp())


def test_config_rejects_a_bad_default_wait(git_repo) -> None:
    with pytest.raises(ConfigError, match="default_wait"):
        parse_config(f"projects:\n  demo:\n    repo: {git_repo}\n    usage_limits:\n      default_wait: soon\n",
                     "ao.config.yaml")
