"""The Chat Completions client: request encoding, the pure chunk decoder, the wire end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coda.messages import (
    AssistantMessage,
    ImageBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    UserMessage,
    user_text,
)
from coda.providers.base import (
    BlockStart,
    BlockStop,
    ConfigurationError,
    Event,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    ModelRequest,
    OverloadedError,
    RateLimitError,
    ServerError,
    StreamBroken,
    StreamRetry,
    TextDelta,
    ToolSpec,
    UsageUpdate,
    accumulate,
)
from coda.providers.openai_compat import OpenAICompatProvider, encode_request, reasoning_effort
from coda.providers.openai_stream import ChunkDecoder, ThinkTagSplitter
from coda.providers.retry import RetryPolicy

# ---------------------------------------------------------------- chunk helpers


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    id_: str = "chatcmpl-1",
    model: str = "gpt-test",
) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }


def usage_chunk(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-test",
        "choices": [],
        "usage": usage,
    }


def content(*pieces: str) -> list[dict[str, Any]]:
    return [chunk({"content": p}) for p in pieces]


def tool(index: int, *, id_: str | None = None, name: str | None = None, args: str = "") -> Any:
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_ is not None:
        call["id"], call["type"] = id_, "function"
    if name is not None:
        call["function"]["name"] = name
    return chunk({"tool_calls": [call]})


def decode(chunks: list[dict[str, Any]]) -> list[Event]:
    decoder = ChunkDecoder()
    events: list[Event] = []
    for c in chunks:
        events.extend(decoder.feed(c))
    events.extend(decoder.finish())
    return events


def decode_message(chunks: list[dict[str, Any]]) -> AssistantMessage:
    return accumulate(decode(chunks))


# ---------------------------------------------------------------- the decoder


def test_text_stream_becomes_one_text_block() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "", "refusal": None}),
        *content("Hel", "lo"),
        chunk({}, "stop"),
        usage_chunk(12, 3),
    ]
    events = decode(chunks)
    assert events == [
        MessageStart("chatcmpl-1", "gpt-test", Usage()),
        BlockStart(0, TextBlock("")),
        TextDelta(0, "Hel"),
        TextDelta(0, "lo"),
        BlockStop(0),
        MessageDelta("end_turn", UsageUpdate(12, 3, None, 0)),
        MessageStop(),
    ]
    message = accumulate(events)
    assert message.text == "Hello"
    assert (message.id, message.model, message.stop_reason) == (
        "chatcmpl-1",
        "gpt-test",
        "end_turn",
    )


def test_two_tool_calls_interleaved_by_index() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking."}),
        tool(0, id_="call_a", name="Read"),
        tool(1, id_="call_b", name="Glob"),
        tool(0, args='{"file_'),
        tool(1, args='{"pattern": '),
        tool(0, args='path": "a.py"}'),
        tool(1, args='"*.md"}'),
        chunk({}, "tool_calls"),
        usage_chunk(40, 20),
    ]
    events = decode(chunks)
    starts = [e for e in events if isinstance(e, BlockStart)]
    assert [(s.index, type(s.block).__name__) for s in starts] == [
        (0, "TextBlock"),
        (1, "ToolUseBlock"),
        (2, "ToolUseBlock"),
    ]
    assert [e for e in events if isinstance(e, InputJsonDelta)] == [
        InputJsonDelta(1, '{"file_'),
        InputJsonDelta(2, '{"pattern": '),
        InputJsonDelta(1, 'path": "a.py"}'),
        InputJsonDelta(2, '"*.md"}'),
    ]
    # The text block closes when the first call starts; calls close in index order at the end.
    assert [e.index for e in events if isinstance(e, BlockStop)] == [0, 1, 2]
    message = accumulate(events)
    assert message.text == "Checking."
    assert [(c.id, c.name, c.input) for c in message.tool_calls] == [
        ("call_a", "Read", {"file_path": "a.py"}),
        ("call_b", "Glob", {"pattern": "*.md"}),
    ]
    assert message.stop_reason == "tool_use"


def test_whole_tool_call_in_one_chunk_without_id() -> None:
    # Ollama's shape: no id, no index, the whole call at once, and finish_reason "stop".
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"tool_calls": [{"function": {"name": "LS", "arguments": '{"path": "."}'}}]}),
        chunk({}, "stop"),
    ]
    message = decode_message(chunks)
    assert [(c.id, c.name, c.input) for c in message.tool_calls] == [
        ("call_0", "LS", {"path": "."})
    ]
    assert message.content == message.tool_calls
    assert message.stop_reason == "tool_use"


def test_calls_reusing_index_zero_with_new_ids_stay_apart() -> None:
    chunks = [
        chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "LS"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "Glob"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"pattern": "*"}'}}]}),
        chunk({}, "tool_calls"),
    ]
    message = decode_message(chunks)
    assert [(c.id, c.name, c.input) for c in message.tool_calls] == [
        ("a", "LS", {}),
        ("b", "Glob", {"pattern": "*"}),
    ]


def test_arguments_before_the_name_are_held_until_it_arrives() -> None:
    chunks = [
        chunk({"tool_calls": [{"index": 0, "id": "x", "function": {"arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "T", "arguments": ": 1}"}}]}),
        chunk({}, "tool_calls"),
    ]
    assert [(c.id, c.name, c.input) for c in decode_message(chunks).tool_calls] == [
        ("x", "T", {"a": 1})
    ]


@pytest.mark.parametrize("field_name", ["reasoning_content", "reasoning"])
def test_reasoning_fields_become_a_thinking_block(field_name: str) -> None:
    chunks = [
        chunk({"role": "assistant", field_name: "Let me "}),
        chunk({field_name: "think.", "content": None}),
        *content("Answer", "."),
        chunk({}, "stop"),
    ]
    events = decode(chunks)
    assert [e for e in events if isinstance(e, BlockStart | BlockStop)] == [
        BlockStart(0, ThinkingBlock("")),
        BlockStop(0),
        BlockStart(1, TextBlock("")),
        BlockStop(1),
    ]
    message = accumulate(events)
    assert message.content == [ThinkingBlock("Let me think."), TextBlock("Answer.")]


def test_both_reasoning_fields_with_the_same_text_count_once() -> None:
    chunks = [
        chunk({"reasoning_content": "hmm", "reasoning": "hmm"}),
        *content("ok"),
        chunk({}, "stop"),
    ]
    assert decode_message(chunks).content == [ThinkingBlock("hmm"), TextBlock("ok")]


def test_think_tags_split_across_chunks() -> None:
    chunks = [
        *content("<th", "ink>", "\nPlan: read", " a.py", "\n</thi", "nk>", "\n\nDone", "."),
        chunk({}, "stop"),
    ]
    message = decode_message(chunks)
    assert message.content == [ThinkingBlock("Plan: read a.py"), TextBlock("Done.")]


def test_think_tags_split_at_every_point_give_the_same_blocks() -> None:
    full = "<think>\nstep one < two\n</think>\n\nThe answer <is> 42."
    expected = [ThinkingBlock("step one < two"), TextBlock("The answer <is> 42.")]
    for i in range(len(full) + 1):
        for j in range(i, len(full) + 1):
            message = decode_message([*content(full[:i], full[i:j], full[j:]), chunk({}, "stop")])
            assert message.content == expected, (i, j)


def test_think_tag_in_the_middle_of_an_answer_stays_text() -> None:
    text = "Use the <think> tag like <think>this</think>."
    message = decode_message([*content(text[:10], text[10:]), chunk({}, "stop")])
    assert message.content == [TextBlock(text)]


def test_unclosed_think_and_held_back_tag_are_released_at_the_end() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("<think>a</th") == [("thinking", "a")]
    assert splitter.flush() == [("thinking", "</th")]
    splitter = ThinkTagSplitter()
    assert splitter.feed("<thi") == []
    assert splitter.flush() == [("text", "<thi")]


def test_think_then_tool_call() -> None:
    chunks = [
        *content("<think>", "use LS", "</think>", "\n"),
        tool(0, id_="c1", name="LS", args="{}"),
        chunk({}, "tool_calls"),
    ]
    message = decode_message(chunks)
    assert message.content == [ThinkingBlock("use LS"), ToolUseBlock("c1", "LS", {})]


def test_usage_with_cached_tokens() -> None:
    chunks = [*content("hi"), chunk({}, "stop"), usage_chunk(1000, 50, cached=800)]
    message = decode_message(chunks)
    assert message.usage == Usage(input_tokens=200, output_tokens=50, cache_read_input_tokens=800)


def test_no_usage_reported_leaves_counts_unset() -> None:
    events = decode([*content("hi"), chunk({}, "stop")])
    assert events[-2] == MessageDelta("end_turn", UsageUpdate())
    assert accumulate(events).usage == Usage()


def test_usage_sent_with_the_finish_chunk() -> None:
    last = chunk({}, "stop")
    last["usage"] = {"prompt_tokens": 7, "completion_tokens": 2}
    assert decode_message([*content("hi"), last]).usage == Usage(7, 2)


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
def test_finish_reason_mapping(finish: str, stop_reason: str) -> None:
    assert decode_message([*content("x"), chunk({}, finish)]).stop_reason == stop_reason


def test_refusal_text_is_shown_and_marks_the_stop_reason() -> None:
    chunks = [chunk({"refusal": "I can't "}), chunk({"refusal": "help."}), chunk({}, "stop")]
    message = decode_message(chunks)
    assert (message.text, message.stop_reason) == ("I can't help.", "refusal")


def test_missing_done_is_fine_after_a_finish_reason() -> None:
    # finish() is what runs at end of body too; it only needs a finish_reason.
    events = decode([*content("x"), chunk({}, "stop")])
    assert isinstance(events[-1], MessageStop)


def test_stream_ending_before_a_finish_reason_is_broken() -> None:
    decoder = ChunkDecoder()
    decoder.feed(chunk({"content": "half"}))
    with pytest.raises(StreamBroken):
        decoder.finish()


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "slow down", "code": 429}, RateLimitError),
        ({"message": "slow down", "type": "x", "code": "rate_limit_exceeded"}, RateLimitError),
        ({"message": "busy", "code": "529"}, OverloadedError),
        ({"message": "boom"}, ServerError),
        ("plain string", ServerError),
    ],
)
def test_error_object_in_stream_raises_typed_error(error: Any, kind: type[Exception]) -> None:
    decoder = ChunkDecoder()
    decoder.feed(chunk({"content": "a"}))
    with pytest.raises(kind) as info:
        decoder.feed({"error": error})
    assert getattr(info.value, "retryable", False)


# ---------------------------------------------------------------- the request


def make_request(**overrides: Any) -> ModelRequest:
    base: dict[str, Any] = {
        "model": "gpt-test",
        "system": "You are coda.",
        "messages": [user_text("hi")],
        "tools": [],
        "max_tokens": 1024,
    }
    base.update(overrides)
    return ModelRequest(**base)


def test_request_shape_for_a_chat_model() -> None:
    spec = ToolSpec("Read", "Read a file", {"type": "object", "properties": {}})
    body = encode_request(make_request(tools=[spec], temperature=0.2))
    assert body == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are coda."},
            {"role": "user", "content": "hi"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Read",
                    "description": "Read a file",
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        ],
        "max_tokens": 1024,
        "temperature": 0.2,
    }
    assert "temperature" not in encode_request(make_request())


def test_reasoning_model_uses_max_completion_tokens_and_effort() -> None:
    body = encode_request(
        make_request(thinking_budget=10_000, temperature=0.7), reasoning_model=True
    )
    assert body["max_completion_tokens"] == 1024
    assert body["reasoning_effort"] == "medium"
    assert "max_tokens" not in body
    assert "temperature" not in body
    assert "reasoning_effort" not in encode_request(make_request(), reasoning_model=True)


@pytest.mark.parametrize(
    ("budget", "effort"),
    [
        (None, None),
        (1, "low"),
        (4_000, "low"),
        (4_001, "medium"),
        (16_000, "medium"),
        (16_001, "high"),
    ],
)
def test_reasoning_effort_from_budget(budget: int | None, effort: str | None) -> None:
    assert reasoning_effort(budget) == effort


def test_conversation_with_tools_thinking_and_images() -> None:
    messages = [
        user_text("list files"),
        AssistantMessage(
            [
                ThinkingBlock("I should look", signature="sig"),
                RedactedThinkingBlock("opaque"),
                TextBlock("Looking."),
                ToolUseBlock("call_1", "LS", {"path": "."}),
                ToolUseBlock("call_2", "Read", {"file_path": "é.md"}),
            ]
        ),
        UserMessage(
            [
                ToolResultBlock("call_1", [TextBlock("a.py\nb.py")]),
                ToolResultBlock(
                    "call_2",
                    [TextBlock("no such file"), ImageBlock("image/png", "iVBOR")],
                    is_error=True,
                ),
                TextBlock("and then?"),
            ]
        ),
        AssistantMessage([ThinkingBlock("only thought")]),
    ]
    assert encode_request(make_request(system="", messages=messages))["messages"] == [
        {"role": "user", "content": "list files"},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "LS", "arguments": '{"path":"."}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "Read", "arguments": '{"file_path":"é.md"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py\nb.py"},
        {"role": "tool", "tool_call_id": "call_2", "content": "Error: no such file"},
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "text", "text": "and then?"},
            ],
        },
        {"role": "assistant", "content": ""},
    ]


def test_assistant_tool_calls_only_send_null_content() -> None:
    messages = [user_text("go"), AssistantMessage([ToolUseBlock("c", "LS", {})])]
    sent = encode_request(make_request(messages=messages))["messages"][2]
    assert sent["content"] is None
    assert sent["tool_calls"][0]["function"]["arguments"] == "{}"


def test_from_env() -> None:
    with pytest.raises(ConfigurationError):
        OpenAICompatProvider.from_env({})
    local = OpenAICompatProvider.from_env({"OPENAI_BASE_URL": "http://localhost:11434/v1"})
    assert "authorization" not in local.headers()
    keyed = OpenAICompatProvider.from_env({"OPENAI_API_KEY": "sk-1"})
    assert keyed.headers()["authorization"] == "Bearer sk-1"


# ---------------------------------------------------------------- over real HTTP


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class CannedServer:
    """Serves the given replies in order (the last one repeats) and records each request."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                server.requests.append(
                    Recorded(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw)
                    )
                )
                reply = server.replies[min(len(server.requests), len(server.replies)) - 1]
                self.send_response(reply.status)
                ctype = "text/event-stream" if reply.status < 400 else "application/json"
                self.send_header("content-type", ctype)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


@contextmanager
def serve(*replies: Reply) -> Iterator[CannedServer]:
    server = CannedServer(list(replies))
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


def sse(chunks: list[dict[str, Any]], *, done: bool = True) -> bytes:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


async def no_sleep(_: float) -> None:
    pass


FAST = RetryPolicy(sleep=no_sleep)

CANNED = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    *content("I'll ", "read ", "both."),
    tool(0, id_="call_X1", name="Read", args=""),
    tool(0, args='{"file_path"'),
    tool(0, args=': "src/a.py"}'),
    tool(1, id_="call_Y2", name="Grep", args='{"pattern": "def ", '),
    tool(1, args='"path": "src"}'),
    chunk({}, "tool_calls"),
    usage_chunk(2048, 77, cached=1024),
]


async def collect(provider: OpenAICompatProvider, request: ModelRequest) -> list[Event]:
    try:
        return [e async for e in provider.stream(request)]
    finally:
        await provider.aclose()


async def test_end_to_end_agrees_with_the_openai_sdk() -> None:
    with serve(Reply(body=sse(CANNED))) as server:
        provider = OpenAICompatProvider(api_key="sk-test", base_url=server.url, retry=FAST)
        spec = ToolSpec("Read", "Read a file", {"type": "object"})
        message = accumulate(await collect(provider, make_request(tools=[spec])))

        import openai

        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        with client.chat.completions.stream(
            model="gpt-test", messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            final = stream.get_final_completion()
        client.close()

    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["tools"][0]["function"]["name"] == "Read"

    oracle = final.choices[0].message
    assert message.text == oracle.content == "I'll read both."
    assert oracle.tool_calls is not None
    assert [(c.id, c.name, c.input) for c in message.tool_calls] == [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in oracle.tool_calls
    ]
    assert [c.id for c in message.tool_calls] == ["call_X1", "call_Y2"]
    assert final.usage is not None
    assert final.usage.prompt_tokens_details is not None
    cached = final.usage.prompt_tokens_details.cached_tokens or 0
    assert message.usage == Usage(
        input_tokens=final.usage.prompt_tokens - cached,
        output_tokens=final.usage.completion_tokens,
        cache_read_input_tokens=cached,
    )
    assert (message.stop_reason, final.choices[0].finish_reason) == ("tool_use", "tool_calls")


async def test_no_key_sends_no_authorization_header() -> None:
    with serve(Reply(body=sse([*content("ok"), chunk({}, "stop")]))) as server:
        provider = OpenAICompatProvider.from_env({"OPENAI_BASE_URL": server.url + "/"})
        message = accumulate(await collect(provider, make_request()))
    assert message.text == "ok"
    assert "authorization" not in server.requests[0].headers


async def test_cut_stream_and_rate_limit_are_retried() -> None:
    cut = Reply(body=sse(content("par", "tial"), done=False))
    limited = Reply(
        status=429, body=b'{"error": {"message": "slow"}}', headers={"retry-after": "0"}
    )
    good = Reply(body=sse([*content("whole"), chunk({}, "stop")]))
    with serve(cut, limited, good) as server:
        provider = OpenAICompatProvider(api_key="k", base_url=server.url, retry=FAST)
        events = await collect(provider, make_request())
    retries = [e for e in events if isinstance(e, StreamRetry)]
    assert [r.attempt for r in retries] == [1, 2]
    assert "finish_reason" in retries[0].reason
    assert "429" in retries[1].reason
    message = accumulate(events)
    assert (message.text, message.stop_reason) == ("whole", "end_turn")
    assert len(server.requests) == 3


async def test_missing_done_at_end_of_body_still_completes() -> None:
    with serve(Reply(body=sse([*content("fine"), chunk({}, "stop")], done=False))) as server:
        provider = OpenAICompatProvider(api_key="k", base_url=server.url, retry=FAST)
        events = await collect(provider, make_request())
    assert not any(isinstance(e, StreamRetry) for e in events)
    assert accumulate(events).text == "fine"
