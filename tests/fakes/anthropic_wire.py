"""The Anthropic Messages API on the wire: SSE events, Message JSON, errors, cache accounting."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.fakes.script import RawToolUse, RedactedThinking, Reply, Text, Thinking, ToolUse, Usage

# The real API sends the ping with a space after the colon, unlike every other event.
PING = b'event: ping\ndata: {"type": "ping"}\n\n'

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}
# For a StreamError played to a non-streaming request: the status the API would use instead.
STATUS_OF_ERROR = {kind: status for status, kind in ERROR_TYPES.items()}


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_json(data)}\n\n".encode()


def split(text: str, parts: int) -> list[str]:
    """`text` in up to `parts` non-empty pieces, the way a model streams tokens."""
    parts = max(1, min(parts, len(text)))
    size, extra = divmod(len(text), parts)
    pieces, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        pieces.append(text[start:end])
        start = end
    return [p for p in pieces if p]


def block_json(block: Any) -> dict[str, Any]:
    """A resolved block as it appears in a Message's content."""
    match block:
        case Text(text=text):
            return {"type": "text", "text": text}
        case Thinking(thinking=thinking, signature=signature):
            return {"type": "thinking", "thinking": thinking, "signature": signature}
        case RedactedThinking(data=data):
            return {"type": "redacted_thinking", "data": data}
        case ToolUse(name=name, input=args, id=call_id):
            return {"type": "tool_use", "id": call_id, "name": name, "input": args}
        case RawToolUse(name=name, raw_json=raw, id=call_id):
            # The real API never returns malformed input outside a stream; the raw string
            # stands in for it so a client still meets the malformed arguments.
            try:
                args = json.loads(raw)
            except ValueError:
                args = raw
            return {"type": "tool_use", "id": call_id, "name": name, "input": args}
    raise TypeError(f"not a content block: {block!r}")


def usage_json(usage: Usage, *, output_tokens: int | None = None) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
        "output_tokens": usage.output_tokens if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }


def message_json(reply: Reply, *, message_id: str, model: str, usage: Usage) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block_json(b) for b in reply.content],
        "stop_reason": reply.resolved_stop_reason(),
        "stop_sequence": reply.stop_sequence,
        "usage": usage_json(usage),
    }


def _block_events(index: int, block: Any) -> list[bytes]:
    def delta(payload: dict[str, Any]) -> bytes:
        return sse(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload}
        )

    match block:
        case Text(text=text):
            start = {"type": "text", "text": ""}
            deltas = [delta({"type": "text_delta", "text": t}) for t in split(text, 3)]
        case Thinking(thinking=thinking, signature=signature):
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [delta({"type": "thinking_delta", "thinking": t}) for t in split(thinking, 3)]
            deltas.append(delta({"type": "signature_delta", "signature": signature}))
        case RedactedThinking(data=data):
            start = {"type": "redacted_thinking", "data": data}
            deltas = []
        case ToolUse(name=name, input=args, id=call_id):
            start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            fragments = ["", *split(json.dumps(args, ensure_ascii=False), 4)]
            deltas = [delta({"type": "input_json_delta", "partial_json": f}) for f in fragments]
        case RawToolUse(name=name, raw_json=raw, id=call_id):
            start = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
            fragments = ["", *split(raw, 4)]
            deltas = [delta({"type": "input_json_delta", "partial_json": f}) for f in fragments]
        case _:
            raise TypeError(f"not a content block: {block!r}")
    opening = {"type": "content_block_start", "index": index, "content_block": start}
    closing = {"type": "content_block_stop", "index": index}
    return [sse("content_block_start", opening), *deltas, sse("content_block_stop", closing)]


def stream_events(reply: Reply, *, message_id: str, model: str, usage: Usage) -> list[bytes]:
    """The SSE events of one streamed reply, in the order and shape the real API uses."""
    start = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_json(usage, output_tokens=1),
    }
    events = [sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(reply.content):
        block_events = _block_events(index, block)
        events.append(block_events[0])
        if index == 0:
            events.append(PING)
        events.extend(block_events[1:])
    if not reply.content:
        events.append(PING)
    stop = {"stop_reason": reply.resolved_stop_reason(), "stop_sequence": reply.stop_sequence}
    final_usage = {"output_tokens": usage.output_tokens}
    events.append(
        sse("message_delta", {"type": "message_delta", "delta": stop, "usage": final_usage})
    )
    events.append(sse("message_stop", {"type": "message_stop"}))
    return events


def error_body(
    status: int, message: str | None = None, error_type: str | None = None
) -> dict[str, Any]:
    kind = error_type or ERROR_TYPES.get(
        status, "api_error" if status >= 500 else "invalid_request_error"
    )
    text = message or ERROR_MESSAGES.get(kind, f"Error {status}")
    return {"type": "error", "error": {"type": kind, "message": text}}


def error_event(error_type: str, message: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": error_type, "message": message}})


def _segments(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's prompt in cache order: tools, then system, then message blocks."""
    segments: list[dict[str, Any]] = [
        dict(t) for t in body.get("tools") or [] if isinstance(t, dict)
    ]
    system = body.get("system")
    if isinstance(system, str):
        segments.append({"type": "text", "text": system})
    elif isinstance(system, list):
        segments.extend(b for b in system if isinstance(b, dict))
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for block in content or []:
            if isinstance(block, dict):
                segments.append({"role": message.get("role"), **block})
    return segments


# How far back from a breakpoint the API looks for an earlier cache entry, in blocks.
LOOKBACK_BLOCKS = 20


class PromptCache:
    """Prefix prompt caching after the rules Anthropic documents, simplified.

    A request's prompt is a sequence of segments: tools, then system blocks, then message
    blocks. A segment that carries `cache_control` is a breakpoint, and the prefix ending
    there is known by a hash of the model and the segments (without their markers). Sizes
    are serialized characters / 4.

    - A breakpoint whose prefix is under `min_tokens` (the API's minimum cacheable length)
      is ignored: nothing is written or read for it.
    - Reads: for each breakpoint, a cached prefix is looked for ending at the breakpoint,
      then at each of the `LOOKBACK_BLOCKS` segments before it, going backwards, and no
      earlier. The longest prefix found over all breakpoints is read.
    - Writes: the prefix at every breakpoint is cached. What lies between the read prefix
      and the last breakpoint is written; whatever follows that breakpoint is plain input.

    Left out: TTLs and eviction, per-model minimums, and the tools and system caches being
    invalidated separately.
    """

    def __init__(self, min_tokens: int = 1024) -> None:
        self.min_tokens = min_tokens
        self._seen: set[str] = set()

    def account(self, body: dict[str, Any], input_tokens: int) -> Usage:
        digest = hashlib.sha256(str(body.get("model")).encode())
        hashes: list[str] = []
        sizes: list[int] = []
        breakpoints: list[int] = []
        total = 0
        for i, segment in enumerate(_segments(body)):
            if segment.pop("cache_control", None) is not None:
                breakpoints.append(i)
            text = json.dumps(segment, sort_keys=True, ensure_ascii=False)
            digest.update(text.encode())
            hashes.append(digest.hexdigest())
            total += len(text) // 4
            sizes.append(total)
        breakpoints = [b for b in breakpoints if sizes[b] >= self.min_tokens]
        if not breakpoints:
            return Usage(input_tokens=input_tokens)
        read = 0
        for b in breakpoints:
            for i in range(b, max(-1, b - LOOKBACK_BLOCKS - 1), -1):
                if hashes[i] in self._seen:
                    read = max(read, sizes[i])
                    break
        created = sizes[breakpoints[-1]] - read
        self._seen.update(hashes[b] for b in breakpoints)
        return Usage(
            input_tokens=max(1, input_tokens - read - created),
            cache_creation_input_tokens=created,
            cache_read_input_tokens=read,
        )
