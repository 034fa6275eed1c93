"""OpenAI Chat Completions on the wire: chunk SSE, ChatCompletion JSON, error bodies."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.anthropic_wire import split
from tests.fakes.script import RawToolUse, Reply, Text, Thinking, ToolUse, Usage

DONE = b"data: [DONE]\n\n"
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}
ERRORS = {  # status: (type, code, message)
    400: ("invalid_request_error", None, "Invalid request"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests"),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def data_line(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def usage_json(usage: Usage) -> dict[str, Any]:
    prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_input_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _arguments(block: ToolUse | RawToolUse) -> str:
    if isinstance(block, RawToolUse):
        return block.raw_json
    return json.dumps(block.input, ensure_ascii=False)


def _think_tagged(thinking: str) -> list[str]:
    # As R1 emits it through Ollama: the tags are tokens of their own.
    return ["<think>", "\n", *split(thinking, 3), "\n", "</think>", "\n\n"]


def _content_pieces(reply: Reply) -> list[str]:
    """Streamed `content` pieces in block order (think tags inline when so configured)."""
    pieces: list[str] = []
    for block in reply.content:
        if isinstance(block, Text):
            pieces.extend(split(block.text, 3))
        elif isinstance(block, Thinking) and reply.openai_thinking == "think_tags":
            pieces.extend(_think_tagged(block.thinking))
    return pieces


def completion_json(
    reply: Reply, *, completion_id: str, model: str, created: int, usage: Usage
) -> dict[str, Any]:
    content = "".join(_content_pieces(reply))
    message: dict[str, Any] = {"role": "assistant", "content": content or None, "refusal": None}
    calls = [
        {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": _arguments(b)}}
        for b in reply.content
        if isinstance(b, ToolUse | RawToolUse)
    ]
    if calls:
        message["tool_calls"] = calls
    if reply.openai_thinking == "reasoning_content":
        reasoning = "".join(b.thinking for b in reply.content if isinstance(b, Thinking))
        if reasoning:
            message["reasoning_content"] = reasoning
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": "fp_coda_fake",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(reply.resolved_stop_reason(), "stop"),
            }
        ],
        "usage": usage_json(usage),
    }


def stream_chunks(
    reply: Reply,
    *,
    completion_id: str,
    model: str,
    created: int,
    usage: Usage,
    include_usage: bool,
) -> list[bytes]:
    """The `data:` lines of one streamed reply, ending with `data: [DONE]`."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_coda_fake",
            "choices": [choice],
        }
        if include_usage:
            data["usage"] = None
        return data_line(data)

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    call_index = 0
    for block in reply.content:
        if isinstance(block, Text):
            chunks.extend(chunk({"content": t}) for t in split(block.text, 3))
        elif isinstance(block, Thinking) and reply.openai_thinking == "reasoning_content":
            chunks.extend(chunk({"reasoning_content": t}) for t in split(block.thinking, 3))
        elif isinstance(block, Thinking):
            chunks.extend(chunk({"content": t}) for t in _think_tagged(block.thinking))
        elif isinstance(block, ToolUse | RawToolUse):
            function = {"name": block.name, "arguments": ""}
            opening = {
                "index": call_index,
                "id": block.id,
                "type": "function",
                "function": function,
            }
            chunks.append(chunk({"tool_calls": [opening]}))
            for fragment in split(_arguments(block), 4):
                more = {"index": call_index, "function": {"arguments": fragment}}
                chunks.append(chunk({"tool_calls": [more]}))
            call_index += 1
    finish = FINISH_REASONS.get(reply.resolved_stop_reason(), "stop")
    chunks.append(chunk({}, finish))
    if include_usage:
        chunks.append(
            data_line(
                {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "fp_coda_fake",
                    "choices": [],
                    "usage": usage_json(usage),
                }
            )
        )
    chunks.append(DONE)
    return chunks


def error_body(
    status: int, message: str | None = None, error_type: str | None = None
) -> dict[str, Any]:
    kind, code, text = ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}"),
    )
    return {
        "error": {
            "message": message or text,
            "type": error_type or kind,
            "param": None,
            "code": code,
        }
    }


def error_chunk(error_type: str, message: str) -> bytes:
    """A mid-stream error, as OpenAI-compatible servers send one (the SDK raises APIError)."""
    return data_line(
        {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    )
