"""Write: read-first and unchanged-since rules, kept formats, atomic replacement, diffs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolError
from coda.tools.edit import EditTool
from coda.tools.read import ReadTool
from coda.tools.write import WriteTool
from tests.tools.conftest import text_of, write
from tests.tools.test_textfile import run_in_unwritable_dir

read, write_tool, edit = ReadTool(), WriteTool(), EditTool()


async def read_then_write(path: Path, ctx: ToolContext, content: str) -> str:
    await read.run({"file_path": str(path)}, ctx)
    return text_of(await write_tool.run({"file_path": str(path), "content": content}, ctx))


async def test_new_file_is_utf8_with_folders_made(tmp_path: Path, ctx: ToolContext) -> None:
    path = tmp_path / "pkg" / "sub" / "mod.py"
    out = await write_tool.run({"file_path": str(path), "content": "x = 'é'\ny = 2\n"}, ctx)
    assert path.read_bytes() == "x = 'é'\ny = 2\n".encode()
    assert text_of(out) == f"Created {path} (2 lines)"
    assert out.summary == "Created pkg/sub/mod.py (2 lines)"
    assert out.display == "@@ -0,0 +1,2 @@\n+x = 'é'\n+y = 2"
    assert write_tool.is_mutating({})


async def test_write_over_crlf_keeps_crlf(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "win.bat", b"@echo off\r\necho one\r\n")
    await read_then_write(path, ctx, "@echo off\necho two\necho three\n")
    assert path.read_bytes() == b"@echo off\r\necho two\r\necho three\r\n"


@pytest.mark.parametrize(
    ("before", "content", "after"),
    [
        (b"\xef\xbb\xbfa\n", "b\n", b"\xef\xbb\xbfb\n"),
        (b"\xef\xbb\xbfa\n", "\ufeffb\n", b"\xef\xbb\xbfb\n"),
        ("é\n".encode("latin-1"), "ü\nß\n", "ü\nß\n".encode("latin-1")),
        (b"\xff\xfea\x00\n\x00", "b\n", b"\xff\xfeb\x00\n\x00"),
        (b"a\rb\r", "a\nc\n", b"a\rc\r"),
        (b"one\r\ntwo\nthree\r\n", "one\ntwo\n3\n", b"one\r\ntwo\n3\r\n"),
    ],
)
async def test_write_keeps_encoding_bom_and_endings(
    before: bytes, content: str, after: bytes, tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "f.txt", before)
    await read_then_write(path, ctx, content)
    assert path.read_bytes() == after


async def test_write_keeps_undecodable_bytes_the_model_saw_as_replacement_characters(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "f.txt", "é → ✓\n".encode() + b"bad \xff here\nend\n")
    await read_then_write(path, ctx, "é → ✓\nbad \ufffd here\nnew end\n")
    assert path.read_bytes() == "é → ✓\n".encode() + b"bad \xff here\nnew end\n"


async def test_write_needs_a_read_first(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "keep me\n")
    with pytest.raises(ToolError, match=r"has not been read.*Read it first"):
        await write_tool.run({"file_path": str(path), "content": "gone\n"}, ctx)
    assert path.read_text() == "keep me\n"


async def test_write_refuses_after_a_change_but_not_after_a_touch(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "v1\n")
    await read.run({"file_path": str(path)}, ctx)
    os.utime(path, ns=(10**18, 10**18))
    await write_tool.run({"file_path": str(path), "content": "v2\n"}, ctx)
    assert path.read_text() == "v2\n"
    path.write_text("v3 by someone else\n")
    with pytest.raises(ToolError, match="changed on disk"):
        await write_tool.run({"file_path": str(path), "content": "v4\n"}, ctx)
    assert path.read_text() == "v3 by someone else\n"


async def test_update_reports_a_diff_and_lets_edit_follow(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.py", "a = 1\nb = 2\nc = 3\n")
    await read.run({"file_path": str(path)}, ctx)
    out = await write_tool.run(
        {"file_path": str(path), "content": "a = 1\nb = 20\nc = 3\nd = 4\n"}, ctx
    )
    assert text_of(out) == (
        f"Updated {path} (+2 −1)\n@@ -1,3 +1,4 @@\n a = 1\n-b = 2\n+b = 20\n c = 3\n+d = 4"
    )
    assert out.summary == "Updated a.py (+2 −1)"
    assert out.display == text_of(out).split("\n", 1)[1]
    await edit.run({"file_path": str(path), "old_string": "d = 4", "new_string": "d = 5"}, ctx)
    assert path.read_text() == "a = 1\nb = 20\nc = 3\nd = 5\n"


async def test_identical_content_leaves_the_file_alone(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "same\n", mtime=1_000_000)
    text = await read_then_write(path, ctx, "same\n")
    assert "(no change to the content)" in text
    assert path.stat().st_mtime == 1_000_000


async def test_write_keeps_the_mode(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "tool", "#!/bin/sh\n")
    path.chmod(0o751)
    await read_then_write(path, ctx, "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["tool"]


async def test_write_through_a_symlink_keeps_the_link(tmp_path: Path, ctx: ToolContext) -> None:
    target = write(tmp_path, "real.txt", "old\n")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    await read_then_write(link, ctx, "new\n")
    assert link.is_symlink() and os.readlink(link) == "real.txt"
    assert target.read_text() == "new\n"


async def test_unencodable_text_is_refused_and_nothing_written(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "café\n".encode("latin-1"))
    with pytest.raises(ToolError, match="cannot hold '✓'"):
        await read_then_write(path, ctx, "café ✓\n")
    assert path.read_bytes() == "café\n".encode("latin-1")


async def test_a_directory_is_not_a_file(tmp_path: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="is a directory"):
        await write_tool.run({"file_path": str(tmp_path), "content": "x"}, ctx)


_WRITE_IN_UNWRITABLE_DIR = """
import asyncio, concurrent.futures.thread, os, sys
from pathlib import Path
from coda.tools.base import ToolContext, ToolError
from coda.tools.read import ReadTool
from coda.tools.write import WriteTool
if os.geteuid() == 0:  # root writes anywhere; become nobody, the imports already done
    os.setgid(65534)
    os.setuid(65534)
path = Path(sys.argv[1])
ctx = ToolContext(cwd=path.parent)
async def main():
    await ReadTool().run({"file_path": str(path)}, ctx)
    try:
        await WriteTool().run({"file_path": str(path), "content": "new\\n"}, ctx)
    except ToolError as e:
        print(e)
asyncio.run(main())
"""


def test_write_in_an_unwritable_folder_says_why_and_changes_nothing() -> None:
    out, path, folder = run_in_unwritable_dir(_WRITE_IN_UNWRITABLE_DIR)
    try:
        assert out.startswith(f"Could not write {path}: cannot create a temporary file"), out
        assert "The file was left unchanged." in out
        assert path.read_bytes() == b"old\n"
        assert [p.name for p in folder.iterdir()] == ["file.txt"]
    finally:
        path.unlink()
        folder.rmdir()
        folder.parent.rmdir()
