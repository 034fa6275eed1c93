"""Grep: regex search over files with ripgrep, output capped so a broad search cannot flood."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description, plural
from coda.tools.glob import newest_first
from coda.tools.read import resolve_path
from coda.tools.ripgrep import find_rg, glob_matcher, run_rg, walk_files

Mode = Literal["content", "files_with_matches", "count"]

MAX_OUTPUT_CHARS = 30_000
MAX_COLUMNS = 500


@dataclass(frozen=True, slots=True)
class GrepQuery:
    """The model's arguments, normalised; shared by the rg path and the Python fallback."""

    pattern: str
    root: Path
    mode: Mode
    ignore_case: bool = False
    line_numbers: bool = True
    after: int = 0
    before: int = 0
    multiline: bool = False
    glob: str | None = None
    type: str | None = None

    @classmethod
    def from_args(cls, args: JsonObject, root: Path) -> GrepQuery:
        context = int(args.get("-C", 0))
        return cls(
            pattern=args["pattern"],
            root=root,
            mode=args.get("output_mode", "files_with_matches"),
            ignore_case=args.get("-i", False),
            line_numbers=args.get("-n", True),
            after=int(args.get("-A", context)),
            before=int(args.get("-B", context)),
            multiline=args.get("multiline", False),
            glob=args.get("glob") or None,
            type=args.get("type") or None,
        )


@dataclass(frozen=True, slots=True)
class GrepResult:
    lines: list[str]
    # The search was stopped early, so `lines` may not be everything.
    stopped: bool = False


class GrepTool:
    name = "Grep"

    def __init__(self, locate_rg: Callable[[], str | None] = find_rg) -> None:
        self._locate_rg = locate_rg
        self.description = load_description(self.name)
        context = {"type": "integer", "minimum": 0}
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "pattern": {"type": "string", "description": "Regular expression (rg syntax)"},
                "path": {
                    "type": "string",
                    "description": "File or directory to search (default: working directory)",
                },
                "glob": {"type": "string", "description": 'Filter files, e.g. "*.{ts,tsx}"'},
                "type": {"type": "string", "description": 'rg file type, e.g. "py", "rust"'},
                "output_mode": {
                    "type": "string",
                    "enum": ["content", "files_with_matches", "count"],
                    "description": "Default files_with_matches",
                },
                "-i": {"type": "boolean", "description": "Case-insensitive"},
                "-n": {"type": "boolean", "description": "Line numbers (content; default true)"},
                "-A": {**context, "description": "Lines after each match (content)"},
                "-B": {**context, "description": "Lines before each match (content)"},
                "-C": {**context, "description": "Lines around each match (content)"},
                "multiline": {
                    "type": "boolean",
                    "description": "Let patterns span lines; . matches newlines",
                },
                "head_limit": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Only the first N lines or entries",
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
            raise ToolError(f"Path does not exist: {root}")
        query = GrepQuery.from_args(args, root)
        result: GrepResult | None = None
        if (rg := self._locate_rg()) is not None:
            with contextlib.suppress(OSError):  # an rg that cannot run here
                result = await _rg_search(rg, query)
        if result is None:
            result = await asyncio.to_thread(python_search, query)
        if query.mode == "files_with_matches":
            files = await asyncio.to_thread(newest_first, [Path(line) for line in result.lines])
            result = GrepResult([str(f) for f in files], result.stopped)
        elif query.mode == "count":
            lines = sorted(result.lines, key=lambda line: line.rpartition(":")[0])
            result = GrepResult(lines, result.stopped)
        return render(result, query.mode, args.get("head_limit") or 0)


def rg_arguments(query: GrepQuery) -> list[str]:
    args = ["--color=never", "--no-heading", f"--max-columns={MAX_COLUMNS}"]
    args.append("--max-columns-preview")
    if query.mode == "files_with_matches":
        args.append("--files-with-matches")  # ordered by mtime afterwards
    elif query.mode == "count":
        args += ["--count", "--with-filename"]  # ordered by path afterwards
    else:
        # rg searches in parallel and prints each file's lines together, in whatever order
        # files finish; --null marks where the path ends so the files can be put in path
        # order afterwards (same output every run) without rg's slower --sort=path.
        args.append("--null")
        args.append("--line-number" if query.line_numbers else "--no-line-number")
        if query.after:
            args += ["--after-context", str(query.after)]
        if query.before:
            args += ["--before-context", str(query.before)]
    if query.ignore_case:
        args.append("--ignore-case")
    if query.multiline:
        args += ["--multiline", "--multiline-dotall"]
    if query.type:
        args += ["--type", query.type]
    if query.glob:
        # A matching --glob overrides ignore rules in rg: keep at least .git out of reach.
        args += ["--glob", query.glob, "--glob", "!.git"]
    # -e keeps a pattern that starts with "-" from being read as a flag.
    return [*args, "--regexp", query.pattern, "--", str(query.root)]


async def _rg_search(rg: str, query: GrepQuery) -> GrepResult:
    cwd = query.root if query.root.is_dir() else query.root.parent
    result = await run_rg(rg, rg_arguments(query), cwd=cwd)
    if result.returncode == 2 and not result.stdout:
        raise ToolError(result.stderr or "rg failed with status 2")
    lines = result.stdout.decode("utf-8", "replace").splitlines()
    if result.truncated:
        lines = lines[:-1]  # possibly a partial line
    if query.mode == "content":
        lines = in_path_order(lines, context=bool(query.after or query.before))
    return GrepResult(lines, result.truncated)


def in_path_order(lines: list[str], *, context: bool) -> list[str]:
    """Put rg --null content output in path order, each file's lines kept together.

    A line is "path\0rest"; "rest" starts with "N:" for a match and "N-" for context
    when line numbers are on. The NUL becomes the separator rg would have printed.
    A line without a NUL is a "--" between context groups; those between files are
    dropped and put back between the reordered files.
    """
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        path, nul, rest = line.partition("\0")
        if not nul:
            if current is not None:
                current.append(line)
            continue
        digits = len(rest) - len(rest.lstrip("0123456789"))
        sep = rest[digits] if digits and rest[digits : digits + 1] in (":", "-") else ":"
        current = groups.setdefault(path, [])
        current.append(f"{path}{sep}{rest}")
    if not groups:
        return lines  # one file searched: rg prints no paths, and order is already fixed
    ordered: list[str] = []
    for path in sorted(groups):
        group = groups[path]
        while group and group[-1] == "--":
            group.pop()
        if context and ordered:
            ordered.append("--")
        ordered.extend(group)
    return ordered


def render(result: GrepResult, mode: Mode, head_limit: int) -> ToolOutput:
    lines = result.lines
    if not lines:
        return ToolOutput.text("No matches found", summary="No matches")
    summary = _summary(lines, mode, result.stopped)
    notes: list[str] = []
    if head_limit and len(lines) > head_limit:
        total = f"{len(lines):,}{'+' if result.stopped else ''}"
        notes.append(f"(Showing the first {head_limit:,} of {total} {_noun(mode)}.)")
        lines = lines[:head_limit]
    elif result.stopped:
        notes.append("(The search was stopped early: too much output. Narrow it down.)")
    text = "\n".join(lines)
    if len(text) > MAX_OUTPUT_CHARS:
        keep = text.rfind("\n", 0, MAX_OUTPUT_CHARS)
        keep = keep if keep > 0 else MAX_OUTPUT_CHARS
        hidden = text.count("\n", keep) + (text[keep : keep + 1] != "\n")
        text = text[:keep]
        notes.append(
            f"(Output cut at {MAX_OUTPUT_CHARS:,} characters; {hidden:,} more lines not shown. "
            "Narrow the search with path, glob, type or head_limit.)"
        )
    return ToolOutput.text("\n".join([text, *notes]), summary=summary)


def _noun(mode: Mode) -> str:
    return {"content": "lines", "files_with_matches": "files", "count": "files"}[mode]


def _summary(lines: list[str], mode: Mode, stopped: bool) -> str:
    more = "+" if stopped else ""
    if mode == "files_with_matches":
        return f"Found {plural(len(lines), 'file')}{more}"
    if mode == "count":
        total = sum(int(n) for n in (line.rpartition(":")[2] for line in lines) if n.isdigit())
        return f"Found {plural(total, 'matching line')}{more} in {plural(len(lines), 'file')}"
    return f"Found {plural(len(lines), 'line')}{more}"


# ---------------------------------------------------------------- fallback without rg

# The common part of rg's type table; an unknown type is an error, as it is with rg.
_TYPES: dict[str, tuple[str, ...]] = {
    "c": ("*.c", "*.h"),
    "cpp": ("*.cpp", "*.cc", "*.cxx", "*.hpp", "*.hh", "*.hxx", "*.h"),
    "css": ("*.css",),
    "go": ("*.go",),
    "html": ("*.html", "*.htm"),
    "java": ("*.java",),
    "js": ("*.js", "*.jsx", "*.mjs", "*.cjs", "*.vue"),
    "json": ("*.json",),
    "markdown": ("*.md", "*.markdown", "*.mdx"),
    "md": ("*.md", "*.markdown", "*.mdx"),
    "py": ("*.py", "*.pyi"),
    "rb": ("*.rb", "Gemfile", "*.gemspec", "Rakefile"),
    "rust": ("*.rs",),
    "sh": ("*.sh", "*.bash", "*.zsh"),
    "toml": ("*.toml", "Cargo.lock"),
    "ts": ("*.ts", "*.tsx", "*.cts", "*.mts"),
    "yaml": ("*.yaml", "*.yml"),
}
_MAX_FALLBACK_LINES = 50_000
_LONG_LINE = " [... omitted end of long line]"


def python_search(query: GrepQuery) -> GrepResult:
    """What rg would print for `query`, in pure Python (Python's `re` dialect, path order)."""
    flags = re.MULTILINE | (re.IGNORECASE if query.ignore_case else 0)
    if query.multiline:
        flags |= re.DOTALL
    try:
        regex = re.compile(query.pattern, flags)
    except re.error as e:
        raise ToolError(f"regex parse error: {e}") from None
    single = query.root.is_file()
    out: list[str] = []
    for path in [query.root] if single else _candidates(query):
        text = _text_of(path)
        if text is None:
            continue
        lines = text.split("\n")
        hits = _hit_lines(regex, text, lines, query.multiline)
        if not hits:
            continue
        if query.mode == "files_with_matches":
            out.append(str(path))
        elif query.mode == "count":
            out.append(f"{path}:{len(hits)}")
        else:
            if out and (query.before or query.after):
                out.append("--")  # rg separates files' context groups too
            out.extend(_content(query, "" if single else str(path), lines, hits))
        if len(out) > _MAX_FALLBACK_LINES:
            return GrepResult(out[:_MAX_FALLBACK_LINES], stopped=True)
    return GrepResult(out)


def _candidates(query: GrepQuery) -> Iterable[Path]:
    if query.type is not None and query.type not in _TYPES:
        raise ToolError(f"unrecognized file type: {query.type}")
    names = _TYPES.get(query.type or "", ())
    matcher = glob_matcher(query.glob) if query.glob else None
    for path in walk_files(query.root, hidden_files=bool(names or matcher)):
        if names and not any(fnmatch.fnmatch(path.name, n) for n in names):
            continue
        if matcher and not matcher.match_file(path.relative_to(query.root).as_posix()):
            continue
        yield path


def _text_of(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:  # rg skips binary files the same way
        return None
    return data.decode("utf-8", "replace").removesuffix("\n")


def _hit_lines(regex: re.Pattern[str], text: str, lines: list[str], multiline: bool) -> list[int]:
    """0-based indexes of the lines a match touches."""
    if not multiline:
        return [i for i, line in enumerate(lines) if regex.search(line)]
    starts = [0, *(m.end() for m in re.finditer("\n", text))]
    hits: set[int] = set()
    for m in regex.finditer(text):
        first = bisect.bisect_right(starts, m.start()) - 1
        last = bisect.bisect_right(starts, max(m.start(), m.end() - 1)) - 1
        hits.update(range(first, last + 1))
    return sorted(hits)


def _content(query: GrepQuery, name: str, lines: list[str], hits: list[int]) -> list[str]:
    wanted: set[int] = set()
    for i in hits:
        wanted.update(range(max(0, i - query.before), min(len(lines), i + query.after + 1)))
    matched = set(hits)
    out: list[str] = []
    previous = None
    for i in sorted(wanted):
        if previous is not None and i > previous + 1 and (query.before or query.after):
            out.append("--")
        previous = i
        sep = ":" if i in matched else "-"
        line = lines[i]
        if len(line) > MAX_COLUMNS:
            line = line[:MAX_COLUMNS] + _LONG_LINE
        prefix = f"{name}{sep}" if name else ""
        if query.line_numbers:
            prefix += f"{i + 1}{sep}"
        out.append(prefix + line)
    return out
