"""Typed conversation content: the blocks, messages and usage that every module passes around."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

JsonObject: TypeAlias = dict[str, Any]


@dataclass(slots=True)
class TextBlock:
    text: str
    type: Literal["text"] = "text"


@dataclass(slots=True)
class ThinkingBlock:
    """Visible reasoning. The signature must go back to the API byte for byte."""

    thinking: str
    signature: str = ""
    type: Literal["thinking"] = "thinking"


@dataclass(slots=True)
class RedactedThinkingBlock:
    """Encrypted reasoning the API hides; it is opaque and must be returned unchanged."""

    data: str
    type: Literal["redacted_thinking"] = "redacted_thinking"


@dataclass(slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: JsonObject
    # Set when the model's input was not a JSON object; the loop answers with an error.
    input_error: str | None = None
    type: Literal["tool_use"] = "tool_use"


@dataclass(slots=True)
class ImageBlock:
    media_type: str
    data: str  # base64
    type: Literal["image"] = "image"


@dataclass(slots=True)
class ToolResultBlock:
    tool_use_id: str
    content: list[TextBlock | ImageBlock]
    is_error: bool = False
    type: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        return "\n".join(b.text for b in self.content if isinstance(b, TextBlock))


AssistantBlock: TypeAlias = TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock
UserBlock: TypeAlias = TextBlock | ImageBlock | ToolResultBlock
Block: TypeAlias = AssistantBlock | UserBlock
StopReason: TypeAlias = Literal[
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"
]


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    # Of the output tokens, how many were thinking. OpenAI reports it; Anthropic does not,
    # so coda estimates it from the thinking text (see agent.estimate_thinking_tokens).
    thinking_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.thinking_tokens + other.thinking_tokens,
        )

    @property
    def context_tokens(self) -> int:
        """Everything the request's prompt held, cached or not."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "thinking_tokens": self.thinking_tokens,
        }

    @classmethod
    def from_dict(cls, raw: object) -> Usage:
        if not isinstance(raw, dict):
            return cls()
        values = [raw.get(name, 0) for name in _USAGE_FIELDS]
        return cls(*(v if isinstance(v, int) and v >= 0 else 0 for v in values))


@dataclass(slots=True)
class UserMessage:
    content: list[UserBlock]
    role: Literal["user"] = "user"


@dataclass(slots=True)
class AssistantMessage:
    content: list[AssistantBlock] = field(default_factory=list)
    id: str = ""
    model: str = ""
    stop_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    role: Literal["assistant"] = "assistant"

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_calls(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]


Message: TypeAlias = UserMessage | AssistantMessage
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "thinking_tokens",
)


def user_text(text: str) -> UserMessage:
    return UserMessage([TextBlock(text)])


def block_to_dict(block: Block) -> JsonObject:
    """The Anthropic wire shape of a block, which is also coda's transcript shape."""
    match block:
        case TextBlock(text=text):
            return {"type": "text", "text": text}
        case ThinkingBlock(thinking=thinking, signature=signature):
            return {"type": "thinking", "thinking": thinking, "signature": signature}
        case RedactedThinkingBlock(data=data):
            return {"type": "redacted_thinking", "data": data}
        case ToolUseBlock(id=id_, name=name, input=input_):
            return {"type": "tool_use", "id": id_, "name": name, "input": input_}
        case ImageBlock(media_type=media_type, data=data):
            return {
                "type": "image",
                "source": {"type": "base64", "media_type": media_type, "data": data},
            }
        case ToolResultBlock(tool_use_id=tool_use_id, content=content, is_error=is_error):
            out: JsonObject = {
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": [block_to_dict(b) for b in content],
            }
            if is_error:
                out["is_error"] = True
            return out


def message_to_dict(message: Message) -> JsonObject:
    return {"role": message.role, "content": [block_to_dict(b) for b in message.content]}


class MessageFormatError(ValueError):
    """A stored message that is not in the shape message_to_dict writes."""


def block_from_dict(raw: object) -> Block:
    """The inverse of block_to_dict; raises MessageFormatError on anything else."""
    if not isinstance(raw, dict):
        raise MessageFormatError("a block is not an object")
    try:
        match raw.get("type"):
            case "text":
                return TextBlock(_str(raw["text"]))
            case "thinking":
                return ThinkingBlock(_str(raw["thinking"]), _str(raw.get("signature", "")))
            case "redacted_thinking":
                return RedactedThinkingBlock(_str(raw["data"]))
            case "tool_use":
                input_ = raw["input"]
                if not isinstance(input_, dict):
                    raise MessageFormatError("tool_use input is not an object")
                return ToolUseBlock(_str(raw["id"]), _str(raw["name"]), input_)
            case "image":
                source = raw["source"]
                return ImageBlock(_str(source["media_type"]), _str(source["data"]))
            case "tool_result":
                content = [block_from_dict(b) for b in raw.get("content", [])]
                kept = [b for b in content if isinstance(b, TextBlock | ImageBlock)]
                if len(kept) != len(content):
                    raise MessageFormatError("a tool_result holds a block it cannot")
                return ToolResultBlock(
                    _str(raw["tool_use_id"]), kept, is_error=bool(raw.get("is_error", False))
                )
            case other:
                raise MessageFormatError(f"unknown block type {other!r}")
    except (KeyError, TypeError) as exc:
        raise MessageFormatError(f"a block lacks a field: {exc}") from None


def message_from_dict(raw: object) -> Message:
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        raise MessageFormatError("a message is not an object with a content list")
    blocks = [block_from_dict(b) for b in raw["content"]]
    if raw.get("role") == "user":
        user = [b for b in blocks if isinstance(b, TextBlock | ImageBlock | ToolResultBlock)]
        if len(user) != len(blocks):
            raise MessageFormatError("a user message holds an assistant block")
        return UserMessage(user)
    if raw.get("role") == "assistant":
        reply = [
            b
            for b in blocks
            if isinstance(b, TextBlock | ThinkingBlock | RedactedThinkingBlock | ToolUseBlock)
        ]
        if len(reply) != len(blocks):
            raise MessageFormatError("an assistant message holds a user block")
        return AssistantMessage(reply)
    raise MessageFormatError(f"unknown role {raw.get('role')!r}")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise MessageFormatError("a text field is not a string")
    return value


def compact_input(args: JsonObject, limit: int = 120) -> str:
    """`a: 2, query: "x"`: every argument of a call whose meaning coda does not know (an MCP
    tool's), as the person sees it in the call line and the permission question."""
    parts = [f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in args.items()]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
