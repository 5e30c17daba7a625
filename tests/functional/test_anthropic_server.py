"""The scripted Anthropic server speaks the Messages API as the official SDK and Claude Code expect."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import claude_bin
from tests.support.anthropic_server import (
    AnthropicServer,
    MessagesRequest,
    error,
    rate_limited,
    text,
    tool_use,
)
from tests.support.claude_env import claude_env
from tests.support.waiting import WaitTimeout, wait_until


def _client(api: AnthropicServer, **kwargs):
    import anthropic

    return anthropic.Anthropic(base_url=api.url, api_key="sk-ant-test", **kwargs)


USER = [{"role": "user", "content": "say hello"}]
TOOLS = [{"name": "Write", "description": "write a file",
          "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}]


def test_streams_a_text_reply_the_sdk_assembles() -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("hello", text("Hello there, how can I help?"))
        client = _client(api)
        with client.messages.stream(model="claude-x", max_tokens=1000, messages=USER, tools=TOOLS) as stream:
            events = [event.type for event in stream]
            message = stream.get_final_message()
    assert message.content[0].text == "Hello there, how can I help?"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    assert events.count("text") >= 3  # several text deltas, not one blob
    assert api.requests[0]["messages"] == USER
    assert api.requests[0].path == "/v1/messages"
    assert "x-api-key" not in api.requests[0].headers  # credentials are never recorded


def test_streams_a_tool_use_whose_json_arrives_in_pieces() -> None:
    big_input = {"file_path": "/tmp/x/hello.txt", "content": "hello\n" * 20}
    with AnthropicServer() as api:
        api.script.on_prompt("hello", text("Writing it.") + tool_use("Write", big_input, id="toolu_1"))
        client = _client(api)
        with client.messages.stream(model="claude-x", max_tokens=1000, messages=USER, tools=TOOLS) as stream:
            json_deltas = [e for e in stream if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
            message = stream.get_final_message()
    assert len(json_deltas) >= 2
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == big_input
    assert message.content[1].id == "toolu_1"
    assert message.stop_reason == "tool_use"


def test_tool_result_rule_answers_the_follow_up_and_a_non_streaming_request() -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("hello", tool_use("Write", {"file_path": "a"}, id="toolu_w"))
        api.script.on_tool_result(tool="Write", reply=text("done"))
        client = _client(api)
        first = client.messages.create(model="m", max_tokens=500, messages=USER, tools=TOOLS)
        follow_up = USER + [
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w", "content": "ok"}]},
        ]
        second = client.messages.create(model="m", max_tokens=500, messages=follow_up, tools=TOOLS)
    assert first.content[0].name == "Write"
    assert second.content[0].text == "done"
    assert api.script.pending() == []


def test_side_requests_get_a_short_answer_without_consuming_the_script() -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("hello", text("the real answer"))
        client = _client(api)
        title = client.messages.create(model="haiku", max_tokens=2000, messages=USER,
                                       system="Generate a concise, sentence-case title")
        real = client.messages.create(model="m", max_tokens=500, messages=USER, tools=TOOLS)
        count = client.messages.count_tokens(model="m", messages=USER)
    assert title.content[0].text == api.script.side_reply.blocks[0].text
    assert real.content[0].text == "the real answer"
    assert count.input_tokens > 0
    assert [r.is_side_request for r in api.message_requests] == [True, False]


def test_errors_reach_the_sdk_with_status_type_and_retry_after() -> None:
    with AnthropicServer() as api:
        api.script.always(error(529, "overloaded_error", "Overloaded"))
        client = _client(api, max_retries=0)
        import anthropic

        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(model="m", max_tokens=10, messages=USER, tools=TOOLS)
        assert caught.value.status_code == 529
        assert caught.value.body["error"]["type"] == "overloaded_error"

        api.script.rules.clear()
        api.script.always(rate_limited(retry_after=7))
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model="m", max_tokens=10, messages=USER, tools=TOOLS)
        assert limited.value.response.headers["retry-after"] == "7"


def test_mid_stream_error_and_unknown_paths() -> None:
    import anthropic

    with AnthropicServer() as api:
        api.script.always(error(500, "api_error", "Internal server error", mid_stream=True))
        client = _client(api, max_retries=0)
        with pytest.raises(anthropic.APIStatusError):
            with client.messages.stream(model="m", max_tokens=10, messages=USER, tools=TOOLS) as stream:
                stream.get_final_message()
        with pytest.raises(anthropic.NotFoundError):
            client.models.list()
    assert [p.split("?")[0] for p in api.unknown_paths] == ["GET /v1/models"]


def test_delay_and_slow_streaming_are_observable() -> None:
    with AnthropicServer() as api:
        api.script.on_prompt("hello", text("one two three four").with_delay(0.3).slowly(0.1))
        client = _client(api)
        started = time.monotonic()
        with client.messages.stream(model="m", max_tokens=10, messages=USER, tools=TOOLS) as stream:
            first_event_at = None
            for _event in stream:
                first_event_at = first_event_at or time.monotonic()
            done_at = time.monotonic()
    assert first_event_at is not None and first_event_at - started >= 0.3
    assert done_at - first_event_at >= 0.5  # ~10 events, 0.1 s apart


def test_a_responder_callable_sees_the_request() -> None:
    seen: list[MessagesRequest] = []

    def responder(request: MessagesRequest):
        seen.append(request)
        return text(f"you said: {request.last_user_text}")

    with AnthropicServer(responder) as api:
        reply = _client(api).messages.create(model="m", max_tokens=10, messages=USER)
    assert reply.content[0].text == "you said: say hello"
    assert seen[0]["max_tokens"] == 10


def test_wait_until_returns_the_value_or_fails_with_the_reason() -> None:
    box: list[int] = []
    assert wait_until(lambda: box or box.append(1), timeout=1) == [1]
    with pytest.raises(WaitTimeout, match="the moon"):
        wait_until(lambda: False, timeout=0.1, message=lambda: "the moon")


@pytest.mark.claude
@pytest.mark.skipif(claude_bin() is None, reason="Claude Code CLI not installed")
def test_real_claude_print_mode_writes_a_file_through_the_script(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    with AnthropicServer() as api:
        api.script.on_prompt(
            "hello.txt",
            text("I'll create it.")
            + tool_use("Write", {"file_path": str(workdir / "hello.txt"), "content": "hello\n"}, id="toolu_hello"),
        )
        api.script.on_tool_result("toolu_hello", text("done"))
        env = claude_env(tmp_path / "home", workdir, api.url)
        result = subprocess.run(
            [claude_bin(), "-p", "--permission-mode", "acceptEdits", "please write hello.txt"],
            cwd=workdir, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert (workdir / "hello.txt").read_text() == "hello\n"
    assert api.script.pending() == []
    assert api.main_requests[0].path == "/v1/messages?beta=true"
    assert api.main_requests[1].tool_results[0]["tool_name"] == "Write"
    transcripts = list((tmp_path / "home" / ".claude" / "projects").glob("*/*.jsonl"))
    assert len(transcripts) == 1
    records = [json.loads(line) for line in transcripts[0].read_text().splitlines()]
    assert any(r.get("type") == "user" and r["message"]["content"] == "please write hello.txt" for r in records)


def test_a_held_reply_waits_for_the_test_and_regex_prompts_match() -> None:
    import re
    import threading

    gate = threading.Event()
    with AnthropicServer() as api:
        api.script.on_prompt(re.compile(r"say \w+"), text("released").held_until(gate))
        result: list[str] = []
        worker = threading.Thread(
            target=lambda: result.append(_client(api).messages.create(
                model="m", max_tokens=10, messages=USER, tools=TOOLS).content[0].text))
        worker.start()
        api.wait_for_main_request(1, timeout=5)
        time.sleep(0.2)
        assert result == []  # still "thinking"
        gate.set()
        worker.join(timeout=5)
    assert result == ["released"]
