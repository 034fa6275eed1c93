"""Decoding Chat Completions stream chunks into coda's events. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import jiter

from coda.messages import JsonObject, TextBlock, ThinkingBlock, ToolUseBlock, Usage
from coda.providers.base import (
    APIStatusError,
    BlockStart,
    BlockStop,
    Event,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    ServerError,
    StreamBroken,
    TextDelta,
    ThinkingDelta,
    UsageUpdate,
    status_error,
)
from coda.providers.http import dumps

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

# In-stream errors carry a string code more often than an HTTP status; these are the ones
# whose status decides whether a retry can help.
_ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "internal_error": 500,
    "overloaded": 529,
    "overloaded_error": 529,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "authentication_error": 401,
}


def parse_chunk(data: str) -> JsonObject:
    try:
        value: Any = jiter.from_json(data.encode("utf-8"))
    except ValueError as exc:
        raise StreamBroken(f"the server sent a chunk that is not JSON: {data[:200]!r}") from exc
    if not isinstance(value, dict):
        raise StreamBroken(f"the server sent a chunk that is not an object: {data[:200]!r}")
    return value


def stream_error(error: Any) -> APIStatusError:
    """An `{"error": …}` object sent inside a 200 stream, mapped onto the error tree."""
    if not isinstance(error, dict):
        return ServerError(f"error in stream: {error}", status=None)
    message = str(error.get("message") or error)
    code = error.get("code")
    status: int | None = None
    if isinstance(code, int):
        status = code
    elif isinstance(code, str) and code.isdigit():
        status = int(code)
    else:
        status = _ERROR_STATUS.get(str(code)) or _ERROR_STATUS.get(str(error.get("type")))
    if status is not None and 400 <= status < 600:
        return status_error(status, message, None)
    return ServerError(f"error in stream: {message}", status=None)


def _usage(raw: Mapping[str, Any]) -> UsageUpdate:
    details = raw.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    prompt = raw.get("prompt_tokens")
    completion = raw.get("completion_tokens")
    # prompt_tokens counts cached tokens too; coda's input_tokens, like Anthropic's, does not.
    return UsageUpdate(
        input_tokens=None if prompt is None else max(0, int(prompt) - cached),
        output_tokens=None if completion is None else int(completion),
        cache_read_input_tokens=cached,
    )


Run: TypeAlias = tuple[Literal["text", "thinking"], str]
_OPEN, _CLOSE = "<think>", "</think>"


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest end of `text` that could be the start of `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """Splits R1-style content, `<think>…</think>answer`, into thinking and text runs.

    Only a `<think>` at the very start of the content opens reasoning, so an answer that
    mentions the tag stays text. Tags may arrive split across chunks, so just enough is held
    back to decide.
    """

    def __init__(self) -> None:
        self._state: Literal["start", "thinking", "text"] = "start"
        self._pending = ""
        self._skip_space = False  # the newlines after a tag are layout, not content

    def feed(self, text: str) -> list[Run]:
        buf, self._pending = self._pending + text, ""
        out: list[Run] = []
        while buf:
            if self._skip_space:
                buf = buf.lstrip()
                self._skip_space = not buf
                continue
            if self._state == "start":
                head = buf.lstrip()
                if head.startswith(_OPEN):
                    self._state, self._skip_space = "thinking", True
                    buf = head[len(_OPEN) :]
                elif _OPEN.startswith(head):
                    self._pending = buf  # "", "  " or "<thi": not yet decidable
                    break
                else:
                    self._state = "text"
            elif self._state == "thinking":
                end = buf.find(_CLOSE)
                if end >= 0:
                    _add(out, "thinking", buf[:end].rstrip())
                    self._state, self._skip_space = "text", True
                    buf = buf[end + len(_CLOSE) :]
                else:
                    # Hold back a possible start of </think>, and the blank space before it.
                    keep = len(buf[: len(buf) - _partial_tag(buf, _CLOSE)].rstrip())
                    _add(out, "thinking", buf[:keep])
                    self._pending = buf[keep:]
                    break
            else:
                _add(out, "text", buf)
                break
        return out

    def flush(self) -> list[Run]:
        """Whatever is held back, released as it stands (the stream ended, or a tool began)."""
        pending, self._pending = self._pending, ""
        if self._state == "start":
            self._state = "text"
        if not pending.strip():
            return []  # blank lines before a tool call or the end are layout, not an answer
        out: list[Run] = []
        _add(out, "thinking" if self._state == "thinking" else "text", pending)
        return out


def _add(out: list[Run], kind: Literal["text", "thinking"], text: str) -> None:
    if text:
        out.append((kind, text))


@dataclass(slots=True)
class _ToolCall:
    id: str
    name: str = ""
    index: int | None = None  # coda block index, set once BlockStart went out
    held: str = ""  # argument fragments that arrived before the name
    closed: bool = False


class ChunkDecoder:
    """Chat Completions chunks in, coda events out. Pure: the caller does the I/O.

    Text and thinking share one sequence of blocks, a new block whenever the kind changes.
    Tool calls get a block each, keyed by the wire `index`, and stay open until the finish
    reason, since parallel calls may interleave their argument fragments.
    """

    def __init__(self, *, model: str = "") -> None:
        self._model = model
        self._started = False
        self._next_index = 0
        self._open: tuple[int, Literal["text", "thinking"]] | None = None
        self._tools: dict[int, _ToolCall] = {}  # by wire index; the latest call there
        self._calls: list[_ToolCall] = []
        self._think = ThinkTagSplitter()
        self._finish_reason: str | None = None
        self._refused = False
        self._usage = UsageUpdate()  # all None: a server that never reports usage
        self._done = False

    def feed(self, chunk: JsonObject) -> list[Event]:
        if chunk.get("error"):
            raise stream_error(chunk["error"])
        out: list[Event] = []
        if not self._started:
            self._started = True
            model = chunk.get("model") or self._model
            out.append(MessageStart(str(chunk.get("id") or ""), str(model), Usage()))
        usage = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if isinstance(usage, dict):
            self._usage = _usage(usage)
        # coda never asks for n > 1, so the first choice is the only one.
        choice = next((c for c in chunk.get("choices") or [] if c.get("index", 0) == 0), None)
        if choice is None:
            return out
        out.extend(self._delta(choice.get("delta") or {}))
        if choice.get("finish_reason"):
            self._finish_reason = str(choice["finish_reason"])
            out.extend(self._close_all())
        return out

    def finish(self) -> list[Event]:
        """The stream is over ([DONE] or end of body): close up, or say it broke."""
        if self._done:
            return []
        if self._finish_reason is None:
            raise StreamBroken("the stream ended before a finish_reason")
        self._done = True
        out = self._close_all()
        out.append(MessageDelta(self._stop_reason(), self._usage))
        out.append(MessageStop())
        return out

    def _stop_reason(self) -> str:
        reason = self._finish_reason or "stop"
        if reason == "stop" and self._calls:
            return "tool_use"  # Ollama answers tool calls with "stop"
        if reason == "stop" and self._refused:
            return "refusal"
        return _STOP_REASONS.get(reason, reason)

    def _delta(self, delta: Mapping[str, Any]) -> list[Event]:
        out: list[Event] = []
        # DeepSeek and vLLM say reasoning_content, OpenRouter and Ollama say reasoning;
        # some servers send both with the same text, so take one.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str):
            out.extend(self._run("thinking", reasoning))
        content = delta.get("content")
        if isinstance(content, str):
            for kind, text in self._think.feed(content):
                out.extend(self._run(kind, text))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._refused = True
            out.extend(self._run("text", refusal))
        for position, raw in enumerate(delta.get("tool_calls") or []):
            out.extend(self._tool_delta(position, raw))
        return out

    def _run(self, kind: Literal["text", "thinking"], text: str) -> list[Event]:
        if not text:
            return []
        out: list[Event] = []
        if self._open is None or self._open[1] != kind:
            out.extend(self._close_open())
            index = self._new_index()
            out.append(BlockStart(index, TextBlock("") if kind == "text" else ThinkingBlock("")))
            self._open = (index, kind)
        index = self._open[0]
        out.append(TextDelta(index, text) if kind == "text" else ThinkingDelta(index, text))
        return out

    def _tool_delta(self, position: int, raw: Mapping[str, Any]) -> list[Event]:
        wire = raw.get("index")
        wire = wire if isinstance(wire, int) else position
        function = raw.get("function") or {}
        call_id, name = raw.get("id"), function.get("name")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = dumps(arguments).decode("utf-8")  # a server that sent an object
        call = self._tools.get(wire)
        # A new id at a known index is a new call: some servers put every call at index 0.
        if call is None or (call_id and call_id != call.id):
            call = _ToolCall(str(call_id or f"call_{len(self._calls)}"))
            self._tools[wire] = call
            self._calls.append(call)
        if name and not call.name:
            call.name = str(name)
        if arguments:
            call.held += arguments
        if call.name or call.index is not None:
            return self._start_tool(call)
        return []  # no name yet: wait for it rather than start an unnamed block

    def _start_tool(self, call: _ToolCall) -> list[Event]:
        out: list[Event] = []
        if call.closed:
            return out  # fragments after the finish reason have nowhere to go
        if call.index is None:
            out.extend(self._flush_think())
            out.extend(self._close_open())
            call.index = self._new_index()
            out.append(BlockStart(call.index, ToolUseBlock(call.id, call.name, {})))
        if call.held:
            out.append(InputJsonDelta(call.index, call.held))
            call.held = ""
        return out

    def _flush_think(self) -> list[Event]:
        # Text held back by the <think> splitter belongs before whatever comes next.
        out: list[Event] = []
        for kind, text in self._think.flush():
            out.extend(self._run(kind, text))
        return out

    def _close_open(self) -> list[Event]:
        if self._open is None:
            return []
        index, self._open = self._open[0], None
        return [BlockStop(index)]

    def _close_all(self) -> list[Event]:
        out = self._flush_think()
        out.extend(self._close_open())
        for call in self._calls:
            out.extend(self._start_tool(call))  # a call whose name never came still counts
        open_calls = [c for c in self._calls if c.index is not None and not c.closed]
        for call in sorted(open_calls, key=lambda c: c.index or 0):
            call.closed = True
            out.append(BlockStop(call.index or 0))
        return out

    def _new_index(self) -> int:
        index, self._next_index = self._next_index, self._next_index + 1
        return index
