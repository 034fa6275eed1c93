"""LS: a directory as an indented tree, without hidden entries and dependency or cache junk."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description
from coda.tools.read import resolve_path

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

MAX_ENTRIES = 1000
# Hidden entries (.git, .venv, caches) are skipped by name already.
JUNK = frozenset({"node_modules", "__pycache__", "site-packages"})


class LSTool:
    name = "LS"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "path": {
                    "type": "string",
                    "description": "Absolute path of the directory to list",
                },
                "ignore": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": 'Glob patterns to leave out, e.g. ["*.log", "build/"]',
                },
            },
            "required": ["path"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        root = resolve_path(args["path"], ctx.cwd)
        if not root.exists():
            raise ToolError(f"Directory does not exist: {root}")
        if not root.is_dir():
            raise ToolError(f"{root} is a file, not a directory. Use Read to see it.")
        ignore = [p for p in args.get("ignore") or [] if isinstance(p, str) and p.strip()]
        return await asyncio.to_thread(list_tree, root, ignore)


@dataclass(slots=True)
class _Listing:
    root: Path
    ignore: GitIgnoreSpec | None
    limit: int
    lines: list[str] = field(default_factory=list)
    count: int = 0
    cut: bool = False

    def walk(self, directory: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: (e.name.lower(), e.name))
        except OSError as e:
            self.lines.append(f"{'  ' * depth}- (cannot list: {e.strerror})")
            return
        for entry in entries:
            if self.count >= self.limit:
                self.cut = True
                return
            path = Path(entry.path)
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
            if self._skip(path, entry.name, is_dir):
                continue
            self.count += 1
            name = entry.name + ("/" if is_dir else "")
            if is_link:
                name += f" -> {_readlink(path)}"
            self.lines.append(f"{'  ' * depth}- {name}")
            if is_dir:
                self.walk(path, depth + 1)

    def _skip(self, path: Path, name: str, is_dir: bool) -> bool:
        if name.startswith(".") or name in JUNK:
            return True
        if is_dir and (path / "pyvenv.cfg").exists():  # a virtualenv without a leading dot
            return True
        if self.ignore is None:
            return False
        rel = path.relative_to(self.root).as_posix() + ("/" if is_dir else "")
        return self.ignore.match_file(rel)


def list_tree(root: Path, ignore: list[str], limit: int = MAX_ENTRIES) -> ToolOutput:
    spec = None
    if ignore:
        from pathspec import GitIgnoreSpec

        spec = GitIgnoreSpec.from_lines(ignore)
    listing = _Listing(root, spec, limit)
    listing.lines.append(f"- {root}/")
    listing.walk(root, 1)
    if listing.count == 0:
        listing.lines.append("  (no entries)")
    if listing.cut:
        listing.lines.append(
            f"(Listing cut at {limit:,} entries. List a subdirectory, or use Glob to search.)"
        )
    return ToolOutput.text("\n".join(listing.lines), summary=f"Listed {listing.count:,} entries")


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
