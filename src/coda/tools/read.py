"""Read: a window of a text file, numbered like `cat -n`, streamed so huge files stay cheap;
notebooks as cells, PDFs as text, images as images."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from coda.messages import ImageBlock, JsonObject, TextBlock
from coda.tools.base import (
    FileStamp,
    ToolContext,
    ToolError,
    ToolOutput,
    load_description,
    plural,
)
from coda.tools.textfile import SAMPLE_BYTES, Encoding, sniff

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
# About 25k tokens: past this the window stops early and says where to read on.
MAX_OUTPUT_CHARS = 100_000
MAX_IMAGE_BYTES = 5 * 1024 * 1024
# Notebooks are parsed whole; a larger one is shown as its JSON text.
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_CELL_OUTPUT_CHARS = 4000
MAX_IMAGES = 8

# A line of MAX_LINE_CHARS characters is at most 4 bytes each in UTF-8 (an invalid byte
# shows as one character), so a line longer than this is certainly cut.
_LINE_BYTES = 4 * MAX_LINE_CHARS + 4
_CHUNK = 256 * 1024
_CUT_MARKER = f" … [line cut at {MAX_LINE_CHARS:,} characters]"


def resolve_path(raw: str, cwd: Path) -> Path:
    """A tool's path argument as an absolute path: `~` expanded, relative to the session cwd."""
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = cwd / path
    return path.resolve()


class ReadTool:
    name = "Read"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "file_path": {
                    "type": "string",
                    "description": "Absolute path of the file to read",
                },
                "offset": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "1-based line number to start at (only for large files)",
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "description": f"Number of lines to read (default {DEFAULT_LIMIT})",
                },
            },
            "required": ["file_path"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        path = resolve_path(args["file_path"], ctx.cwd)
        offset = max(1, args.get("offset") or 1)
        limit = args.get("limit") or DEFAULT_LIMIT
        output, stamp = await asyncio.to_thread(
            read_file, path, offset, limit, images=ctx.supports_images
        )
        ctx.read_files[path] = stamp
        return output


def read_file(
    path: Path, offset: int, limit: int, *, images: bool = True
) -> tuple[ToolOutput, FileStamp]:
    """Blocking core of Read: the output for the model and the stamp of what was read."""
    # Checked before opening: opening a FIFO for reading would block until a writer came.
    try:
        kind = path.stat().st_mode
    except FileNotFoundError:
        raise ToolError(f"File does not exist: {path}") from None
    except OSError as e:
        raise ToolError(f"Cannot read {path}: {e.strerror}") from None
    if stat.S_ISDIR(kind):
        raise ToolError(f"{path} is a directory, not a file. Use LS to list it.")
    if not stat.S_ISREG(kind):
        raise ToolError(f"{path} is not a regular file (a device, pipe or socket).")
    try:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the `with` below
    except OSError as e:
        raise ToolError(f"Cannot read {path}: {e.strerror}") from None
    hashing = _HashingReader(raw)
    with io.BufferedReader(hashing, _CHUNK) as f:
        st = os.fstat(raw.fileno())
        output = _read_open(f, path, st.st_size, offset, limit, images)
        stamp = FileStamp(st.st_mtime_ns, st.st_size, hashing.hexdigest())
    return output, stamp


def _read_open(
    f: BinaryIO, path: Path, size: int, offset: int, limit: int, images: bool
) -> ToolOutput:
    head = f.read(SAMPLE_BYTES)
    f.seek(0)
    if not head:
        return ToolOutput.text(
            f"The file {path} exists but is empty (0 bytes).", summary="Read empty file"
        )
    media_type = _image_type(head)
    if media_type is not None:
        return _read_image(f, path, size, media_type, images)
    if head.startswith(b"%PDF-"):
        return _read_pdf(f, path, offset, limit)
    if path.suffix.lower() == ".ipynb" and size <= MAX_NOTEBOOK_BYTES:
        cells = _notebook_cells(f.read())
        f.seek(0)
        if cells is not None:
            return _render_notebook(cells, offset, limit, images)
    encoding = sniff(head, complete=size <= len(head))
    if encoding is None:
        raise ToolError(
            f"{path} is a binary file ({size:,} bytes); Read only shows text. "
            "Inspect it with a command such as `xxd FILE | head` instead."
        )
    return _text_window(f, encoding, head, offset, limit).render(path)


class _HashingReader(io.RawIOBase):
    """Hashes the file as Read reads it, so a big file is read once, not twice.

    Only a contiguous prefix is hashed as it goes by; whatever the reading skipped or
    stopped short of is hashed at the end.
    """

    def __init__(self, raw: io.FileIO) -> None:
        self._raw = raw
        self._sha = hashlib.sha256()
        self._hashed = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int:
        pos = self._raw.tell()
        count = self._raw.readinto(buffer) or 0
        if pos <= self._hashed < pos + count:
            self._sha.update(memoryview(buffer)[self._hashed - pos : count])
            self._hashed = pos + count
        return count

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()

    def hexdigest(self) -> str:
        self._raw.seek(self._hashed)
        while chunk := self._raw.read(_CHUNK):
            self._sha.update(chunk)
        return self._sha.hexdigest()


@dataclass(slots=True)
class _Window:
    first: int
    lines: list[str]
    # Lines in the file after the window; when the window is empty, all lines in the file.
    more: int

    def render(self, path: Path) -> ToolOutput:
        if not self.lines:
            return ToolOutput.text(
                f"Offset {self.first:,} is past the end of {path}, which has {self.more:,} lines.",
                summary="Read 0 lines",
            )
        numbered = "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(self.lines, self.first))
        if self.more:
            after = self.first + len(self.lines)
            noun = "line" if self.more == 1 else "lines"
            numbered += f"\n… {self.more:,} more {noun}; use offset={after} to read on."
        count = len(self.lines)
        return ToolOutput.text(numbered, summary=f"Read {count:,} line{'s' * (count != 1)}")


def _window(lines: Iterator[str], offset: int, limit: int, *, skip: BinaryIO | None) -> _Window:
    """Take up to `limit` lines from line `offset` on, and count the lines after them.

    With `skip` (the raw file behind `lines`), lines outside the window are counted by
    scanning chunks for newlines rather than decoded one by one.
    """
    skipped = _skip_lines(skip, offset - 1) if skip else _drop(lines, offset - 1)
    if skipped < offset - 1:
        # Past the end: a last line without a newline is counted too.
        return _Window(offset, [], skipped if skip is None else _count_all(skip))
    taken: list[str] = []
    size = 0
    for line in lines:
        if offset == 1 and not taken:
            line = line.removeprefix("\ufeff")
        taken.append(line)
        size += len(line) + 8
        if len(taken) >= limit or size >= MAX_OUTPUT_CHARS:
            break
    if not taken:  # the file ends exactly where the window would start
        return _Window(offset, [], offset - 1)
    more = _count_rest(skip) if skip else sum(1 for _ in lines)
    return _Window(offset, taken, more)


def _text_window(f: BinaryIO, encoding: Encoding, head: bytes, offset: int, limit: int) -> _Window:
    # A file with CRs and no LF in its head uses old Mac line endings.
    cr = b"\n" not in head and b"\r" in head
    if encoding.splits_on_bytes and not cr:
        return _window(_byte_lines(f, encoding.name), offset, limit, skip=f)
    f.seek(len(encoding.bom))
    text = io.TextIOWrapper(
        f, encoding=encoding.name, errors="replace", newline="\r" if cr else "\n"
    )
    try:
        return _window(_text_lines(text), offset, limit, skip=None)
    finally:
        text.detach()


def _byte_lines(f: BinaryIO, codec: str) -> Iterator[str]:
    """Lines of a file whose line breaks are single bytes; a very long line is cut unread."""
    while raw := f.readline(_LINE_BYTES):
        cut = not raw.endswith(b"\n") and len(raw) == _LINE_BYTES
        if cut:
            while (rest := f.readline(_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        # Undecodable bytes show as U+FFFD; an edit still gives the file's bytes back.
        text = raw.rstrip(b"\n").rstrip(b"\r").decode(codec, "replace")
        yield _cut(text, cut)


def _text_lines(f: io.TextIOWrapper) -> Iterator[str]:
    while raw := f.readline(MAX_LINE_CHARS + 1):
        cut = not raw.endswith("\n") and len(raw) > MAX_LINE_CHARS
        if cut:
            while (rest := f.readline(_LINE_BYTES)) and not rest.endswith("\n"):
                pass
        yield _cut(raw.rstrip("\n").rstrip("\r"), cut)


def _cut(text: str, cut: bool) -> str:
    if cut or len(text) > MAX_LINE_CHARS:
        return text[:MAX_LINE_CHARS] + _CUT_MARKER
    return text


def _drop(lines: Iterator[str], n: int) -> int:
    dropped = 0
    while dropped < n and next(lines, None) is not None:
        dropped += 1
    return dropped


def _skip_lines(f: BinaryIO, n: int) -> int:
    """Move past n newlines; returns how many were passed (fewer only at end of file)."""
    passed = 0
    while passed < n:
        start = f.tell()
        chunk = f.read(_CHUNK)
        if not chunk:
            break
        found = chunk.count(b"\n")
        if passed + found < n:
            passed += found
            continue
        index = -1
        for _ in range(n - passed):
            index = chunk.index(b"\n", index + 1)
        f.seek(start + index + 1)
        return n
    return passed


def _count_rest(f: BinaryIO) -> int:
    """Lines from the current position to the end, counting a last line without a newline."""
    count = 0
    last = b"\n"
    while chunk := f.read(_CHUNK):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count + (last != b"\n")


def _count_all(f: BinaryIO) -> int:
    f.seek(0)
    return _count_rest(f)


def _image_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _read_image(f: BinaryIO, path: Path, size: int, media_type: str, images: bool) -> ToolOutput:
    if not images:
        raise ToolError(f"{path} is an image ({media_type}); this model cannot take images.")
    if size > MAX_IMAGE_BYTES:
        raise ToolError(
            f"{path} is an image of {size / 1e6:.1f} MB, over the "
            f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB limit for images."
        )
    data = base64.b64encode(f.read()).decode("ascii")
    return ToolOutput(
        [ImageBlock(media_type, data), TextBlock(f"Image {path} ({size:,} bytes)")],
        summary=f"Read image ({size / 1024:.0f} KB)",
    )


def _read_pdf(f: BinaryIO, path: Path, offset: int, limit: int) -> ToolOutput:
    """A PDF's text layer page by page; offset and limit count pages."""
    try:
        from pypdf import PdfReader
    except ImportError:
        raise ToolError(
            f"{path} is a PDF. Reading PDFs needs the pypdf package, which is not installed "
            "(pip install pypdf)."
        ) from None
    try:
        reader = PdfReader(f)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ToolError(f"{path} is an encrypted PDF; it cannot be read without its password.")
        total = len(reader.pages)
        if offset > total:
            return ToolOutput.text(
                f"Page {offset:,} is past the end of {path}, which has {plural(total, 'page')}.",
                summary="Read 0 pages",
            )
        parts: list[str] = []
        size, found, page = 0, False, offset
        while page <= min(total, offset + limit - 1) and size < MAX_OUTPUT_CHARS:
            text = (reader.pages[page - 1].extract_text() or "").strip()
            found |= bool(text)
            parts.append(f"--- page {page} of {total} ---\n{text[:MAX_OUTPUT_CHARS]}".rstrip())
            size += len(parts[-1])
            page += 1
    except ToolError:
        raise
    except Exception as e:  # a parser of untrusted files fails in many ways; all mean "unreadable"
        raise ToolError(f"{path} could not be read as a PDF: {e}") from None
    shown = page - offset
    if not found:
        return ToolOutput.text(
            f"{path} is a PDF of {plural(total, 'page')} with no text layer on "
            f"{'page' if shown == 1 else 'pages'} {offset}–{page - 1} (scanned images, perhaps). "
            "Its text cannot be read without OCR.",
            summary=f"Read {plural(shown, 'page')} (no text)",
        )
    if page <= total:
        parts.append(f"… {plural(total - page + 1, 'more page')}; use offset={page} to read on.")
    return ToolOutput.text("\n\n".join(parts), summary=f"Read {plural(shown, 'page')}")


def _notebook_cells(data: bytes) -> list[dict[str, Any]] | None:
    try:
        notebook = json.loads(data)
    except ValueError:
        return None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    return [cell for cell in cells if isinstance(cell, dict)]


def _render_notebook(
    cells: list[dict[str, Any]], offset: int, limit: int, images: bool
) -> ToolOutput:
    """A notebook as numbered cells with their outputs; offset and limit count cells."""
    if offset > len(cells):
        return ToolOutput.text(
            f"Cell {offset:,} is past the end of the notebook, which has "
            f"{plural(len(cells), 'cell')}.",
            summary="Read 0 cells",
        )
    content: list[TextBlock | ImageBlock] = []
    text: list[str] = []
    size = pictures = 0
    number = offset
    while number <= min(len(cells), offset + limit - 1) and size < MAX_OUTPUT_CHARS:
        cell = cells[number - 1]
        kind = cell.get("cell_type", "unknown")
        text.append(f"[cell {number}: {kind}]\n{_joined(cell.get('source'))}")
        size += len(text[-1])
        for output in cell.get("outputs") or []:
            if isinstance(output, dict):
                shown, image = _cell_output(output, number, images and pictures < MAX_IMAGES)
                text.append(shown)
                size += len(shown)
                if image is not None:
                    content += (TextBlock("\n".join(text)), image)
                    text, pictures = [], pictures + 1
        number += 1
    if number <= len(cells):
        text.append(
            f"… {plural(len(cells) - number + 1, 'more cell')}; use offset={number} to read on."
        )
    if text:
        content.append(TextBlock("\n".join(text)))
    return ToolOutput(content, summary=f"Read {plural(number - offset, 'cell')}")


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _cell_output(output: dict[str, Any], cell: int, images: bool) -> tuple[str, ImageBlock | None]:
    kind = output.get("output_type")
    if kind == "stream":
        return (
            f"[cell {cell} {output.get('name', 'stdout')}]\n{_capped(_joined(output.get('text')))}",
            None,
        )
    if kind == "error":
        trace = _ANSI.sub("", "\n".join(_joined(line) for line in output.get("traceback") or []))
        head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f"[cell {cell} error]\n{_capped(trace or head)}", None
    data = output.get("data")
    if not isinstance(data, dict):
        data = {}
    for media_type in _IMAGE_TYPES:
        encoded = "".join(_joined(data.get(media_type)).split())
        if not encoded:
            continue
        if images and len(encoded) * 3 // 4 <= MAX_IMAGE_BYTES:
            return f"[cell {cell} output: {media_type}]", ImageBlock(media_type, encoded)
        return f"[cell {cell} output: {media_type}, not shown]", None
    if "text/plain" in data:
        return f"[cell {cell} output]\n{_capped(_joined(data['text/plain']))}", None
    kinds = ", ".join(sorted(data)) or "nothing"
    return f"[cell {cell} output: {kinds}]", None


def _joined(value: object) -> str:
    if isinstance(value, list):
        return "".join(item for item in value if isinstance(item, str))
    return value if isinstance(value, str) else ""


def _capped(text: str) -> str:
    """Long output keeps its head and its tail, where errors and results usually are."""
    text = text.rstrip("\n")
    if len(text) <= MAX_CELL_OUTPUT_CHARS:
        return text
    half = MAX_CELL_OUTPUT_CHARS // 2
    cut = len(text) - 2 * half
    return f"{text[:half]}\n… [{cut:,} characters cut] …\n{text[-half:]}"
