"""The provider seam: the request, the typed stream events, the reducer and the error tree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeAlias, assert_never

import jiter

from coda.messages import (
    AssistantBlock,
    AssistantMessage,
    JsonObject,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)

# ---------------------------------------------------------------- request


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    input_schema: JsonObject


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str
    system: str
    messages: list[Message]
    tools: list[ToolSpec]
    max_tokens: int
    thinking_budget: int | None = None
    # For adaptive-thinking models: "low" | "medium" | "high" | "max" instead of a budget.
    thinking_effort: str | None = None
    interleaved_thinking: bool = False
    temperature: float | None = None
    # Indexes into `messages` whose last block carries a cache breakpoint (Anthropic).
    cache_messages: tuple[int, ...] = ()
    cache_system: bool = True


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class MessageStart:
    id: str
    model: str
    usage: Usage
    type: Literal["message_start"] = "message_start"


@dataclass(frozen=True, slots=True)
class BlockStart:
    index: int
    block: AssistantBlock
    type: Literal["block_start"] = "block_start"


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int
    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    index: int
    thinking: str
    type: Literal["thinking_delta"] = "thinking_delta"


@dataclass(frozen=True, slots=True)
class SignatureDelta:
    index: int
    signature: str
    type: Literal["signature_delta"] = "signature_delta"


@dataclass(frozen=True, slots=True)
class InputJsonDelta:
    index: int
    partial_json: str
    type: Literal["input_json_delta"] = "input_json_delta"


@dataclass(frozen=True, slots=True)
class BlockStop:
    index: int
    type: Literal["block_stop"] = "block_stop"


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Cumulative counts from the end of a stream; None means the server did not report it."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class MessageDelta:
    stop_reason: str | None
    usage: UsageUpdate
    type: Literal["message_delta"] = "message_delta"


@dataclass(frozen=True, slots=True)
class MessageStop:
    type: Literal["message_stop"] = "message_stop"


@dataclass(frozen=True, slots=True)
class StreamRetry:
    """The stream failed and is being restarted: consumers discard what they have so far."""

    attempt: int
    delay: float
    reason: str
    type: Literal["stream_retry"] = "stream_retry"


Event: TypeAlias = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | InputJsonDelta
    | BlockStop
    | MessageDelta
    | MessageStop
    | StreamRetry
)


class Provider(Protocol):
    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


# ---------------------------------------------------------------- errors


class ProviderError(Exception):
    """Anything that stops a model request; `message` is written for the person."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ConfigurationError(ProviderError):
    pass


class APIStatusError(ProviderError):
    def __init__(
        self, message: str, *, status: int | None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AuthenticationError(APIStatusError):
    pass


class BadRequestError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    retryable = True


class OverloadedError(APIStatusError):
    retryable = True


class ServerError(APIStatusError):
    retryable = True


class ConnectionFailed(ProviderError):
    retryable = True


class StreamBroken(ProviderError):
    """The stream ended or failed before message_stop."""

    retryable = True


def status_error(status: int, body: str, retry_after: float | None) -> APIStatusError:
    """Map an HTTP status (or an in-stream error type) to the error tree."""
    detail = f"HTTP {status}: {body.strip()[:500]}"
    if status in (401, 403):
        return AuthenticationError(detail, status=status)
    if status == 429:
        return RateLimitError(detail, status=status, retry_after=retry_after)
    if status == 529:
        return OverloadedError(detail, status=status, retry_after=retry_after)
    if status >= 500 or status == 408:
        return ServerError(detail, status=status, retry_after=retry_after)
    return BadRequestError(detail, status=status)


def advice(exc: ProviderError) -> str:
    """What the person can do about a failed request, in one sentence."""
    cause = getattr(exc, "last", exc)  # the final error behind a give-up
    if isinstance(cause, AuthenticationError):
        return "Check the API key (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN or OPENAI_API_KEY)."
    if isinstance(cause, RateLimitError):
        return "The provider is rate-limiting this key: wait a minute and run again."
    if isinstance(cause, OverloadedError | ServerError):
        return "The provider is overloaded or failing: try again in a few minutes."
    if isinstance(cause, ConnectionFailed):
        return "Check the network and the base URL; `coda doctor` tests the connection."
    if isinstance(cause, StreamBroken):
        return "The connection kept dropping mid-reply: check the network, then run again."
    if isinstance(cause, BadRequestError):
        return "The provider refused the request; check the model id with `coda doctor`."
    return "Run `coda doctor` to check the setup."


# ---------------------------------------------------------------- reducer


@dataclass(slots=True)
class Snapshot:
    """The message under construction plus the raw tool JSON not yet parsed."""

    message: AssistantMessage = field(default_factory=AssistantMessage)
    partial_json: dict[int, str] = field(default_factory=dict)
    complete: bool = False


def _set_block(snapshot: Snapshot, index: int, block: AssistantBlock) -> None:
    content = snapshot.message.content
    if index < len(content):
        content[index] = block
    else:
        content.append(block)


def _block(snapshot: Snapshot, index: int) -> AssistantBlock:
    return snapshot.message.content[index]


def parse_tool_input(raw: str) -> tuple[JsonObject, str | None]:
    """Decode streamed tool JSON; malformed input is reported, never raised."""
    if not raw.strip():
        return {}, None
    try:
        value: Any = jiter.from_json(raw.encode())
    except ValueError as exc:
        return {}, f"tool input is not valid JSON ({exc}): {raw[:200]!r}"
    if not isinstance(value, dict):
        return {}, f"tool input must be a JSON object, got {type(value).__name__}"
    return value, None


def accumulate_event(snapshot: Snapshot, event: Event) -> Snapshot:
    """Fold one event into the snapshot. Pure apart from mutating the snapshot it is given."""
    msg = snapshot.message
    match event:
        case MessageStart(id=id_, model=model, usage=usage):
            msg.id, msg.model, msg.usage = id_, model, usage
        case BlockStart(index=index, block=block):
            _set_block(snapshot, index, replace(block))
        case TextDelta(index=index, text=text):
            blk = _block(snapshot, index)
            if isinstance(blk, TextBlock):
                blk.text += text
        case ThinkingDelta(index=index, thinking=thinking):
            blk = _block(snapshot, index)
            if isinstance(blk, ThinkingBlock):
                blk.thinking += thinking
        case SignatureDelta(index=index, signature=signature):
            blk = _block(snapshot, index)
            if isinstance(blk, ThinkingBlock):
                blk.signature += signature
        case InputJsonDelta(index=index, partial_json=partial):
            snapshot.partial_json[index] = snapshot.partial_json.get(index, "") + partial
        case BlockStop(index=index):
            _finish_tool_input(snapshot, index)
        case MessageDelta(stop_reason=stop_reason, usage=usage):
            if stop_reason is not None:
                msg.stop_reason = stop_reason
            msg.usage = _merge_usage(msg.usage, usage)
        case MessageStop():
            # A block cut off by max_tokens may never see its stop; its input is settled here.
            for index in list(snapshot.partial_json):
                _finish_tool_input(snapshot, index)
            snapshot.complete = True
        case StreamRetry():
            return Snapshot()
        case _:
            assert_never(event)
    return snapshot


def _finish_tool_input(snapshot: Snapshot, index: int) -> None:
    raw = snapshot.partial_json.pop(index, None)
    blk = _block(snapshot, index)
    if raw is not None and isinstance(blk, ToolUseBlock):
        blk.input, blk.input_error = parse_tool_input(raw)


def _merge_usage(start: Usage, update: UsageUpdate) -> Usage:
    def pick(new: int | None, old: int) -> int:
        return old if new is None else new

    return Usage(
        pick(update.input_tokens, start.input_tokens),
        pick(update.output_tokens, start.output_tokens),
        pick(update.cache_creation_input_tokens, start.cache_creation_input_tokens),
        pick(update.cache_read_input_tokens, start.cache_read_input_tokens),
    )


def accumulate(events: list[Event]) -> AssistantMessage:
    snapshot = Snapshot()
    for event in events:
        snapshot = accumulate_event(snapshot, event)
    return snapshot.message
