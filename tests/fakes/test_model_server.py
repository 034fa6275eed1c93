"""The fake model server, judged by the official SDKs: what they decode, coda must decode too."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import (
    CutStream,
    Delay,
    HTTPFault,
    RawToolUse,
    RedactedThinking,
    Reply,
    Respond,
    StreamError,
    Text,
    Thinking,
    ToolUse,
    Usage,
)

MODEL = "claude-sonnet-4-6"
HI = [{"role": "user", "content": "hi"}]
THINK = {"type": "enabled", "budget_tokens": 2048}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic-sse"
REPO = Path(__file__).resolve().parents[2]


def claude(server: ModelServer, **options: Any) -> anthropic.Anthropic:
    options = {"api_key": "x", "max_retries": 0, **options}
    return anthropic.Anthropic(base_url=server.url, **options)


def gpt(server: ModelServer, **options: Any) -> openai.OpenAI:
    options = {"api_key": "x", "max_retries": 0, **options}
    return openai.OpenAI(base_url=server.openai_base_url, **options)


def stream_message(client: anthropic.Anthropic, **request: Any) -> Any:
    request = {"model": MODEL, "max_tokens": 4096, "messages": HI, **request}
    with client.messages.stream(**request) as stream:
        return stream.get_final_message()


def as_params(content: list[Any]) -> list[dict[str, Any]]:
    return [block.model_dump(exclude_none=True) for block in content]


def raw_sse(url: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
    return [parse_event(chunk) for chunk in text.split("\n\n") if chunk.strip()]


def parse_event(chunk: str) -> tuple[str, dict[str, Any]]:
    fields = dict(line.split(": ", 1) for line in chunk.splitlines())
    return fields.get("event", ""), json.loads(fields["data"])


# -- Anthropic wire ------------------------------------------------------------------------


def test_anthropic_stream_decodes_to_the_script(model_server: ModelServer) -> None:
    model_server.enqueue(
        Reply(
            [
                Thinking("Let me look at the file first.", "sig-1"),
                RedactedThinking(
                    "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
                ),
                Text("I'll read it."),
                ToolUse("Read", {"file_path": "/src/app.py", "limit": 20}, id="toolu_01A"),
                ToolUse("Glob", {"pattern": "**/*.py"}),
            ]
        )
    )
    message = stream_message(claude(model_server), thinking=THINK)

    assert [b.type for b in message.content] == [
        "thinking", "redacted_thinking", "text", "tool_use", "tool_use",
    ]  # fmt: skip
    thinking, redacted, text, read, glob = message.content
    assert (thinking.thinking, thinking.signature) == ("Let me look at the file first.", "sig-1")
    assert redacted.data.startswith("EmwKAhgBEgy3va3")
    assert text.text == "I'll read it."
    assert (read.id, read.name, read.input) == (
        "toolu_01A", "Read", {"file_path": "/src/app.py", "limit": 20},
    )  # fmt: skip
    assert glob.id.startswith("toolu_01") and glob.input == {"pattern": "**/*.py"}
    assert glob.id == model_server.sent[0].reply.content[4].id
    assert message.stop_reason == "tool_use"
    assert message.model == MODEL and message.id.startswith("msg_01")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_events_have_the_shape_of_a_recorded_stream(model_server: ModelServer) -> None:
    recorded = [
        parse_event(chunk)
        for chunk in (FIXTURES / "basic_response.txt").read_text().split("\n\n")
        if chunk.strip()
    ]
    model_server.enqueue(Reply("Hello there!"))
    ours = raw_sse(
        model_server.url + "/v1/messages",
        {"model": MODEL, "max_tokens": 100, "messages": HI, "stream": True},
    )

    def shape(event: tuple[str, dict[str, Any]]) -> tuple[Any, ...]:
        name, data = event
        inner = data.get("message") or data.get("delta") or data.get("content_block") or {}
        return name, data["type"], sorted(data), sorted(k for k in inner if k != "usage")

    assert [shape(e) for e in ours] == [shape(e) for e in recorded]
    assert "".join(d["delta"]["text"] for n, d in ours if n == "content_block_delta") == (
        "Hello there!"
    )


def test_anthropic_tool_input_streams_in_fragments_starting_empty(
    model_server: ModelServer,
) -> None:
    model_server.enqueue(Reply([ToolUse("Bash", {"command": "pytest -q tests/unit"})]))
    events = raw_sse(
        model_server.url + "/v1/messages",
        {"model": MODEL, "max_tokens": 100, "messages": HI, "stream": True},
    )
    fragments = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"]
    assert fragments[0] == "" and len(fragments) >= 3
    assert json.loads("".join(fragments)) == {"command": "pytest -q tests/unit"}
    assert [n for n, _ in events][:3] == ["message_start", "content_block_start", "ping"]


def test_anthropic_non_streaming_returns_the_message(model_server: ModelServer) -> None:
    usage = Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=7)
    model_server.enqueue(
        Reply([Thinking("hmm", "sig"), Text("cut off")], stop_reason="max_tokens", usage=usage)
    )
    message = claude(model_server).messages.create(model=MODEL, max_tokens=100, messages=HI)

    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [
        ("thinking", None),
        ("text", "cut off"),
    ]
    assert message.content[0].signature == "sig"
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (10, 7)
    assert message.usage.output_tokens == 5


def test_anthropic_sdk_sees_malformed_tool_json(model_server: ModelServer) -> None:
    model_server.enqueue(Reply([RawToolUse("Edit", '{"file_path": a.py}')]))
    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
        stream_message(claude(model_server))


def test_count_tokens_and_models_answer(model_server: ModelServer) -> None:
    client = claude(model_server)
    assert client.messages.count_tokens(model=MODEL, messages=HI).input_tokens > 0
    assert MODEL in [m.id for m in client.models.list()]
    assert "gpt-4o-mini" in [m.id for m in gpt(model_server).models.list()]
    with urllib.request.urlopen(model_server.url + "/") as response:
        assert response.status == 200
    assert model_server.pending == 0


# -- OpenAI wire ---------------------------------------------------------------------------


def test_openai_stream_accumulates_tool_calls_and_usage(model_server: ModelServer) -> None:
    model_server.enqueue(
        Reply(
            [
                Thinking("The user wants a listing."),
                Text("Listing now."),
                ToolUse("Bash", {"command": "ls -la"}),
                ToolUse("Read", {"file_path": "README.md"}, id="call_fixed"),
            ],
            openai_thinking="reasoning_content",
            usage=Usage(input_tokens=90, output_tokens=12, cache_read_input_tokens=10),
        )
    )
    chunks = gpt(model_server).chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
    )
    content, reasoning, finish, usage = "", "", None, None
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            content += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            finish = choice.finish_reason or finish
            for call in delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.id or ""
                slot["name"] += (call.function and call.function.name) or ""
                slot["arguments"] += (call.function and call.function.arguments) or ""

    assert content == "Listing now." and reasoning == "The user wants a listing."
    assert finish == "tool_calls"
    assert calls[0]["id"].startswith("call_") and calls[0]["name"] == "Bash"
    assert json.loads(calls[0]["arguments"]) == {"command": "ls -la"}
    assert (calls[1]["id"], json.loads(calls[1]["arguments"])) == (
        "call_fixed", {"file_path": "README.md"},
    )  # fmt: skip
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 12, 112)
    assert usage.prompt_tokens_details.cached_tokens == 10


def test_openai_non_streaming_with_think_tags(model_server: ModelServer) -> None:
    model_server.enqueue(Reply([Thinking("short plan"), Text("Done."), ToolUse("LS", {})]))
    completion = gpt(model_server).chat.completions.create(model="qwen3", messages=HI)

    choice = completion.choices[0]
    assert choice.message.content == "<think>\nshort plan\n</think>\n\nDone."
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls[0].function.name == "LS"
    assert choice.message.tool_calls[0].function.arguments == "{}"
    assert completion.model == "qwen3" and completion.usage.completion_tokens > 0


def test_openai_stream_sends_malformed_arguments_verbatim(model_server: ModelServer) -> None:
    raw = '{"command": "echo hi", '
    model_server.enqueue(Reply([RawToolUse("Bash", raw)]))
    chunks = gpt(model_server).chat.completions.create(model="m", messages=HI, stream=True)
    arguments = "".join(
        call.function.arguments or ""
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
    )
    assert arguments == raw


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_carries_retry_after(model_server: ModelServer) -> None:
    model_server.enqueue(HTTPFault(429, retry_after=7), HTTPFault(429, retry_after=3))
    with pytest.raises(anthropic.RateLimitError) as caught:
        stream_message(claude(model_server))
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"

    with pytest.raises(openai.RateLimitError) as raised:
        gpt(model_server).chat.completions.create(model="m", messages=HI)
    assert raised.value.response.headers["retry-after"] == "3"
    assert raised.value.code == "rate_limit_exceeded"


def test_overloaded_is_a_server_error_and_the_sdk_retries_it(model_server: ModelServer) -> None:
    model_server.enqueue(HTTPFault(529))
    with pytest.raises(anthropic.InternalServerError) as caught:
        claude(model_server).messages.create(model=MODEL, max_tokens=10, messages=HI)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"

    model_server.enqueue(HTTPFault(529, headers={"retry-after-ms": "10"}), Reply("back"))
    message = claude(model_server, max_retries=1).messages.create(
        model=MODEL, max_tokens=10, messages=HI
    )
    assert message.content[0].text == "back"
    assert len(model_server.requests) == 3


def test_cut_stream_raises_in_both_sdks(model_server: ModelServer) -> None:
    model_server.enqueue(CutStream(Reply("never finished sentence"), after_events=4))
    # The Anthropic SDK lets the transport's error through mid-stream; OpenAI's wraps it.
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        stream_message(claude(model_server))

    model_server.enqueue(CutStream(Reply("never finished"), after_events=2))
    with pytest.raises(openai.APIConnectionError):
        list(gpt(model_server).chat.completions.create(model="m", messages=HI, stream=True))

    model_server.enqueue(CutStream(Reply("no response at all"), after_events=0))
    with pytest.raises(anthropic.APIConnectionError):
        claude(model_server).messages.create(model=MODEL, max_tokens=10, messages=HI)


def test_mid_stream_error_event(model_server: ModelServer) -> None:
    model_server.enqueue(StreamError(Reply("partial answer"), after_events=4))
    with pytest.raises(anthropic.APIStatusError) as caught:
        stream_message(claude(model_server))
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}

    model_server.enqueue(StreamError(Reply("partial"), after_events=2, error_type="server_error"))
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(gpt(model_server).chat.completions.create(model="m", messages=HI, stream=True))

    model_server.enqueue(StreamError(Reply("x"), after_events=0))
    with pytest.raises(anthropic.InternalServerError) as status:
        claude(model_server).messages.create(model=MODEL, max_tokens=10, messages=HI)
    assert status.value.status_code == 529


def test_delay_holds_the_response(model_server: ModelServer) -> None:
    model_server.enqueue(Delay(0.3, Reply("late")))
    started = time.monotonic()
    assert stream_message(claude(model_server)).content[0].text == "late"
    assert time.monotonic() - started >= 0.3


async def test_async_client_streams_with_chunk_delay(model_server: ModelServer) -> None:
    model_server.enqueue(Reply("slow but steady", chunk_delay=0.02))
    client = anthropic.AsyncAnthropic(base_url=model_server.url, api_key="x", max_retries=0)
    started = time.monotonic()
    async with client.messages.stream(model=MODEL, max_tokens=10, messages=HI) as stream:
        message = await stream.get_final_message()
    assert message.content[0].text == "slow but steady"
    assert time.monotonic() - started >= 8 * 0.02  # 9 events, a pause between each


def test_exhausted_script_is_a_500_and_a_violation() -> None:
    with ModelServer() as server:
        with pytest.raises(anthropic.InternalServerError, match="script exhausted"):
            claude(server).messages.create(model=MODEL, max_tokens=10, messages=HI)
        assert server.violations == ["request 0 (anthropic): model server script exhausted"]
        with pytest.raises(AssertionError, match="script exhausted"):
            server.assert_clean()


def test_wrong_api_key_is_refused() -> None:
    with ModelServer(require_key="sk-right") as server:
        server.enqueue(Reply("a"), Reply("b"))
        with pytest.raises(anthropic.AuthenticationError):
            claude(server).messages.create(model=MODEL, max_tokens=10, messages=HI)
        with pytest.raises(openai.AuthenticationError):
            gpt(server).chat.completions.create(model="m", messages=HI)
        right = anthropic.Anthropic(base_url=server.url, api_key="sk-right", max_retries=0)
        assert right.messages.create(model=MODEL, max_tokens=10, messages=HI).content[0].text == "a"
        right_gpt = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-right")
        assert right_gpt.chat.completions.create(model="m", messages=HI).choices[0].message.content
        server.assert_clean()


# -- recording and invariants ----------------------------------------------------------------


def test_requests_are_recorded(model_server: ModelServer) -> None:
    model_server.enqueue(Reply("one"), Reply("two"))
    stream_message(claude(model_server), system="be brief")
    gpt(model_server).chat.completions.create(model="m", messages=HI)

    first, second = model_server.requests
    assert (first.path, first.protocol) == ("/v1/messages", "anthropic")
    # This SDK sends the key as a bearer token; the real API also takes x-api-key.
    assert first.headers.get("x-api-key", "") == "x" or first.headers["authorization"] == "Bearer x"
    assert "anthropic-version" in first.headers
    assert first.body["system"] == "be brief" and first.body["stream"] is True
    assert (second.path, second.protocol) == ("/v1/chat/completions", "openai")
    assert second.headers["authorization"] == "Bearer x"
    assert second.body["messages"] == HI


def test_a_clean_thinking_tool_loop_has_no_violations(model_server: ModelServer) -> None:
    model_server.enqueue(
        Reply([Thinking("I should read it."), ToolUse("Read", {"file_path": "a.py"})]),
        Reply("It prints hello."),
    )
    client = claude(model_server)
    first = stream_message(client, thinking=THINK)
    call_id = first.content[1].id
    history = [
        *HI,
        {"role": "assistant", "content": as_params(first.content)},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "x"}],
        },
    ]
    final = stream_message(client, thinking=THINK, messages=history)
    assert final.content[0].text == "It prints hello."
    assert model_server.violations == []


def test_unpaired_tool_use_and_unknown_tool_result_are_violations() -> None:
    unpaired = [
        *HI,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "LS", "input": {}}],
        },
        {"role": "user", "content": "go on"},
    ]
    unknown = [
        *HI,
        {"role": "assistant", "content": "sure"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "?"}]},
    ]
    with ModelServer() as server:
        server.enqueue(Reply("a"), Reply("b"))
        stream_message(claude(server), messages=unpaired)
        stream_message(claude(server), messages=unknown)
        assert len(server.violations) == 2
        assert "'t1' answered by 0 tool_result" in server.violations[0]
        assert "unknown tool_use id 't9'" in server.violations[1]


def test_thinking_must_come_back_verbatim() -> None:
    with ModelServer() as server:
        server.enqueue(Reply([Thinking("plan"), ToolUse("LS", {})]), Reply("a"), Reply("b"))
        client = claude(server)
        first = stream_message(client, thinking=THINK)
        thinking, call = as_params(first.content)
        result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"]}]}
        forged = {**thinking, "signature": thinking["signature"][:-3] + "AAA"}

        stream_message(
            client,
            thinking=THINK,
            messages=[*HI, {"role": "assistant", "content": [forged, call]}, result],
        )
        stream_message(
            client, thinking=THINK, messages=[*HI, {"role": "assistant", "content": [call]}, result]
        )
        assert any("signature was changed" in v for v in server.violations)
        assert any("differ from the ones the server sent" in v for v in server.violations)
        assert "thinking blocks of this tool-calling reply were dropped" in server.violations[-1]


def test_too_many_cache_markers_and_bad_thinking_config() -> None:
    mark = {"type": "ephemeral"}
    tools = [
        {"name": f"t{i}", "input_schema": {"type": "object"}, "cache_control": mark}
        for i in range(3)
    ]
    system = [{"type": "text", "text": "sys", "cache_control": mark}]
    marked_user = [
        {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": mark}]}
    ]
    with ModelServer() as server:
        server.enqueue(*[Reply("ok")] * 5)
        client = claude(server)
        stream_message(client, tools=tools, system=system)  # 4 markers: allowed
        assert server.violations == []
        stream_message(client, tools=tools, system=system, messages=marked_user)
        assert server.violations == [
            "request 1 (anthropic): 5 cache_control markers; at most 4 are allowed"
        ]
        server.violations.clear()
        stream_message(client, thinking=THINK, extra_body={"temperature": 0.2})
        stream_message(client, thinking={"type": "enabled", "budget_tokens": 512})
        stream_message(client, thinking=THINK, max_tokens=2048)
        assert [v.split(": ", 1)[1] for v in server.violations] == [
            "thinking is enabled: temperature may only be 1",
            "thinking.budget_tokens must be >= 1024, got 512",
            "max_tokens (2048) must be greater than thinking.budget_tokens (2048)",
        ]


def test_openai_tool_call_pairing() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "LS", "arguments": "{}"}}
    asked = {"role": "assistant", "content": None, "tool_calls": [call]}
    with ModelServer() as server:
        server.enqueue(Reply("a"), Reply("b"))
        client = gpt(server)
        answer = {"role": "tool", "tool_call_id": "call_1", "content": "a.py"}
        client.chat.completions.create(model="m", messages=[*HI, asked, answer])
        assert server.violations == []
        client.chat.completions.create(model="m", messages=[*HI, asked, *HI])
        assert "'call_1' answered by 0 tool messages" in server.violations[0]


def test_strict_mode_answers_violations_with_400() -> None:
    with ModelServer(strict=True) as server:
        server.enqueue(Reply("unused"))
        with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
            stream_message(claude(server), thinking={"type": "enabled", "budget_tokens": 10})
        assert server.pending == 1


def test_prompt_cache_accounting_by_prefix() -> None:
    system = [
        {"type": "text", "text": "You are coda. " * 400, "cache_control": {"type": "ephemeral"}}
    ]
    with ModelServer(cache=True) as server:
        server.enqueue(Reply("a"), Reply("b"))
        client = claude(server)
        first = stream_message(client, system=system).usage
        history = [
            *HI,
            {"role": "assistant", "content": "a"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}
                ],
            },
        ]
        second = stream_message(client, system=system, messages=history).usage

    assert first.cache_read_input_tokens == 0 and first.cache_creation_input_tokens > 600
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert 0 < second.cache_creation_input_tokens < 100
    assert second.input_tokens > 0


EPHEMERAL = {"type": "ephemeral"}
BIG_SYSTEM = "You are coda, a coding agent. " * 200  # about 1,500 tokens


def notes(count: int, tag: str) -> dict[str, Any]:
    """A user message of `count` text blocks, the last one a cache breakpoint."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": f"{tag} {i}"} for i in range(count)]
    blocks[-1]["cache_control"] = EPHEMERAL
    return {"role": "user", "content": blocks}


def test_prompt_cache_ignores_prefixes_under_the_minimum() -> None:
    system = [{"type": "text", "text": "You are coda. " * 100, "cache_control": EPHEMERAL}]
    with ModelServer(cache=True) as server:  # the default minimum: 1024 tokens
        server.enqueue(Reply("a"), Reply("b"))
        client = claude(server)
        usages = [stream_message(client, system=system).usage for _ in range(2)]
    for usage in usages:
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
        assert usage.input_tokens > 300

    with ModelServer(cache=True, cache_min_tokens=100) as server:
        server.enqueue(Reply("a"), Reply("b"))
        client = claude(server)
        first, second = (stream_message(client, system=system).usage for _ in range(2))
    assert first.cache_creation_input_tokens > 300
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens


def test_prompt_cache_looks_back_at_most_20_blocks_from_a_breakpoint() -> None:
    marked = [{"type": "text", "text": BIG_SYSTEM, "cache_control": EPHEMERAL}]
    unmarked = [{"type": "text", "text": BIG_SYSTEM}]
    history = [*HI, {"role": "assistant", "content": "a"}]
    with ModelServer(cache=True) as server:
        server.enqueue(Reply("x"), Reply("y"), Reply("z"), Reply("w"))
        client = claude(server)
        first = stream_message(client, system=marked).usage
        # Segments: system, "hi", "a", then 22 notes: the system is 24 blocks back.
        far = stream_message(client, system=unmarked, messages=[*history, notes(22, "far")]).usage
        # 10 notes: the system is 12 blocks back, within reach.
        near = stream_message(client, system=unmarked, messages=[*history, notes(10, "near")]).usage
        # Far again, but an earlier breakpoint (on "a") reaches the system.
        a_marked = {"role": "assistant", "content": [{"type": "text", "text": "a"}]}
        a_marked["content"][0]["cache_control"] = EPHEMERAL
        both = [*HI, a_marked, notes(23, "two")]
        two = stream_message(client, system=unmarked, messages=both).usage

    system_tokens = first.cache_creation_input_tokens
    assert system_tokens > 1024 and first.cache_read_input_tokens == 0
    assert far.cache_read_input_tokens == 0
    assert far.cache_creation_input_tokens > system_tokens  # all written again
    assert near.cache_read_input_tokens == system_tokens
    assert 0 < near.cache_creation_input_tokens < 250  # only the ten notes and "hi", "a"
    assert two.cache_read_input_tokens == system_tokens


def test_respond_answers_from_the_request_body(model_server: ModelServer) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        last = body["messages"][-1]["content"]
        return Reply(f"{body['model']} heard: {last}")

    model_server.enqueue(Respond(echo), Delay(0.01, Respond(echo)))
    client = claude(model_server)
    first = stream_message(client, messages=[{"role": "user", "content": "ping"}])
    assert first.content[0].text == f"{MODEL} heard: ping"
    answer = gpt(model_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "pong"}]
    )
    assert answer.choices[0].message.content == "m heard: pong"
    assert model_server.pending == 0


def test_respond_may_return_any_item_and_a_raising_function_is_a_violation() -> None:
    def fault(body: dict[str, Any]) -> HTTPFault:
        return HTTPFault(429, retry_after=1)

    def broken(body: dict[str, Any]) -> Reply:
        raise KeyError("messages")

    with ModelServer() as server:
        server.enqueue(Respond(fault), Respond(broken))
        client = claude(server)
        with pytest.raises(anthropic.RateLimitError):
            stream_message(client)
        with pytest.raises(anthropic.InternalServerError, match="KeyError"):
            stream_message(client)
        assert server.violations == [
            "request 1 (anthropic): Respond function raised KeyError: 'messages'"
        ]


# -- command line ----------------------------------------------------------------------------


def test_cli_serves_a_json_script_forever_with_repeat(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["hello from a script"]))
    command = [
        sys.executable,
        "-m",
        "tests.fakes",
        "--port",
        "0",
        "--script",
        str(script),
        "--repeat",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        for _ in range(3):
            reply = client.chat.completions.create(model="m", messages=HI)
            assert reply.choices[0].message.content == "hello from a script"
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
