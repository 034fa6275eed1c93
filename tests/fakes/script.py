"""What the fake model server plays: scripted replies and faults, one item per request."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Thinking:
    thinking: str
    signature: str | None = None  # None: the server makes one up when it plays the reply


@dataclass(frozen=True)
class RedactedThinking:
    data: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None  # None: "toolu_…" (Anthropic) or "call_…" (OpenAI) when played


@dataclass(frozen=True)
class RawToolUse:
    """A tool call whose arguments are sent verbatim, so they can be malformed JSON."""

    name: str
    raw_json: str
    id: str | None = None


Block = Text | Thinking | RedactedThinking | ToolUse | RawToolUse
OpenAIThinking = Literal["think_tags", "reasoning_content"]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass
class Reply:
    """One assistant message. A bare string for `blocks` means one Text block."""

    blocks: list[Block] | str
    stop_reason: str | None = None  # None: "tool_use" if it calls a tool, else "end_turn"
    usage: Usage | None = None  # None: estimated from the sizes of request and reply
    openai_thinking: OpenAIThinking = "think_tags"
    stop_sequence: str | None = None
    chunk_delay: float = 0.0  # seconds between streamed events, for interrupt tests

    def __post_init__(self) -> None:
        if isinstance(self.blocks, str):
            self.blocks = [Text(self.blocks)]

    @property
    def content(self) -> list[Block]:
        assert not isinstance(self.blocks, str)
        return self.blocks

    def resolved_stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        calls = any(isinstance(b, ToolUse | RawToolUse) for b in self.content)
        return "tool_use" if calls else "end_turn"


@dataclass
class HTTPFault:
    """An HTTP error response; `body` None gives the real error JSON of the request's API."""

    status: int
    body: dict[str, Any] | str | None = None
    retry_after: float | str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class CutStream:
    """Sends `after_events` SSE events of the reply, then drops the connection mid-body."""

    reply: Reply
    after_events: int


@dataclass
class StreamError:
    """Sends `after_events` SSE events of the reply, then an in-stream error event."""

    reply: Reply
    after_events: int
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass
class Delay:
    seconds: float
    item: Item


@dataclass
class Respond:
    """An item decided when it plays: `fn` gets the parsed request body and returns the item.

    For a model that answers from what is in its context, e.g. a summary that quotes the
    messages it was sent. Python only: JSON scripts have no form for it.
    """

    fn: Callable[[dict[str, Any]], Item]


Item = Reply | HTTPFault | CutStream | StreamError | Delay | Respond


def resolve(reply: Reply, new_id: Callable[[str], str]) -> Reply:
    """The reply with every missing tool id and signature filled in, as it goes on the wire."""
    blocks: list[Block] = []
    for block in reply.content:
        if isinstance(block, ToolUse | RawToolUse) and block.id is None:
            block = replace(block, id=new_id("tool"))
        elif isinstance(block, Thinking) and block.signature is None:
            block = replace(block, signature=new_id("signature"))
        blocks.append(block)
    return replace(reply, blocks=blocks)


def output_size(reply: Reply) -> int:
    """Characters of generated content, for automatic output-token estimates."""
    size = 0
    for block in reply.content:
        match block:
            case Text(text=text):
                size += len(text)
            case Thinking(thinking=thinking):
                size += len(thinking)
            case RedactedThinking(data=data):
                size += len(data)
            case ToolUse(name=name, input=args):
                size += len(name) + len(json.dumps(args))
            case RawToolUse(name=name, raw_json=raw):
                size += len(name) + len(raw)
    return size


# JSON scripts, for `python -m tests.fakes --script FILE`. An item is a string (a one-text
# reply) or an object with "type": reply | http_fault | cut_stream | stream_error | delay.


def block_from_json(obj: Any) -> Block:
    if isinstance(obj, str):
        return Text(obj)
    kind = obj.get("type")
    if kind == "text":
        return Text(obj["text"])
    if kind == "thinking":
        return Thinking(obj["thinking"], obj.get("signature"))
    if kind == "redacted_thinking":
        return RedactedThinking(obj["data"])
    if kind == "tool_use":
        return ToolUse(obj["name"], obj.get("input", {}), obj.get("id"))
    if kind == "raw_tool_use":
        return RawToolUse(obj["name"], obj["raw_json"], obj.get("id"))
    raise ValueError(f"unknown block in script: {obj!r}")


def reply_from_json(obj: Any) -> Reply:
    if isinstance(obj, str):
        return Reply(obj)
    usage = obj.get("usage")
    return Reply(
        blocks=[block_from_json(b) for b in obj.get("blocks", [])],
        stop_reason=obj.get("stop_reason"),
        usage=Usage(**usage) if usage is not None else None,
        openai_thinking=obj.get("openai_thinking", "think_tags"),
        stop_sequence=obj.get("stop_sequence"),
        chunk_delay=obj.get("chunk_delay", 0.0),
    )


def item_from_json(obj: Any) -> Item:
    kind = "reply" if isinstance(obj, str) else obj.get("type", "reply")
    if kind == "reply":
        return reply_from_json(obj)
    if kind == "http_fault":
        return HTTPFault(
            obj["status"], obj.get("body"), obj.get("retry_after"), obj.get("headers", {})
        )
    if kind == "cut_stream":
        return CutStream(reply_from_json(obj["reply"]), obj["after_events"])
    if kind == "stream_error":
        return StreamError(
            reply_from_json(obj["reply"]),
            obj["after_events"],
            obj.get("error_type", "overloaded_error"),
            obj.get("message", "Overloaded"),
        )
    if kind == "delay":
        return Delay(obj["seconds"], item_from_json(obj["item"]))
    raise ValueError(f"unknown script item: {obj!r}")


def load_script(path: str | Path) -> list[Item]:
    items = json.loads(Path(path).read_text())
    if not isinstance(items, list):
        raise ValueError(f"{path}: a script is a JSON list of items")
    return [item_from_json(item) for item in items]
