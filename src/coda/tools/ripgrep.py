"""Locating and running ripgrep, plus the pure-Python file walk used when rg is missing."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

_EXE = "rg.exe" if os.name == "nt" else "rg"

# Enough for ~50,000 paths; beyond that rg is stopped and the caller says the list was cut.
MAX_OUTPUT_BYTES = 4_000_000
_STDERR_BYTES = 16_000


def find_rg(scripts_dir: str | None = None, search_path: str | None = None) -> str | None:
    """The rg binary: the `ripgrep` wheel's copy beside this interpreter, else one on PATH.

    Both places can be overridden, so a caller (or a test) can ask "what if rg were missing"
    by pointing them at directories without it.
    """
    scripts = scripts_dir if scripts_dir is not None else sysconfig.get_path("scripts")
    if scripts:
        candidate = os.path.join(scripts, _EXE)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("rg", path=search_path)


@dataclass(frozen=True, slots=True)
class RgResult:
    returncode: int
    stdout: bytes
    stderr: str
    # stdout reached MAX_OUTPUT_BYTES and rg was stopped; what was read is still usable.
    truncated: bool


async def run_rg(
    rg: str, args: Sequence[str], *, cwd: Path, max_bytes: int = MAX_OUTPUT_BYTES
) -> RgResult:
    # --no-config: a user's RIPGREP_CONFIG_PATH must not change what the model sees.
    proc = await asyncio.create_subprocess_exec(
        rg,
        "--no-config",
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        # Both pipes are drained together: rg blocks if either one fills up.
        (out, truncated), (err, _) = await asyncio.gather(
            _read_capped(proc.stdout, max_bytes, stop=proc),
            _read_capped(proc.stderr, _STDERR_BYTES),
        )
        returncode = await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled: never leave rg running
            proc.kill()
            await proc.wait()
    return RgResult(returncode, out, err.decode("utf-8", "replace").strip(), truncated)


async def _read_capped(
    stream: asyncio.StreamReader, limit: int, *, stop: asyncio.subprocess.Process | None = None
) -> tuple[bytes, bool]:
    """Read up to `limit` bytes; past that, kill `stop` if given, else keep draining."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await stream.read(65536):
        if size < limit:
            chunks.append(chunk)
        size += len(chunk)
        if size > limit and stop is not None:
            stop.kill()
            return b"".join(chunks)[:limit], True
    return b"".join(chunks)[:limit], size > limit


# ---------------------------------------------------------------- fallback walk


def walk_files(root: Path, *, hidden: bool = False, hidden_files: bool = False) -> Iterator[Path]:
    """Files under root the way rg would list them: hidden entries skipped, .gitignore honoured
    inside a git repository. `hidden` lists hidden entries too (but never .git);
    `hidden_files` only hidden files, as rg does for files a --type or --glob selects.

    Only for when rg is missing; slower, and it reads .gitignore files only (not .ignore,
    .rgignore or the global git excludes).
    """
    ancestors = _ancestor_ignores(root)
    in_repo = ancestors is not None

    def walk(directory: Path, specs: list[tuple[Path, GitIgnoreSpec]]) -> Iterator[Path]:
        own = _load_gitignore(directory) if in_repo else None
        if own is not None:
            specs = [*specs, (directory, own)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        # Files and subdirectories interleaved by name: the order of `rg --sort=path`.
        for entry in entries:
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if entry.name.startswith(".") and not (
                (hidden or (hidden_files and not is_dir)) and entry.name != ".git"
            ):
                continue
            if is_ignored(path, is_dir, specs):
                continue
            if is_dir:
                yield from walk(path, specs)
            elif entry.is_file(follow_symlinks=False):  # rg skips symlinks too
                yield path

    yield from walk(root, ancestors or [])


def is_ignored(path: Path, is_dir: bool, specs: Sequence[tuple[Path, GitIgnoreSpec]]) -> bool:
    # The deepest .gitignore that has an opinion wins; within one file, the last match wins.
    for base, spec in reversed(specs):
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        verdict: bool | None = None
        for pattern in spec.patterns:
            if pattern.include is not None and pattern.match_file(rel) is not None:
                verdict = pattern.include
        if verdict is not None:
            return verdict
    return False


def _ancestor_ignores(root: Path) -> list[tuple[Path, GitIgnoreSpec]] | None:
    """.gitignore files above root up to the repository top; None when not in a repository,
    where rg ignores .gitignore files altogether."""
    if (root / ".git").exists():
        return []
    chain: list[Path] = []
    for directory in root.parents:
        chain.append(directory)
        if (directory / ".git").exists():
            break
    else:
        return None
    specs: list[tuple[Path, GitIgnoreSpec]] = []
    for directory in reversed(chain):
        spec = _load_gitignore(directory)
        if spec is not None:
            specs.append((directory, spec))
    return specs


def _load_gitignore(directory: Path) -> GitIgnoreSpec | None:
    try:
        text = (directory / ".gitignore").read_text("utf-8", "replace")
    except OSError:
        return None
    from pathspec import GitIgnoreSpec

    return GitIgnoreSpec.from_lines(text.splitlines())


class GlobMatcher:
    """rg --glob semantics: gitignore-style, with {a,b} alternatives expanded.

    The alternatives are joined into one regex: matching a 100,000-path listing that way
    takes a quarter of the time pathspec needs pattern by pattern.
    """

    def __init__(self, pattern: str) -> None:
        from pathspec import GitIgnoreSpec

        spec = GitIgnoreSpec.from_lines(expand_braces(pattern))
        regexes = [p.regex for p in spec.patterns if p.include is not None]
        self._spec = spec
        self._regex: re.Pattern[str] | None = None
        if regexes and all(p.include for p in spec.patterns if p.include is not None):
            # pathspec names a group in every pattern; names may not repeat in one regex.
            parts = [re.sub(r"\(\?P<\w+>", "(?:", r.pattern) for r in regexes if r]
            self._regex = re.compile("|".join(f"(?:{part})" for part in parts))

    def match_file(self, path: str) -> bool:
        if self._regex is not None:
            return self._regex.match(path) is not None
        return bool(self._spec.match_file(path))


def glob_matcher(pattern: str) -> GlobMatcher:
    return GlobMatcher(pattern)


def expand_braces(pattern: str) -> list[str]:
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    depth = 0
    for end in range(start, len(pattern)):
        if pattern[end] == "{":
            depth += 1
        elif pattern[end] == "}":
            depth -= 1
            if depth == 0:
                break
    else:
        return [pattern]
    head, body, tail = pattern[:start], pattern[start + 1 : end], pattern[end + 1 :]
    options, depth, last = [], 0, 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            options.append(body[last:i])
            last = i + 1
    options.append(body[last:])
    return [out for option in options for out in expand_braces(head + option + tail)]
