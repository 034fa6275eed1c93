"""Read: numbering, windows, cut lines, encodings, binary refusal, stamps and huge files."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from coda.messages import ImageBlock
from coda.tools.base import ToolContext, ToolError
from coda.tools.read import ReadTool
from tests.tools.conftest import text_of, write

read = ReadTool()


async def test_numbers_lines_like_cat_n(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "alpha\n\tbeta\n\ngamma\n")
    out = await read.run({"file_path": str(path)}, ctx)
    assert text_of(out) == "     1\talpha\n     2\t\tbeta\n     3\t\n     4\tgamma"
    assert out.summary == "Read 4 lines"


async def test_offset_and_limit_select_a_window(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    out = await read.run({"file_path": str(path), "offset": 4, "limit": 3}, ctx)
    assert text_of(out) == (
        "     4\tline 4\n     5\tline 5\n     6\tline 6\n… 4 more lines; use offset=7 to read on."
    )
    assert out.summary == "Read 3 lines"


async def test_default_limit_is_2000_lines(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "".join(f"{i}\n" for i in range(1, 3201)))
    text = text_of(await read.run({"file_path": str(path)}, ctx))
    lines = text.splitlines()
    assert lines[1999] == "  2000\t2000"
    assert lines[2000] == "… 1,200 more lines; use offset=2001 to read on."


async def test_last_line_without_newline_is_read_and_counted(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "one\ntwo\nthree")
    assert text_of(await read.run({"file_path": str(path), "limit": 1}, ctx)).endswith(
        "… 2 more lines; use offset=2 to read on."
    )
    text = text_of(await read.run({"file_path": str(path), "offset": 3}, ctx))
    assert text == "     3\tthree"


async def test_offset_past_the_end_says_how_long_the_file_is(
    tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "a.txt", "one\ntwo\nthree\n")
    for offset in (4, 50):
        text = text_of(await read.run({"file_path": str(path), "offset": offset}, ctx))
        assert text == f"Offset {offset} is past the end of {path}, which has 3 lines."


async def test_relative_path_resolves_against_cwd(tmp_path: Path, ctx: ToolContext) -> None:
    write(tmp_path, "sub/a.txt", "hello\n")
    assert text_of(await read.run({"file_path": "sub/a.txt"}, ctx)) == "     1\thello"


async def test_long_line_is_cut_with_a_marker(tmp_path: Path, ctx: ToolContext) -> None:
    huge = "x" * 3_000_000  # far past the per-line read size: skipped, not loaded
    path = write(tmp_path, "a.txt", f"short\n{'y' * 2500}\n{huge}\nafter\n")
    lines = text_of(await read.run({"file_path": str(path)}, ctx)).splitlines()
    assert lines[0] == "     1\tshort"
    for number, char in ((2, "y"), (3, "x")):
        assert lines[number - 1] == (f"{number:>6}\t{char * 2000} … [line cut at 2,000 characters]")
    assert lines[3] == "     4\tafter"
    assert len(lines) == 4


async def test_line_of_exactly_2000_characters_is_not_cut(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "é" * 2000 + "\n")
    assert text_of(await read.run({"file_path": str(path)}, ctx)) == "     1\t" + "é" * 2000


async def test_binary_file_is_refused(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)))
    with pytest.raises(ToolError, match="binary file"):
        await read.run({"file_path": str(path)}, ctx)


async def test_utf16_with_bom_is_text(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "héllo\r\nwörld\r\n".encode("utf-16"))
    assert b"\0" in path.read_bytes()
    text = text_of(await read.run({"file_path": str(path)}, ctx))
    assert text == "     1\théllo\n     2\twörld"


async def test_latin1_is_detected_and_shown(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", "café\nnaïve\n".encode("latin-1"))
    text = text_of(await read.run({"file_path": str(path)}, ctx))
    assert text == "     1\tcafé\n     2\tnaïve"


async def test_utf8_bom_and_crlf_are_not_shown(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "a.txt", b"\xef\xbb\xbfone\r\ntwo\r\n")
    assert text_of(await read.run({"file_path": str(path)}, ctx)) == "     1\tone\n     2\ttwo"


async def test_empty_file_says_so(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "empty.txt", "")
    out = await read.run({"file_path": str(path)}, ctx)
    assert "empty" in text_of(out)
    assert ctx.read_files[path].size == 0


async def test_directory_points_to_ls(tmp_path: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"directory.*Use LS"):
        await read.run({"file_path": str(tmp_path)}, ctx)


async def test_missing_file(tmp_path: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await read.run({"file_path": str(tmp_path / "nope.txt")}, ctx)


async def test_read_records_a_stamp_of_the_bytes(tmp_path: Path, ctx: ToolContext) -> None:
    data = b"one\ntwo\n" + "café".encode("latin-1")
    path = write(tmp_path, "a.txt", data)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    link = tmp_path / "link.txt"
    link.symlink_to(path)
    # Only a window is shown, yet the stamp covers the whole file, keyed by the real path.
    await read.run({"file_path": str(link), "limit": 1}, ctx)
    stamp = ctx.read_files[path.resolve()]
    assert list(ctx.read_files) == [path.resolve()]
    assert stamp.sha256 == hashlib.sha256(data).hexdigest()
    assert stamp.size == len(data)
    assert stamp.mtime_ns == 1_700_000_000_123_456_789


async def test_output_stops_before_flooding_the_context(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "wide.txt", ("z" * 1000 + "\n") * 2000)
    text = text_of(await read.run({"file_path": str(path)}, ctx))
    assert 90_000 < len(text) < 110_000
    shown = text.count("\n")
    assert text.endswith(f"… {2000 - shown:,} more lines; use offset={shown + 1} to read on.")


async def test_window_of_a_huge_file_is_streamed(tmp_path: Path, ctx: ToolContext) -> None:
    line = b"%07d " + b"q" * 91 + b"\n"  # 100 bytes a line
    path = tmp_path / "big.log"
    with open(path, "wb") as f:
        for start in range(0, 100_000, 1000):
            f.write(b"".join(line % i for i in range(start, start + 1000)))
    size = path.stat().st_size
    assert size == 10_000_000

    tracemalloc.start()
    began = time.perf_counter()
    try:
        out = await read.run({"file_path": str(path), "offset": 99_990, "limit": 5}, ctx)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - began

    lines = text_of(out).splitlines()
    assert lines[0] == " 99990\t0099989 " + "q" * 91
    assert lines[-1] == "… 6 more lines; use offset=99995 to read on."
    assert peak < size // 10, f"peak {peak:,} bytes for a {size:,}-byte file"
    assert elapsed < 2.0
    assert ctx.read_files[path].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_image_is_returned_as_an_image(tmp_path: Path, ctx: ToolContext) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
    path = write(tmp_path, "pic.png", png)
    out = await read.run({"file_path": str(path)}, ctx)
    image = out.content[0]
    assert isinstance(image, ImageBlock)
    assert image.media_type == "image/png"
    assert base64.b64decode(image.data) == png

    no_images = ToolContext(cwd=tmp_path, supports_images=False)
    with pytest.raises(ToolError, match="cannot take images"):
        await read.run({"file_path": str(path)}, no_images)


async def test_fifo_is_refused_without_blocking(tmp_path: Path, ctx: ToolContext) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ToolError, match="not a regular file"):
        await read.run({"file_path": str(fifo)}, ctx)
