"""coda's own Chat Completions client, for OpenAI and every server that copies its wire format."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, cast

from coda import __version__
from coda.messages import (
    AssistantMessage,
    ImageBlock,
    JsonObject,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
from coda.providers.base import (
    ConfigurationError,
    Event,
    ModelRequest,
)
from coda.providers.http import dumps, make_client, post_sse
from coda.providers.openai_stream import ChunkDecoder, parse_chunk
from coda.providers.retry import RetryPolicy, with_retries
from coda.providers.sse import ServerSentEvent

if TYPE_CHECKING:
    import httpx2

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str = DEFAULT_BASE_URL,
        reasoning_model: bool = False,
        retry: RetryPolicy | None = None,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._api_key = api_key
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._reasoning_model = reasoning_model
        self._retry = retry or RetryPolicy()
        self._client = client
        self._owns_client = client is None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str],
        *,
        reasoning_model: bool = False,
        retry: RetryPolicy | None = None,
    ) -> OpenAICompatProvider:
        api_key = env.get("OPENAI_API_KEY") or None
        base_url = env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        # Local servers (Ollama, llama.cpp, LM Studio, vLLM) take no key; OpenAI itself does.
        if api_key is None and base_url.rstrip("/") == DEFAULT_BASE_URL:
            raise ConfigurationError(
                "set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server that needs no key"
            )
        return cls(api_key=api_key, base_url=base_url, reasoning_model=reasoning_model, retry=retry)

    def stream(self, request: ModelRequest) -> AsyncIterator[Event]:
        return with_retries(lambda: self._attempt(request), self._retry)

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    def headers(self) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream",
            "user-agent": f"coda/{__version__}",
        }
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    async def _attempt(self, request: ModelRequest) -> AsyncIterator[Event]:
        if self._client is None:
            self._client = make_client(self._url)
        body = dumps(encode_request(request, reasoning_model=self._reasoning_model))
        decoder = ChunkDecoder(model=request.model)
        # Leaving at [DONE] must release the connection now, not at garbage collection.
        # post_sse is an async generator; the cast lets aclosing see its aclose().
        records = cast(
            AsyncGenerator[ServerSentEvent, None],
            post_sse(self._client, self._url, self.headers(), body),
        )
        async with aclosing(records):
            async for record in records:
                data = record.data.strip()
                if data.startswith("[DONE]"):
                    break
                if data:
                    for event in decoder.feed(parse_chunk(data)):
                        yield event
        for event in decoder.finish():
            yield event


# ---------------------------------------------------------------- request


def reasoning_effort(thinking_budget: int | None) -> str | None:
    """Chat Completions takes an effort level, not a token budget; map one onto the other."""
    if thinking_budget is None:
        return None
    if thinking_budget <= 4_000:
        return "low"
    if thinking_budget <= 16_000:
        return "medium"
    return "high"


def encode_request(request: ModelRequest, *, reasoning_model: bool = False) -> JsonObject:
    body: JsonObject = {
        "model": request.model,
        "messages": encode_messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.input_schema,
                },
            }
            for tool in request.tools
        ]
    if reasoning_model:
        # Reasoning models reject max_tokens and any temperature but their default.
        body["max_completion_tokens"] = request.max_tokens
        # Adaptive models arrive with an effort already; OpenAI has no "max".
        effort = request.thinking_effort or reasoning_effort(request.thinking_budget)
        if effort == "max":
            effort = "high"
        if effort is not None:
            body["reasoning_effort"] = effort
    else:
        body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
    return body


def encode_messages(request: ModelRequest) -> list[JsonObject]:
    out: list[JsonObject] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        if isinstance(message, UserMessage):
            out.extend(_user_messages(message))
        else:
            out.append(_assistant_message(message))
    return out


def _user_messages(message: UserMessage) -> list[JsonObject]:
    """Tool results become role "tool" messages, first and in order, as Chat Completions
    requires them right after the assistant's tool_calls; the rest becomes one user message."""
    out: list[JsonObject] = []
    rest: list[TextBlock | ImageBlock] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            text = block.text
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": block.tool_use_id,
                    # There is no is_error field; say it in the text so the model knows.
                    "content": f"Error: {text}" if block.is_error else text,
                }
            )
            # Tool messages hold text only, so a tool's images follow in the user message.
            rest.extend(b for b in block.content if isinstance(b, ImageBlock))
        else:
            rest.append(block)
    if rest:
        out.append({"role": "user", "content": _user_content(rest)})
    return out


def _user_content(blocks: list[TextBlock | ImageBlock]) -> str | list[JsonObject]:
    if all(isinstance(b, TextBlock) for b in blocks):
        # A plain string is the one form every compatible server accepts.
        return "\n\n".join(b.text for b in blocks if isinstance(b, TextBlock))
    parts: list[JsonObject] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        else:
            url = f"data:{block.media_type};base64,{block.data}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def _assistant_message(message: AssistantMessage) -> JsonObject:
    # Thinking and redacted thinking are dropped: Chat Completions has no field for them.
    # OpenAI keeps its reasoning server-side, and DeepSeek rejects reasoning_content sent
    # back in input messages, so returning them would at best be ignored.
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    calls = [b for b in message.content if isinstance(b, ToolUseBlock)]
    out: JsonObject = {"role": "assistant", "content": text or None}
    if calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": dumps(call.input).decode("utf-8"),
                },
            }
            for call in calls
        ]
    elif not text:
        out["content"] = ""  # an assistant message needs content or tool_calls
    return out
