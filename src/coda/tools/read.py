"""Read: a window of a text file, numbered like `cat -n`, streamed so huge files stay cheap."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from coda.messages import ImageBlock, JsonObject, TextBlock
from coda.tools.base import FileStamp, ToolContext, ToolError, ToolOutput, load_description

DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
# About 25k tokens: past this the window stops early and says where to read on.
MAX_OUTPUT_CHARS = 100_000
MAX_IMAGE_BYTES = 5 * 1024 * 1024

# A line of MAX_LINE_CHARS characters is at most 4 bytes each in UTF-8 (an invalid byte
# shows as one character), so a line longer than this is certainly cut.
_LINE_BYTES = 4 * MAX_LINE_CHARS + 4
_CHUNK = 256 * 1024
_SNIFF = 8192
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
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
        f = open(path, "rb")  # noqa: SIM115 - a `with` follows at once; the except needs the split
    except OSError as e:
        raise ToolError(f"Cannot read {path}: {e.strerror}") from None
    with f:
        st = os.fstat(f.fileno())
        stamp = FileStamp(st.st_mtime_ns, st.st_size, hashlib.file_digest(f, "sha256").hexdigest())
        f.seek(0)
        head = f.read(_SNIFF)
        f.seek(0)
        if not head:
            return ToolOutput.text(
                f"The file {path} exists but is empty (0 bytes).", summary="Read empty file"
            ), stamp
        media_type = _image_type(head)
        if media_type is not None:
            return _read_image(f, path, st.st_size, media_type, images), stamp
        if head.startswith(_UTF16_BOMS):
            text = io.TextIOWrapper(f, encoding="utf-16", errors="replace", newline="\n")
            window = _window(_text_lines(text), offset, limit, skip=None)
            text.detach()
        elif b"\0" in head:
            raise ToolError(
                f"{path} is a binary file ({st.st_size:,} bytes); Read only shows text. "
                "Inspect it with a command such as `xxd FILE | head` instead."
            )
        else:
            window = _window(_utf8_lines(f), offset, limit, skip=f)
    return window.render(path), stamp


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


def _utf8_lines(f: BinaryIO) -> Iterator[str]:
    """Lines of a UTF-8 file for display; a very long line is cut without reading it whole."""
    while raw := f.readline(_LINE_BYTES):
        cut = not raw.endswith(b"\n") and len(raw) == _LINE_BYTES
        if cut:
            while (rest := f.readline(_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        # Invalid bytes become U+FFFD for display; the file itself is never rewritten here.
        text = raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace")
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
