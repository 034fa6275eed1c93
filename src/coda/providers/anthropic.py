"""coda's own Anthropic Messages API client: request encoding and a pure SSE-to-event decoder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import jiter

from coda.messages import (
    AssistantBlock,
    JsonObject,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
    block_to_dict,
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
    SignatureDelta,
    StreamBroken,
    TextDelta,
    ThinkingDelta,
    UsageUpdate,
    status_error,
)
from coda.providers.http import dumps, make_client, post_sse
from coda.providers.retry import RetryPolicy, with_retries
from coda.providers.sse import ServerSentEvent

if TYPE_CHECKING:
    import httpx2

API_VERSION = "2023-06-01"
INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"
DEFAULT_BASE_URL = "https://api.anthropic.com"
_EPHEMERAL = {"type": "ephemeral"}

# In-stream error types and the HTTP status they stand for, so they join the error tree.
_ERROR_STATUS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "invalid_request_error": 400,
}


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        if not api_key and not auth_token:
            raise ConfigurationError("set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN")
        self._api_key = api_key
        self._auth_token = auth_token
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._retry = retry or RetryPolicy()
        self._client = client

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, retry: RetryPolicy | None = None
    ) -> AnthropicProvider:
        return cls(
            api_key=env.get("ANTHROPIC_API_KEY") or None,
            auth_token=env.get("ANTHROPIC_AUTH_TOKEN") or None,
            base_url=env.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
            retry=retry,
        )

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        return with_retries(lambda: self._attempt(request), self._retry)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def headers(self, request: ModelRequest) -> dict[str, str]:
        headers = {
            "anthropic-version": API_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream",
        }
        if self._api_key:
            headers["x-api-key"] = self._api_key
        else:
            headers["authorization"] = f"Bearer {self._auth_token}"
        if request.thinking_budget and request.interleaved_thinking:
            headers["anthropic-beta"] = INTERLEAVED_BETA
        return headers

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[Event]:
        if self._client is None:
            self._client = make_client(self._url)
        decoder = AnthropicDecoder()
        records = post_sse(
            self._client, self._url, self.headers(request), dumps(encode_request(request))
        )
        async for record in records:
            for event in decoder.feed(record):
                yield event


def encode_request(request: ModelRequest) -> JsonObject:
    """The Messages API body for a request, with its cache breakpoints placed."""
    messages: list[JsonObject] = []
    for index, message in enumerate(request.messages):
        content = [block_to_dict(b) for b in message.content]
        if index in request.cache_messages and content:
            content[-1] = {**content[-1], "cache_control": _EPHEMERAL}
        messages.append({"role": message.role, "content": content})
    body: JsonObject = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": messages,
        "stream": True,
    }
    if request.system:
        system: JsonObject = {"type": "text", "text": request.system}
        if request.cache_system:
            # Tools come before the system prompt in the cached prefix, so this one
            # breakpoint covers both.
            system["cache_control"] = _EPHEMERAL
        body["system"] = [system]
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema}
            for t in request.tools
        ]
    if request.thinking_effort:
        body["thinking"] = {"type": "adaptive"}
        body["output_config"] = {"effort": request.thinking_effort}
    elif request.thinking_budget:
        body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
    elif request.temperature is not None:
        body["temperature"] = request.temperature
    return body


def _usage(raw: Mapping[str, Any] | None) -> Usage:
    raw = raw or {}
    return Usage(
        input_tokens=raw.get("input_tokens") or 0,
        output_tokens=raw.get("output_tokens") or 0,
        cache_creation_input_tokens=raw.get("cache_creation_input_tokens") or 0,
        cache_read_input_tokens=raw.get("cache_read_input_tokens") or 0,
    )


def _usage_update(raw: Mapping[str, Any] | None) -> UsageUpdate:
    raw = raw or {}
    return UsageUpdate(
        input_tokens=raw.get("input_tokens"),
        output_tokens=raw.get("output_tokens"),
        cache_creation_input_tokens=raw.get("cache_creation_input_tokens"),
        cache_read_input_tokens=raw.get("cache_read_input_tokens"),
    )


def _start_block(raw: Mapping[str, Any]) -> AssistantBlock | None:
    match raw.get("type"):
        case "text":
            return TextBlock(raw.get("text") or "")
        case "thinking":
            return ThinkingBlock(raw.get("thinking") or "", raw.get("signature") or "")
        case "redacted_thinking":
            return RedactedThinkingBlock(raw.get("data") or "")
        case "tool_use":
            return ToolUseBlock(id=raw["id"], name=raw["name"], input=dict(raw.get("input") or {}))
        case _:
            # Server-side tools, compaction and future block kinds: coda neither runs nor
            # shows them, so they are dropped rather than misread.
            return None


class AnthropicDecoder:
    """Turns Messages API SSE records into coda events. Pure: no I/O, no clock."""

    def __init__(self) -> None:
        # Wire indexes count blocks coda drops; coda's indexes are dense.
        self._index: dict[int, int] = {}

    def feed(self, record: ServerSentEvent) -> list[Event]:
        if record.event == "ping" or not record.data:
            return []
        data: dict[str, Any] = jiter.from_json(record.data.encode())
        kind = data.get("type", record.event)
        match kind:
            case "message_start":
                message = data["message"]
                return [
                    MessageStart(
                        message["id"], message.get("model", ""), _usage(message.get("usage"))
                    )
                ]
            case "content_block_start":
                block = _start_block(data["content_block"])
                if block is None:
                    return []
                index = self._index[data["index"]] = len(self._index)
                return [BlockStart(index, block)]
            case "content_block_delta":
                return self._delta(data)
            case "content_block_stop":
                known = self._index.get(data["index"])
                return [] if known is None else [BlockStop(known)]
            case "message_delta":
                delta = data.get("delta") or {}
                return [MessageDelta(delta.get("stop_reason"), _usage_update(data.get("usage")))]
            case "message_stop":
                return [MessageStop()]
            case "error":
                error = data.get("error") or {}
                status = _ERROR_STATUS.get(error.get("type", ""), 500)
                raise status_error(status, f"{error.get('type')}: {error.get('message')}", None)
            case "ping":
                return []
            case _:
                return []  # new event kinds are ignored, as the API's versioning policy asks

    def _delta(self, data: dict[str, Any]) -> list[Event]:
        index = self._index.get(data["index"])
        if index is None:
            return []
        delta = data["delta"]
        match delta.get("type"):
            case "text_delta":
                return [TextDelta(index, delta["text"])]
            case "thinking_delta":
                return [ThinkingDelta(index, delta["thinking"])]
            case "signature_delta":
                return [SignatureDelta(index, delta["signature"])]
            case "input_json_delta":
                return [InputJsonDelta(index, delta["partial_json"])]
            case _:
                return []  # citations and future delta kinds


def decode_stream_text(text: str) -> list[Event]:
    """Decode a whole recorded stream; used by tests and tools that replay fixtures."""
    from coda.providers.sse import decode_lines

    decoder = AnthropicDecoder()
    events: list[Event] = []
    for record in decode_lines(text.splitlines()):
        events.extend(decoder.feed(record))
    if not events or not isinstance(events[-1], MessageStop):
        raise StreamBroken("recorded stream has no message_stop")
    return events
