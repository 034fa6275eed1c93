"""Glob: files matching a pattern, newest first, listed by `rg --files` so ignore rules hold."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description, plural
from coda.tools.read import resolve_path
from coda.tools.ripgrep import find_rg, glob_matcher, run_rg, walk_files

MAX_RESULTS = 1000
# The whole listing is matched here; ~400,000 paths before rg is stopped.
MAX_LISTING_BYTES = 32_000_000
_GLOB_CHARS = frozenset("*?[{")


class GlobTool:
    name = "Glob"

    def __init__(self, locate_rg: Callable[[], str | None] = find_rg) -> None:
        self._locate_rg = locate_rg
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "pattern": {
                    "type": "string",
                    "description": 'Glob pattern, e.g. "**/*.py" or "src/**/*.{ts,tsx}"',
                },
                "path": {
                    "type": "string",
                    "description": "Directory to search in (default: the working directory)",
                },
            },
            "required": ["pattern"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        root = resolve_path(args.get("path") or ".", ctx.cwd)
        if not root.exists():
            raise ToolError(f"Directory does not exist: {root}")
        if not root.is_dir():
            raise ToolError(f"{root} is a file, not a directory; pass its parent as path.")
        root, pattern = split_fixed_prefix(root, args["pattern"])
        if not root.is_dir():
            return _render([], cut=False)
        # Hidden files are skipped, unless the pattern itself names a hidden path.
        hidden = any(p.startswith(".") and p not in (".", "..") for p in pattern.split("/"))
        found: tuple[list[str], bool] | None = None
        if (rg := self._locate_rg()) is not None:
            with contextlib.suppress(OSError):  # an rg that cannot run here
                found = await _rg_glob(rg, root, pattern, hidden)
        if found is None:
            walked = await asyncio.to_thread(_walk_glob, root, pattern, hidden)
            found = [str(p) for p in await asyncio.to_thread(newest_first, walked)], False
        files, cut = found
        return _render(files, cut)


async def _rg_glob(rg: str, root: Path, pattern: str, hidden: bool) -> tuple[list[str], bool]:
    # Not `--glob PATTERN`: rg lets a matching --glob override .gitignore and hidden-file
    # rules, so "*.log" would list ignored logs and "*" all of .git. A file type does not
    # override them, so the pattern's last component becomes a type that narrows the
    # listing; rg also orders it newest first. The whole pattern is matched here.
    args = ["--files", "--sortr=modified"]
    name = pattern.rstrip("/").rpartition("/")[2]
    if name and "**" not in name and not set(name) & set(":,"):
        # by_name_only() relies on this filter being applied for name-only patterns.
        args += ["--type-add", f"codaglob:{name}", "--type", "codaglob"]
    if hidden:
        args += ["--hidden", "--glob", "!.git"]
    result = await run_rg(rg, args, cwd=root, max_bytes=MAX_LISTING_BYTES)
    if result.returncode == 2 and not result.stdout:
        raise ToolError(f"Glob failed: {result.stderr or 'rg exited with status 2'}")
    return await asyncio.to_thread(
        _match_listing, root, pattern, result.stdout, result.truncated, hidden
    )


def _match_listing(
    root: Path, pattern: str, listing: bytes, cut: bool, hidden: bool
) -> tuple[list[str], bool]:
    # Strings, not Paths: building 100,000 Path objects would double the cost of a Glob.
    lines = listing.decode("utf-8", "surrogateescape").splitlines()
    if cut:
        lines = lines[:-1]  # the last line may be a partial path
    prefix = f"{root}/" if str(root) != "/" else "/"
    # rg's type filter lets hidden files through; only a hidden pattern wants them.
    visible = [line for line in lines if line and (hidden or "/." not in "/" + line)]
    if not by_name_only(pattern):
        matcher = glob_matcher(pattern)
        visible = [line for line in visible if matcher.match_file(line)]
    return [prefix + line for line in visible], cut


def by_name_only(pattern: str) -> bool:
    """True when rg's file-type filter on the last component already decides the match:
    "*.py" and "**/*.py" match a file name at any depth, which is what a type matches."""
    name = pattern.removeprefix("**/")
    return bool(name) and "/" not in name and "**" not in name and not set(name) & set(":,")


def _walk_glob(root: Path, pattern: str, hidden: bool) -> list[Path]:
    matcher = glob_matcher(pattern)
    return [
        path
        for path in walk_files(root, hidden=hidden)
        if matcher.match_file(path.relative_to(root).as_posix())
    ]


def split_fixed_prefix(root: Path, pattern: str) -> tuple[Path, str]:
    """Start the listing below the pattern's literal directories: "src/app/*.py" under root
    lists root/src/app for "/*.py" (anchored, as the original was). Absolute patterns work too.
    """
    if os.path.isabs(pattern):
        root = Path(Path(pattern).anchor)
        pattern = pattern[len(root.anchor) :]
        anchored = True
    else:
        pattern = pattern.removeprefix("./")
        anchored = "/" in pattern.rstrip("/")
    parts = pattern.split("/")
    fixed = 0
    while fixed < len(parts) - 1 and not _GLOB_CHARS.intersection(parts[fixed]):
        fixed += 1
    if fixed:
        root = (root / "/".join(parts[:fixed])).resolve()
    rest = "/".join(parts[fixed:])
    # A bare "*.py" matches at any depth, as in .gitignore; keep that only if it was bare.
    return root, f"/{rest}" if anchored and not rest.startswith("**") else rest


def _render(ordered: list[str], cut: bool) -> ToolOutput:
    """`ordered` is newest first already."""
    if not ordered:
        return ToolOutput.text("No files found", summary="Found 0 files")
    shown = ordered[:MAX_RESULTS]
    text = "\n".join(_display(p) for p in shown)
    if len(ordered) > MAX_RESULTS or cut:
        total = f"{len(ordered):,}{'+' if cut else ''}"
        text += (
            f"\n(Showing the {len(shown):,} most recently modified of {total} files. "
            "Use a narrower pattern or path to see the rest.)"
        )
    return ToolOutput.text(text, summary=f"Found {plural(len(ordered), 'file')}")


def newest_first(paths: Iterable[Path]) -> list[Path]:
    """Most recently modified first; ties (and vanished files) in path order."""

    def key(path: Path) -> tuple[int, str]:
        try:
            return -path.stat().st_mtime_ns, str(path)
        except OSError:
            return 0, str(path)

    return sorted(paths, key=key)


def _display(path: str) -> str:
    # Paths that are not valid UTF-8 were kept as surrogates to stay usable; show them safely.
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
