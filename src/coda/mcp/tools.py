"""MCP tools as coda tools: names, schemas the model APIs accept, and results as content.

Nothing here imports the SDK: results are read through their attributes, so this module
costs nothing on a run without servers and is easy to test with plain objects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from coda.messages import ImageBlock, JsonObject, TextBlock
from coda.tools.base import ToolContext, ToolOutput

# Tool names the Anthropic and OpenAI APIs both accept.
_NAME_OK = re.compile(r"[A-Za-z0-9_-]")
MAX_NAME = 64
# What an image costs in the output budget: about what a model charges for a small one.
IMAGE_TOKENS = 1_600
# Schema keys that describe the document rather than the input; some APIs refuse them.
_DROPPED_KEYS = ("$schema", "$id")

Caller = Callable[[str, JsonObject], Awaitable[ToolOutput]]


def tool_name(server: str, tool: str) -> str:
    """`mcp__<server>__<tool>`, with characters the APIs refuse replaced, and a long name
    shortened with a hash so two tools never collide."""
    clean = "".join(ch if _NAME_OK.fullmatch(ch) else "_" for ch in tool)
    name = f"mcp__{server}__{clean}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(tool.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def clean_schema(schema: object) -> tuple[JsonObject | None, str]:
    """The server's input schema in a form the model APIs take, or None and why not.

    The root must be an object schema that is valid JSON Schema, without a top-level
    anyOf/oneOf/allOf (which the APIs refuse); otherwise the provider would refuse the
    whole request, so such a tool is left out and reported."""
    if not isinstance(schema, dict):
        return None, f"its input schema is {type(schema).__name__}, not a JSON object"
    kind = schema.get("type", "object")
    if kind != "object":
        return None, f"its input schema has type {kind!r}; tools take an object"
    combinators = [k for k in ("anyOf", "oneOf", "allOf") if k in schema]
    if combinators:
        return None, f"its input schema has {combinators[0]} at the top, which model APIs refuse"
    props = schema.get("properties", {})
    if not isinstance(props, dict):
        return None, "its input schema's `properties` is not an object of schemas"
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return None, "its input schema's `required` is not a list of names"
    problem = _schema_problem(schema)
    if problem:
        return None, f"its input schema is not valid JSON Schema ({problem})"
    cleaned = {k: v for k, v in schema.items() if k not in _DROPPED_KEYS}
    cleaned["type"] = "object"
    # `true` allows anything and `false` nothing: as plain schemas, every API takes them.
    cleaned["properties"] = {
        name: ({} if value is True else value)
        for name, value in props.items()
        if value is not False
    }
    return cleaned, ""


def _schema_problem(schema: JsonObject) -> str:
    # The SDK's own dependency (no type stubs); loaded only once servers are connecting.
    import jsonschema  # type: ignore[import-untyped]

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{exc.message}" + (f" at {where}" if where else "")
    return ""


@dataclass(slots=True)
class McpTool:
    """One server tool, offered to the model under its `mcp__server__tool` name."""

    name: str
    description: str
    input_schema: JsonObject
    server: str
    remote_name: str
    call: Caller
    read_only_hint: bool = False

    def is_mutating(self, args: JsonObject) -> bool:
        # Hints come from the server and are not trusted: every MCP call asks by default
        # and runs on its own, as a mutating call does.
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        return await self.call(self.remote_name, args)


def describe(server: str, description: str | None, title: str | None) -> str:
    text = (description or title or "").strip()
    return (
        f"{text}\n\n(from the MCP server {server!r})"
        if text
        else f"A tool of the MCP server {server!r}."
    )


def convert_result(result: Any, *, server: str, max_tokens: int) -> ToolOutput:
    """A CallToolResult as tool_result content: text, images, resources, structured content.

    Everything a server sends is untrusted: the output is marked so for the injection guard.
    """
    blocks: list[TextBlock | ImageBlock] = []
    for item in getattr(result, "content", None) or []:
        blocks.extend(content_blocks(item))
    structured = getattr(result, "structured_content", None)
    if structured is not None and not any(_same_json(b, structured) for b in blocks):
        text = json.dumps(structured, ensure_ascii=False, indent=2)
        blocks.append(TextBlock(f"Structured content:\n{text}"))
    if not blocks:
        blocks.append(TextBlock("(the tool returned no content)"))
    output = ToolOutput(
        cap_blocks(blocks, max_tokens),
        is_error=bool(getattr(result, "is_error", False)),
        summary=_summary(blocks, server),
    )
    output.untrusted = True
    return output


def _same_json(block: TextBlock | ImageBlock, value: object) -> bool:
    """Whether a text block already carries the structured content (servers usually send
    both): the model needs it once."""
    if not isinstance(block, TextBlock):
        return False
    # FastMCP-style servers wrap a plain return value as {"result": value}.
    if isinstance(value, dict) and list(value) == ["result"] and value["result"] == block.text:
        return True
    if not block.text.lstrip().startswith(("{", "[")):
        return False
    try:
        return bool(json.loads(block.text) == value)
    except ValueError:
        return False


def content_blocks(item: Any) -> list[TextBlock | ImageBlock]:
    """One MCP content item (also a prompt message's content) as coda blocks."""
    kind = getattr(item, "type", "")
    if kind == "text":
        return [TextBlock(str(item.text))]
    if kind == "image":
        return [ImageBlock(item.mime_type, item.data)]
    if kind == "audio":
        size = len(item.data) * 3 // 4
        note = f"[audio ({item.mime_type}, {size:,} bytes) not shown: models get no audio]"
        return [TextBlock(note)]
    if kind == "resource_link":
        parts = [f"Resource link: {item.uri}"]
        if getattr(item, "name", None):
            parts.append(f"name: {item.name}")
        if getattr(item, "mime_type", None):
            parts.append(f"type: {item.mime_type}")
        if getattr(item, "description", None):
            parts.append(f"description: {item.description}")
        return [TextBlock(" | ".join(parts))]
    if kind == "resource":
        return resource_blocks(item.resource)
    return [TextBlock(f"[content of type {kind!r} not shown: coda does not know it]")]


def resource_blocks(resource: Any) -> list[TextBlock | ImageBlock]:
    """Text or blob resource contents (an embedded resource, or one read for @server:uri)."""
    uri = getattr(resource, "uri", "")
    mime = getattr(resource, "mime_type", None) or ""
    text = getattr(resource, "text", None)
    if text is not None:
        return [TextBlock(f"Resource {uri}" + (f" ({mime})" if mime else "") + f":\n{text}")]
    blob = getattr(resource, "blob", "") or ""
    if mime.startswith("image/") and mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return [TextBlock(f"Resource {uri} ({mime}):"), ImageBlock(mime, blob)]
    size = len(blob) * 3 // 4
    return [
        TextBlock(f"[binary resource {uri} ({mime or 'unknown type'}, {size:,} bytes) not shown]")
    ]


def estimate_tokens(blocks: list[TextBlock | ImageBlock]) -> int:
    return sum(len(b.text) // 4 if isinstance(b, TextBlock) else IMAGE_TOKENS for b in blocks)


def cap_blocks(
    blocks: list[TextBlock | ImageBlock], max_tokens: int
) -> list[TextBlock | ImageBlock]:
    """Cut the output at about `max_tokens` (4 characters a token), saying so at the end."""
    total = estimate_tokens(blocks)
    if total <= max_tokens:
        return blocks
    kept: list[TextBlock | ImageBlock] = []
    budget = max_tokens
    for block in blocks:
        cost = len(block.text) // 4 if isinstance(block, TextBlock) else IMAGE_TOKENS
        if cost <= budget:
            kept.append(block)
            budget -= cost
        elif isinstance(block, TextBlock) and budget > 0:
            kept.append(TextBlock(block.text[: budget * 4]))
            budget = 0
        else:
            break
    kept.append(
        TextBlock(
            f"[output cut: the tool returned about {total:,} tokens, over the "
            f"{max_tokens:,}-token limit for MCP results (MAX_MCP_OUTPUT_TOKENS). "
            "What is above is the start. Ask the tool for less: a narrower query, a page, "
            "or a filter.]"
        )
    )
    return kept


def _summary(blocks: list[TextBlock | ImageBlock], server: str) -> str:
    """The result's first line, as the person sees it under the call."""
    lines = [ln for b in blocks if isinstance(b, TextBlock) for ln in b.text.splitlines()]
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if len(first) > 100:
        first = first[:99] + "…"
    images = sum(1 for b in blocks if isinstance(b, ImageBlock))
    extra = [f"{len(lines)} lines"] if len(lines) > 1 else []
    extra += [f"{images} image" + ("s" if images > 1 else "")] if images else []
    return (first or f"{server} answered") + (f" ({', '.join(extra)})" if extra else "")
