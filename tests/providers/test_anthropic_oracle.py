"""The official anthropic SDK and coda's own client decode the same recorded streams alike."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
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
from coda.providers.base import ModelRequest, accumulate
from coda.providers.retry import RetryPolicy
from tests.fakes.replay import replay_server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic-sse"
RECORDED = sorted(p for p in FIXTURES.glob("*") if p.suffix in (".txt", ".sse"))
KNOWN = {"text", "thinking", "redacted_thinking", "tool_use"}


def coda_decode(url: str) -> AssistantMessage:
    provider = AnthropicProvider(api_key="test", base_url=url, retry=RetryPolicy(max_retries=0))
    request = ModelRequest(
        model="m", system="", messages=[user_text("hi")], tools=[], max_tokens=64
    )

    async def go() -> AssistantMessage:
        try:
            return accumulate([e async for e in provider.stream(request)])
        finally:
            await provider.aclose()

    return asyncio.run(go())


def sdk_decode(url: str) -> Any:
    client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    with client.messages.stream(
        model="m", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def as_comparable(block: Any) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ThinkingBlock):
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if isinstance(block, RedactedThinkingBlock):
        return {"type": "redacted_thinking", "data": block.data}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    # An SDK block
    d = block.model_dump()
    keys = {
        "text": ("type", "text"),
        "thinking": ("type", "thinking", "signature"),
        "redacted_thinking": ("type", "data"),
        "tool_use": ("type", "id", "name", "input"),
    }[d["type"]]
    return {k: d[k] for k in keys}


def test_fixtures_present() -> None:
    assert len(RECORDED) >= 10, f"recorded streams missing under {FIXTURES}"


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_stream_agrees_with_sdk(path: Path) -> None:
    body = path.read_bytes()
    with replay_server(body) as url:
        ours = coda_decode(url)
        theirs = sdk_decode(url)
    assert ours.id == theirs.id
    assert ours.model == theirs.model
    assert ours.stop_reason == theirs.stop_reason
    assert ours.usage.input_tokens == theirs.usage.input_tokens
    assert ours.usage.output_tokens == theirs.usage.output_tokens
    assert ours.usage.cache_read_input_tokens == (theirs.usage.cache_read_input_tokens or 0)
    assert ours.usage.cache_creation_input_tokens == (theirs.usage.cache_creation_input_tokens or 0)
    their_blocks = [as_comparable(b) for b in theirs.content if b.type in KNOWN]
    our_blocks = [as_comparable(b) for b in ours.content]
    if theirs.stop_reason == "max_tokens" and any(b["type"] == "tool_use" for b in their_blocks):
        # The SDK keeps a partial parse of truncated tool JSON; coda refuses to act on it.
        truncated = [b for b in ours.content if isinstance(b, ToolUseBlock)]
        assert truncated and all(b.input_error for b in truncated)
        their_blocks = [b for b in their_blocks if b["type"] != "tool_use"]
        our_blocks = [b for b in our_blocks if b["type"] != "tool_use"]
    assert our_blocks == their_blocks
