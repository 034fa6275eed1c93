"""MultiEdit: edits in order, all or nothing, named by number when one fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolError, validate_input
from coda.tools.multiedit import MultiEditTool
from coda.tools.read import ReadTool
from tests.tools.conftest import text_of, write

read, multi = ReadTool(), MultiEditTool()


async def test_edits_apply_in_order_each_on_the_last(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.py", b"def f():\r\n    return 1\r\n\r\nf()\r\n")
    await read.run({"file_path": str(path)}, ctx)
    edits = [
        {"old_string": "def f():", "new_string": "def g():"},
        {"old_string": "f()", "new_string": "g()"},  # unique only after edit 1
        {"old_string": "return 1", "new_string": "x = 1\n    return x"},
    ]
    out = await multi.run({"file_path": str(path), "edits": edits}, ctx)
    assert path.read_bytes() == b"def g():\r\n    x = 1\r\n    return x\r\n\r\ng()\r\n"
    assert out.summary == "Updated a.py (+4 −3)"
    assert text_of(out).startswith(f"Updated {path} (+4 −3)\n@@ -1,4 +1,5 @@")
    assert multi.is_mutating({})


async def test_all_or_nothing_and_the_failing_edit_is_named(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "one\ntwo\nthree\n")
    await read.run({"file_path": str(path)}, ctx)
    edits = [
        {"old_string": "one", "new_string": "1"},
        {"old_string": "two", "new_string": "2"},
        {"old_string": "four", "new_string": "4"},
    ]
    with pytest.raises(
        ToolError, match=r"^Edit 3 of 3 failed, so no edit was written: old_string was not found"
    ):
        await multi.run({"file_path": str(path), "edits": edits}, ctx)
    assert path.read_text() == "one\ntwo\nthree\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


async def test_replace_all_and_normalised_matches_are_reported_per_edit(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.md", "x x x\nShe said “yes”.\n")
    await read.run({"file_path": str(path)}, ctx)
    edits = [
        {"old_string": "x", "new_string": "y", "replace_all": True},
        {"old_string": 'She said "yes".', "new_string": "She said no."},
    ]
    text = text_of(await multi.run({"file_path": str(path), "edits": edits}, ctx))
    assert path.read_text() == "y y y\nShe said no.\n"
    assert "replaced 4 occurrences" in text
    assert "edit 2 matched after normalising quotes" in text


async def test_a_first_edit_with_empty_old_string_creates_the_file(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = tmp_path / "new.txt"
    edits = [
        {"old_string": "", "new_string": "hello world\n"},
        {"old_string": "world", "new_string": "there"},
    ]
    out = await multi.run({"file_path": str(path), "edits": edits}, ctx)
    assert path.read_text() == "hello there\n"
    assert text_of(out).startswith(f"Created {path}")


async def test_the_file_must_be_read_first(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "x\n")
    edits = [{"old_string": "x", "new_string": "y"}]
    with pytest.raises(ToolError, match="Read it first"):
        await multi.run({"file_path": str(path), "edits": edits}, ctx)


async def test_malformed_edits_are_refused_by_number(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "x\n")
    await read.run({"file_path": str(path)}, ctx)
    bad = [{"old_string": "x", "new_string": "y"}, {"old_string": "x"}]
    with pytest.raises(ToolError, match="Edit 2 must have string fields"):
        await multi.run({"file_path": str(path), "edits": bad}, ctx)
    with pytest.raises(ToolError, match="edits is empty"):
        await multi.run({"file_path": str(path), "edits": []}, ctx)
    wrong = [{"old_string": "x", "new_string": "y", "replace_all": "yes"}]
    with pytest.raises(ToolError, match="replace_all must be true or false"):
        await multi.run({"file_path": str(path), "edits": wrong}, ctx)
    assert path.read_text() == "x\n"


def test_schema_matches_claude_code() -> None:
    schema = multi.input_schema
    assert set(schema["properties"]) == {"file_path", "edits"}
    item = schema["properties"]["edits"]["items"]
    assert set(item["properties"]) == {"old_string", "new_string", "replace_all"}
    assert item["required"] == ["old_string", "new_string"]
    assert validate_input(schema, {"file_path": "/a", "edits": [{}]}) == []
    assert 200 < len(multi.description) < 1000
