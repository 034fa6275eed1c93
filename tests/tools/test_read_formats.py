"""Read beyond UTF-8: legacy encodings, UTF-16 without BOM, CR files, notebooks, PDFs, big files."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from coda.messages import ImageBlock, TextBlock
from coda.tools.base import ToolContext, ToolError
from coda.tools.read import ReadTool
from tests.tools.conftest import text_of, write

read = ReadTool()


async def shown(path: Path, ctx: ToolContext, **more: Any) -> str:
    return text_of(await read.run({"file_path": str(path), **more}, ctx))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("Grüße aus Köln\nStraße: é\n".encode("latin-1"), "Grüße aus Köln|Straße: é"),
        ("“Quote” – dash € sign\r\nnext\r\n".encode("cp1252"), "“Quote” – dash € sign|next"),
        (
            "日本語のテキストです。\nこんにちは世界\n".encode("shift_jis"),
            "日本語のテキストです。|こんにちは世界",
        ),
        (
            "Привет мир, это тест\nвторая строка\n".encode("cp1251"),
            "Привет мир, это тест|вторая строка",
        ),
        ("text in utf-16\nno bom\n".encode("utf-16-le"), "text in utf-16|no bom"),
        ("big endian\r\ntoo\r\n".encode("utf-16-be"), "big endian|too"),
        ("utf-32 ✓\n".encode("utf-32"), "utf-32 ✓"),
        (b"old\rmac\rlines", "old|mac|lines"),
        ("résumé → ✓\n".encode() + b"bad \xff\xfe bytes\n", "résumé → ✓|bad \ufffd\ufffd bytes"),
    ],
    ids=["latin-1", "cp1252", "shift-jis", "cp1251", "utf-16le", "utf-16be", "utf-32", "cr", "bad"],
)
async def test_text_in_any_encoding_is_shown_decoded(
    data: bytes, expected: str, tmp_path: Path, ctx: ToolContext
) -> None:
    path = write(tmp_path, "file.txt", data)
    lines = expected.split("|")
    assert await shown(path, ctx) == "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, 1))
    assert ctx.read_files[path].sha256 == hashlib.sha256(data).hexdigest()


async def test_windows_work_in_decoded_files_too(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(
        tmp_path, "a.txt", "".join(f"zeile {i} ü\r\n" for i in range(1, 11)).encode("cp1252")
    )
    text = await shown(path, ctx, offset=9, limit=1)
    assert text == "     9\tzeile 9 ü\n… 1 more line; use offset=10 to read on."
    cr = write(tmp_path, "cr.txt", b"".join(b"line %d\r" % i for i in range(1, 6)))
    assert await shown(cr, ctx, offset=4) == "     4\tline 4\n     5\tline 5"


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)


def notebook(cells: list[dict[str, Any]]) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})


def code(source: str, *outputs: dict[str, Any]) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": list(outputs)}


NOTEBOOK = notebook(
    [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "Some words"]},
        code(
            "print('hi')\nx = 41 + 1\nx",
            {"output_type": "stream", "name": "stdout", "text": ["hi\n"]},
            {"output_type": "execute_result", "data": {"text/plain": ["42"]}, "metadata": {}},
            {
                "output_type": "display_data",
                "data": {"image/png": base64.b64encode(PNG).decode() + "\n"},
                "metadata": {},
            },
        ),
        code(
            "1/0",
            {
                "output_type": "error",
                "ename": "ZeroDivisionError",
                "evalue": "division by zero",
                "traceback": ["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"],
            },
        ),
        code(
            "print('y' * 10_000)", {"output_type": "stream", "name": "stdout", "text": "y" * 10_000}
        ),
    ]
)


async def test_notebook_shows_cells_and_outputs(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "analysis.ipynb", NOTEBOOK)
    out = await read.run({"file_path": str(path)}, ctx)
    first, image, rest = out.content
    assert isinstance(first, TextBlock) and isinstance(rest, TextBlock)
    assert first.text == (
        "[cell 1: markdown]\n# Title\nSome words\n"
        "[cell 2: code]\nprint('hi')\nx = 41 + 1\nx\n"
        "[cell 2 stdout]\nhi\n[cell 2 output]\n42\n[cell 2 output: image/png]"
    )
    assert isinstance(image, ImageBlock) and base64.b64decode(image.data) == PNG
    assert rest.text.startswith(
        "[cell 3: code]\n1/0\n[cell 3 error]\nZeroDivisionError: division by zero\n"
        "[cell 4: code]\nprint('y' * 10_000)\n[cell 4 stdout]\n"
    )
    # Long output keeps its head and tail.
    assert "\n… [6,000 characters cut] …\n" in rest.text
    assert len(rest.text) < 5_000
    assert out.summary == "Read 4 cells"
    assert path in ctx.read_files


async def test_notebook_windows_count_cells_and_images_can_be_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, "analysis.ipynb", NOTEBOOK)
    ctx = ToolContext(cwd=tmp_path, supports_images=False)
    text = await shown(path, ctx, offset=2, limit=1)
    assert text.startswith("[cell 2: code]")
    assert "[cell 2 output: image/png, not shown]" in text
    assert text.endswith("… 2 more cells; use offset=3 to read on.")


async def test_a_broken_notebook_is_shown_as_text(tmp_path: Path, ctx: ToolContext) -> None:
    path = write(tmp_path, "broken.ipynb", '{"cells": [\n')
    assert await shown(path, ctx) == '     1\t{"cells": ['


def make_pdf(pages: list[str]) -> bytes:
    """A minimal PDF with one line of Helvetica text per input line, offsets computed."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, page in enumerate(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        stream = "".join(
            f"BT /F1 12 Tf 72 {720 - 16 * n} Td ({line}) Tj ET\n"
            for n, line in enumerate(page.splitlines())
        ).encode()
        objects.append(b"<< /Length %d >>\nstream\n%sendstream" % (len(stream), stream))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def test_pdf_text_page_by_page(tmp_path: Path, ctx: ToolContext) -> None:
    pytest.importorskip("pypdf")
    path = write(tmp_path, "report.pdf", make_pdf(["First page\nsecond line", "Page two", "Three"]))
    out = await read.run({"file_path": str(path)}, ctx)
    text = text_of(out)
    assert text.startswith("--- page 1 of 3 ---\nFirst page\nsecond line\n\n--- page 2 of 3 ---")
    assert "Page two" in text and text.endswith("--- page 3 of 3 ---\nThree")
    assert out.summary == "Read 3 pages"
    window = await shown(path, ctx, offset=2, limit=1)
    assert window == "--- page 2 of 3 ---\nPage two\n\n… 1 more page; use offset=3 to read on."


async def test_pdf_without_text_layer_says_so(tmp_path: Path, ctx: ToolContext) -> None:
    pytest.importorskip("pypdf")
    path = write(tmp_path, "scan.pdf", make_pdf(["", ""]))
    text = await shown(path, ctx)
    assert "PDF of 2 pages with no text layer" in text and "OCR" in text


_NO_PYPDF = """
import asyncio, sys
from pathlib import Path
sys.modules["pypdf"] = None  # as if it were not installed
from coda.tools.base import ToolContext, ToolError
from coda.tools.read import ReadTool
try:
    asyncio.run(ReadTool().run({"file_path": sys.argv[1]}, ToolContext(cwd=Path.cwd())))
except ToolError as e:
    print(e)
"""


def test_pdf_without_the_library_gives_a_clear_message(tmp_path: Path) -> None:
    path = write(tmp_path, "report.pdf", make_pdf(["text"]))
    done = subprocess.run(
        [sys.executable, "-c", _NO_PYPDF, str(path)], capture_output=True, text=True
    )
    assert "needs the pypdf package, which is not installed" in done.stdout, done


async def test_a_broken_pdf_is_reported(tmp_path: Path, ctx: ToolContext) -> None:
    pytest.importorskip("pypdf")
    path = write(tmp_path, "bad.pdf", b"%PDF-1.4\nnot really a pdf\n")
    with pytest.raises(ToolError, match="could not be read as a PDF"):
        await read.run({"file_path": str(path)}, ctx)


async def test_a_window_of_a_1_gb_sparse_file_is_cheap(tmp_path: Path, ctx: ToolContext) -> None:
    path = tmp_path / "sparse.log"
    with open(path, "wb") as f:
        f.write(b"".join(b"head %d\n" % i for i in range(1, 1001)))
        f.seek(512 << 20)
        f.write(b"\nmiddle 1\nmiddle 2\n")
        f.truncate(1 << 30)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        text = await shown(path, ctx, offset=1002, limit=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    print(f"\n1 GB sparse window: {elapsed:.2f} s, traced peak {peak / 2**20:.1f} MiB")
    assert text == "  1002\tmiddle 1\n  1003\tmiddle 2\n… 1 more line; use offset=1004 to read on."
    assert peak < 4 << 20
    assert elapsed < 30
    assert ctx.read_files[path].size == 1 << 30


# ru_maxrss of a child starts from its parent's RSS at fork (Linux keeps it across exec),
# so under pytest it measures pytest; VmHWM is the child's own peak.
_READ_WINDOW = """
import asyncio, resource, sys
from pathlib import Path
from coda.tools.base import ToolContext
from coda.tools.read import ReadTool
ctx = ToolContext(cwd=Path(sys.argv[1]).parent)
args = {"file_path": sys.argv[1], "offset": 1_000_000, "limit": 101}
out = asyncio.run(ReadTool().run(args, ctx))
print(out.content[0].text.splitlines()[0])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
status = Path("/proc/self/status")
print(status.read_text().split("VmHWM:")[1].split()[0] if status.exists() else -1)
"""


@pytest.mark.benchmark
def test_a_window_of_a_2_gb_file_keeps_peak_rss_under_60_mib(tmp_path: Path) -> None:
    # Over 5 s cold: the whole file is read once, to hash it and count its lines.
    path = tmp_path / "two_gb.txt"
    with open(path, "wb") as f:
        for start in range(0, 1_000_200, 10_000):
            f.write(b"".join(b"%07d\n" % i for i in range(start + 1, start + 10_001)))
        f.truncate(2 << 30)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _READ_WINDOW, str(path)], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - started
    first, maxrss, hwm = done.stdout.splitlines()
    peak_kib = int(hwm) if int(hwm) > 0 else int(maxrss)
    print(f"\n2 GB window: {elapsed:.2f} s, peak RSS {peak_kib / 1024:.1f} MiB (VmHWM)")
    assert first == "1000000\t1000000"
    assert peak_kib <= 60 * 1024
