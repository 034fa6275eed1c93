"""coda's clients and the official SDKs decode the fake server's scripted streams alike.

This covers what the recorded fixtures do not: thinking interleaved with tool use,
redacted thinking, pings and many small deltas.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import openai
import pytest

from coda.messages import (
    AssistantMessage,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    user_text,
)
from coda.providers.anthropic import AnthropicProvider
from coda.providers.base import ModelRequest, Provider, accumulate
from coda.providers.openai_compat import OpenAICompatProvider
from coda.providers.retry import RetryPolicy
from tests.fakes.model_server import ModelServer
from tests.fakes.script import RedactedThinking, Reply, Text, Thinking, ToolUse, Usage

SCRIPTS = {
    "text": Reply(
        "Hello there, this is a longer answer split into pieces.", usage=Usage(25, 13, 7, 11)
    ),
    "thinking-tool": Reply(
        [
            Thinking("Let me find the file first.", signature="sig-one=="),
            ToolUse("Glob", {"pattern": "**/*.py"}, id="toolu_A"),
        ],
        usage=Usage(40, 30),
    ),
    "interleaved": Reply(
        [
            Thinking("step one", signature="sig-1=="),
            ToolUse("Read", {"file_path": "a.py", "offset": 3}, id="toolu_1"),
            RedactedThinking("RmVkYWN0ZWQ="),
            Thinking("step two", signature="sig-2=="),
            ToolUse("Grep", {"pattern": "def \\w+", "-n": True}, id="toolu_2"),
            Text("Both look fine."),
        ],
        usage=Usage(90, 60, 0, 500),
    ),
}


def coda_message(provider: Provider) -> AssistantMessage:
    request = ModelRequest(
        model="claude-sonnet-4-6", system="s", messages=[user_text("hi")], tools=[], max_tokens=99
    )

    async def go() -> AssistantMessage:
        try:
            return accumulate([e async for e in provider.stream(request)])
        finally:
            await provider.aclose()

    return asyncio.run(go())


def comparable(block: Any) -> tuple[Any, ...]:
    match block:
        case TextBlock(text=t):
            return ("text", t)
        case ThinkingBlock(thinking=t, signature=s):
            return ("thinking", t, s)
        case RedactedThinkingBlock(data=d):
            return ("redacted_thinking", d)
        case ToolUseBlock(id=i, name=n, input=inp):
            return ("tool_use", i, n, inp)
    d = block.model_dump()
    return {
        "text": lambda: ("text", d["text"]),
        "thinking": lambda: ("thinking", d["thinking"], d["signature"]),
        "redacted_thinking": lambda: ("redacted_thinking", d["data"]),
        "tool_use": lambda: ("tool_use", d["id"], d["name"], d["input"]),
    }[d["type"]]()


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_anthropic_scripted_streams_agree(model_server: ModelServer, name: str) -> None:
    model_server.enqueue(SCRIPTS[name], SCRIPTS[name])
    ours = coda_message(
        AnthropicProvider(
            api_key="k", base_url=model_server.anthropic_base_url, retry=RetryPolicy(max_retries=0)
        )
    )
    client = anthropic.Anthropic(
        base_url=model_server.anthropic_base_url, api_key="k", max_retries=0
    )
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=99, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        theirs = stream.get_final_message()
    assert [comparable(b) for b in ours.content] == [comparable(b) for b in theirs.content]
    assert ours.stop_reason == theirs.stop_reason
    assert ours.usage.input_tokens == theirs.usage.input_tokens
    assert ours.usage.output_tokens == theirs.usage.output_tokens
    assert ours.usage.cache_read_input_tokens == (theirs.usage.cache_read_input_tokens or 0)
    assert ours.usage.cache_creation_input_tokens == (theirs.usage.cache_creation_input_tokens or 0)


@pytest.mark.parametrize("name", ["text", "thinking-tool", "interleaved"])
def test_openai_scripted_streams_agree(model_server: ModelServer, name: str) -> None:
    reply = SCRIPTS[name]
    reply.openai_thinking = "reasoning_content"
    model_server.enqueue(reply, reply)
    ours = coda_message(
        OpenAICompatProvider(
            api_key="k", base_url=model_server.openai_base_url, retry=RetryPolicy(max_retries=0)
        )
    )
    client = openai.OpenAI(base_url=model_server.openai_base_url, api_key="k", max_retries=0)
    with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        stream_options={"include_usage": True},
    ) as stream:
        theirs = stream.get_final_completion()
    choice = theirs.choices[0]
    our_calls = [(c.id, c.name, c.input) for c in ours.tool_calls]
    their_calls = [
        (c.id, c.function.name, json.loads(c.function.arguments))
        for c in choice.message.tool_calls or []
    ]
    assert our_calls == their_calls
    assert ours.text == (choice.message.content or "")
    assert ours.stop_reason == {"stop": "end_turn", "tool_calls": "tool_use"}[choice.finish_reason]
    assert theirs.usage is not None
    assert ours.usage.output_tokens == theirs.usage.completion_tokens
