"""MCP results and schemas as coda sees them, built from the SDK's own result types."""

from __future__ import annotations

import base64

from coda.mcp.tools import cap_blocks, clean_schema, convert_result, tool_name
from coda.messages import ImageBlock, TextBlock
from mcp import types


def test_tool_names_are_api_safe_and_unique() -> None:
    assert tool_name("github", "create_issue") == "mcp__github__create_issue"
    assert tool_name("fs", "read.file v2") == "mcp__fs__read_file_v2"
    long_a = tool_name("server", "x" * 80 + "a")
    long_b = tool_name("server", "x" * 80 + "b")
    assert len(long_a) == 64 and len(long_b) == 64 and long_a != long_b


def test_schemas_the_apis_refuse_are_reported() -> None:
    ok, why = clean_schema(
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {}}
    )
    assert ok == {"type": "object", "properties": {}} and why == ""
    assert clean_schema({"properties": {"a": {"type": "string"}}})[0] == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }
    loose, _ = clean_schema({"type": "object", "properties": {"any": True, "none": False}})
    assert loose == {"type": "object", "properties": {"any": {}}}
    for bad, words in (
        ({"type": "string"}, "type 'string'"),
        ({"type": "object", "properties": ["a"]}, "`properties`"),
        ({"type": "object", "oneOf": [{}, {}]}, "oneOf at the top"),
        ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "not valid JSON Schema"),
        ({"type": "object", "required": "a"}, "`required`"),
        ("nope", "str"),
    ):
        schema, why = clean_schema(bad)
        assert schema is None and words in why


def test_every_content_kind_becomes_blocks() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="hello"),
            types.ImageContent(type="image", data=png, mime_type="image/png"),
            types.AudioContent(type="audio", data=png, mime_type="audio/wav"),
            types.ResourceLink(type="resource_link", uri="file:///x.txt", name="x.txt"),
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(
                    uri="mem://note", text="a note", mime_type="text/plain"
                ),
            ),
            types.EmbeddedResource(
                type="resource",
                resource=types.BlobResourceContents(
                    uri="mem://bin", blob=png, mime_type="application/zip"
                ),
            ),
        ],
        structured_content={"answer": 42},
        is_error=False,
    )
    out = convert_result(result, server="s", max_tokens=25_000)
    texts = [b.text for b in out.content if isinstance(b, TextBlock)]
    assert texts[0] == "hello"
    assert [b for b in out.content if isinstance(b, ImageBlock)] == [ImageBlock("image/png", png)]
    assert any("audio (audio/wav" in t for t in texts)
    assert any("Resource link: file:///x.txt" in t for t in texts)
    assert any(t.startswith("Resource mem://note (text/plain):\na note") for t in texts)
    assert any("binary resource mem://bin (application/zip" in t for t in texts)
    assert any('"answer": 42' in t for t in texts)
    assert out.untrusted and not out.is_error


def test_error_results_stay_errors_and_empty_ones_say_so() -> None:
    out = convert_result(types.CallToolResult(content=[], is_error=True), server="s", max_tokens=10)
    assert out.is_error and "no content" in out.content[0].text  # type: ignore[union-attr]


def test_cap_cuts_text_and_images_with_a_note() -> None:
    blocks: list[TextBlock | ImageBlock] = [TextBlock("a" * 4_000), ImageBlock("image/png", "x")]
    kept = cap_blocks(blocks, 500)
    assert isinstance(kept[0], TextBlock) and len(kept[0].text) == 2_000
    assert not any(isinstance(b, ImageBlock) for b in kept)
    assert isinstance(kept[-1], TextBlock) and "2,600 tokens" in kept[-1].text
    assert cap_blocks(blocks, 10_000) == blocks
