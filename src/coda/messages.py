"""Typed conversation content: the blocks, messages and usage that every module passes around."""

from __future__ import annotations

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

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        }


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
