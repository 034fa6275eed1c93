"""Write: a whole file at once, atomically; an existing file keeps its encoding and line endings."""

from __future__ import annotations

import asyncio
from pathlib import Path

from coda.messages import JsonObject
from coda.tools.base import FileStamp, ToolContext, ToolError, ToolOutput, load_description
from coda.tools.diff import change_output, changed_span, unified_diff
from coda.tools.read import resolve_path
from coda.tools.textfile import atomic_write, check_fresh, decode, load, new_doc, normalize_newlines


class WriteTool:
    name = "Write"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "file_path": {
                    "type": "string",
                    "description": "Absolute path of the file to write",
                },
                "content": {"type": "string", "description": "The whole new content"},
            },
            "required": ["file_path", "content"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        path = resolve_path(args["file_path"], ctx.cwd)
        await ctx.preserve(path)
        output, stamp = await asyncio.to_thread(
            write_file, path, args["content"], ctx.read_files, ctx.cwd
        )
        ctx.read_files[path] = stamp
        return output


def write_file(
    path: Path, content: str, read_files: dict[Path, FileStamp], cwd: Path
) -> tuple[ToolOutput, FileStamp]:
    """Blocking core of Write: the output and the stamp of the bytes now on disk."""
    existing = load(path)
    if existing is None:
        doc = new_doc(content)
        stamp = atomic_write(path, doc.encode())
        return change_output(path, cwd, unified_diff("", doc.text), created=True), stamp
    old = decode(existing.data)
    if old is None:
        if path not in read_files:
            raise ToolError(
                f"{path} is a binary file that has not been read. To replace it, "
                "delete it first (for example with Bash `rm`), then Write."
            )
        check_fresh(path, existing.stamp, read_files)
        doc = new_doc(content)
        stamp = atomic_write(path, doc.encode())
        return change_output(path, cwd, unified_diff("", doc.text), created=False), stamp
    check_fresh(path, existing.stamp, read_files)
    text = normalize_newlines(content)
    if old.encoding.bom:
        text = text.removeprefix("\ufeff")
    # Only the changed middle is spliced in, so untouched lines keep their exact endings.
    before = old.view
    start, old_end, new_end = changed_span(before, text)
    doc = old.replace([(start, old_end)], [text[start:new_end]])
    data = doc.encode()
    stamp = existing.stamp if data == existing.data else atomic_write(path, data)
    return change_output(path, cwd, unified_diff(before, doc.view), created=False), stamp
