"""Edit: replace an exact, unique piece of a file, keeping its encoding and line endings."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from coda.messages import JsonObject
from coda.tools import fuzzy
from coda.tools.base import FileStamp, ToolContext, ToolError, ToolOutput, load_description, plural
from coda.tools.diff import change_output, unified_diff
from coda.tools.read import resolve_path
from coda.tools.textfile import (
    TextDoc,
    atomic_write,
    check_fresh,
    decode,
    load,
    new_doc,
    normalize_newlines,
)

_MAX_LISTED = 10
_LINE_PREFIX = re.compile(r"^ *\d+\t")


@dataclass(frozen=True, slots=True)
class EditSpec:
    old_string: str
    new_string: str
    replace_all: bool = False


@dataclass(frozen=True, slots=True)
class Applied:
    doc: TextDoc
    count: int
    note: str = ""  # how a near match was made to fit, if it was


class EditTool:
    name = "Edit"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "file_path": {
                    "type": "string",
                    "description": "Absolute path of the file to change",
                },
                "old_string": {"type": "string", "description": "The exact text to replace"},
                "new_string": {
                    "type": "string",
                    "description": "The text to replace it with (must differ from old_string)",
                },
                "replace_all": {
                    "type": "boolean",
                    "default": False,
                    "description": "Replace every occurrence of old_string (default false)",
                },
            },
            "required": ["file_path", "old_string", "new_string"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        spec = EditSpec(args["old_string"], args["new_string"], bool(args.get("replace_all")))
        return await run_edits(args["file_path"], [spec], ctx)


async def run_edits(file_path: str, edits: list[EditSpec], ctx: ToolContext) -> ToolOutput:
    path = resolve_path(file_path, ctx.cwd)
    await ctx.preserve(path)
    output, stamp = await asyncio.to_thread(change_file, path, edits, ctx.read_files, ctx.cwd)
    ctx.read_files[path] = stamp
    return output


def change_file(
    path: Path, edits: list[EditSpec], read_files: dict[Path, FileStamp], cwd: Path
) -> tuple[ToolOutput, FileStamp]:
    """Blocking core of Edit and MultiEdit: every edit applies, or nothing is written."""
    existing = load(path)
    if existing is None:
        if edits[0].old_string:
            raise ToolError(
                f"File does not exist: {path}. To create it, use Write, "
                "or an edit with an empty old_string."
            )
        if not edits[0].new_string:
            raise ToolError("old_string and new_string are both empty; there is nothing to write.")
        # A new file takes the line endings its text uses.
        doc, before, done = new_doc(edits[0].new_string), "", 1
    else:
        found = decode(existing.data)
        if found is None:
            raise ToolError(f"{path} is a binary file; Edit changes only text files.")
        check_fresh(path, existing.stamp, read_files)
        doc, before, done = found, found.view, 0
    count, notes = done, []
    for number, spec in enumerate(edits[done:], done + 1):
        try:
            applied = apply_edit(doc, spec, path)
        except ToolError as e:
            if len(edits) == 1:
                raise
            raise ToolError(
                f"Edit {number} of {len(edits)} failed, so no edit was written: {e}"
            ) from None
        doc, count = applied.doc, count + applied.count
        if applied.note:
            notes.append(applied.note if len(edits) == 1 else f"edit {number} {applied.note}")
    stamp = atomic_write(path, doc.encode())
    if count > len(edits):
        notes.insert(0, f"replaced {plural(count, 'occurrence')}")
    diff = unified_diff(before, doc.view)
    return change_output(path, cwd, diff, created=existing is None, detail="; ".join(notes)), stamp


def apply_edit(doc: TextDoc, spec: EditSpec, path: Path) -> Applied:
    """One edit on a decoded file; the model's text is matched against what Read showed."""
    old, new = normalize_newlines(spec.old_string), normalize_newlines(spec.new_string)
    if old == new:
        raise ToolError("old_string and new_string are the same; there is nothing to change.")
    if not old:
        if doc.text:
            raise ToolError(
                "old_string is empty, but the file is not. Give the text to replace, "
                "or use Write to replace the whole file."
            )
        return Applied(doc.replace([(0, 0)], [new]), 1)
    view = doc.view
    spans = _exact(view, old, spec.replace_all, path)
    if spans:
        return Applied(doc.replace(spans, [new] * len(spans)), len(spans))
    return _near(doc, view, old, new, path)


def _exact(view: str, old: str, replace_all: bool, path: Path) -> list[tuple[int, int]]:
    first = view.find(old)
    if first < 0:
        return []
    if replace_all:
        spans, pos = [], first
        while pos >= 0:
            spans.append((pos, pos + len(old)))
            pos = view.find(old, pos + len(old))
        return spans
    starts = [first]
    while len(starts) < _MAX_LISTED and (pos := view.find(old, starts[-1] + 1)) >= 0:
        starts.append(pos)
    if len(starts) == 1:
        return [(first, first + len(old))]
    count = max(view.count(old), len(starts))
    raise ToolError(
        f"old_string matches {count:,} places in {path} ({_lines_at(view, starts, count)}). "
        "Include more of the surrounding lines to make it unique, or set replace_all to "
        "true to change every one."
    )


def _near(doc: TextDoc, view: str, old: str, new: str, path: Path) -> Applied:
    spans = fuzzy.find_normalized(view, old)
    if len(spans) == 1:
        adapted = fuzzy.adapt(view, spans[0], old, new)
        if adapted is not None:
            return Applied(doc.replace(spans, [adapted.new_string]), 1, adapted.note)
        region = fuzzy.region_at(view, *spans[0])
        raise ToolError(
            f"old_string was not found in {path} as written. These lines match it except for "
            "indentation that differs unevenly (tabs against spaces, or other nesting); copy "
            "them exactly:\n" + fuzzy.describe_regions([region])
        )
    if spans:
        starts = [start for start, _ in spans]
        raise ToolError(
            f"old_string was not found in {path} as written, and {len(spans):,}"
            f"{'+' * (len(spans) > fuzzy.MAX_MATCHES)} places match it when whitespace and "
            f"quotes are ignored ({_lines_at(view, starts, len(spans))}). Copy the exact text "
            "from the file, with enough context to be unique."
        )
    message = f"old_string was not found in {path}."
    old_lines = old.strip("\n").split("\n")
    if all(_LINE_PREFIX.match(line) for line in old_lines):
        message += (
            " It seems to include Read's line-number prefixes (number and tab): leave them out."
        )
    regions = fuzzy.closest_regions(view, old)
    if regions:
        message += " The closest regions in the file:\n" + fuzzy.describe_regions(regions)
    else:
        message += " Nothing in the file resembles it."
    raise ToolError(message + "\nRead the file again if it may have changed, then copy it exactly.")


def _lines_at(text: str, starts: list[int], count: int) -> str:
    numbers, line, pos = [], 1, 0
    for start in starts[:_MAX_LISTED]:
        line += text.count("\n", pos, start)
        pos = start
        numbers.append(str(line))
    listed = ", ".join(dict.fromkeys(numbers))
    more = ", …" if count > len(starts[:_MAX_LISTED]) else ""
    return f"line{'s' * (len(numbers) > 1)} {listed}{more}"
