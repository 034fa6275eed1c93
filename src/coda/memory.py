"""Memory files: the person's standing instructions (CODA.md and peers), found and loaded.

Discovery order, earliest first (later files are closer to the work, so they read last):

1. The user's config dir (`config_dir(env)`, which honours CODA_CONFIG_DIR):
   CODA.md, AGENTS.md, CLAUDE.md.
2. Every directory from the repository root down to the cwd, root first. The root is the
   nearest ancestor of the cwd (the cwd included) holding `.git`, a directory or a file;
   without one only the cwd is read. In each directory: CODA.md, AGENTS.md, CLAUDE.md,
   then .coda/CODA.md and .claude/CLAUDE.md, where other agents keep theirs.
3. Later, `NestedMemory`: directories below the cwd, the first time a file under them is read.

A line may import another file with `@path` (relative to the importing file, absolute, or
`~/...`) at its start or after whitespace; not inside code spans or fenced blocks. The line
stays as written, and each imported file becomes its own `MemoryFile`, right after its
importer with the importer's scope, so the rendered prompt names the file each instruction
came from. An import that names no existing regular file is plain text (emails, npm scopes).
Every file is loaded once, by resolved path, so symlinks and repeated imports add nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from coda.config import config_dir

NAMES = ("CODA.md", "AGENTS.md", "CLAUDE.md")
_PEER_FILES = (".coda/CODA.md", ".claude/CLAUDE.md")
MAX_IMPORT_DEPTH = 5

Scope: TypeAlias = Literal["user", "project", "nested"]

_SCOPE_NAMES: dict[Scope, str] = {
    "user": "user memory, for every project",
    "project": "project memory",
    "nested": "memory for a subdirectory",
}
_MEMORY_INTRO = (
    "The person keeps standing instructions for you in the memory files below. "
    "Follow them: where they differ from the defaults above, they take precedence."
)
_NESTED_INTRO = (
    "Reading that file loaded the memory files of its directories. Their instructions apply "
    "to work there and take precedence over the defaults."
)

_IMPORT = re.compile(r"(?:^|(?<=\s))@(\S+)")
# A span closes on a backtick run exactly as long as the one that opened it (CommonMark).
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Prose ends a sentence on an import ("see @docs/style.md."); the path is tried without it.
_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True, slots=True)
class MemoryFile:
    """One loaded file. `imports` are the resolved files its @-imports brought into memory
    (including ones already loaded, or on a cycle); imports too deep to follow are left out."""

    path: Path
    scope: Scope
    text: str
    imports: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class Memory:
    files: tuple[MemoryFile, ...]
    warnings: tuple[str, ...]

    @property
    def import_paths(self) -> tuple[Path, ...]:
        """Every resolved import target, for the permission policy to protect."""
        return tuple(dict.fromkeys(p for f in self.files for p in f.imports))

    def render(self) -> str:
        """The section appended to the system prompt; empty when there is nothing to say."""
        body = _render_files(self.files)
        return f"{_MEMORY_INTRO}\n\n{body}" if body else ""


def render_nested(files: Sequence[MemoryFile]) -> str:
    """The text attached to a tool result when reading a file loaded nested memory."""
    body = _render_files(files)
    return f"{_NESTED_INTRO}\n\n{body}" if body else ""


def _render_files(files: Sequence[MemoryFile]) -> str:
    importer: dict[Path, Path] = {}
    for f in files:
        for target in f.imports:
            importer.setdefault(target, f.path)
    blocks = []
    for f in files:
        text = f.text.strip("\n").rstrip()
        if not text:  # an empty file tells the model nothing; its header would only cost
            continue
        about = _SCOPE_NAMES[f.scope]
        if f.path in importer:
            about += f", imported by {importer[f.path]}"
        blocks.append(f"Contents of {f.path} ({about}):\n\n{text}")
    return "\n\n".join(blocks)


def load_memory(cwd: Path, env: Mapping[str, str]) -> Memory:
    cwd = _real(cwd)
    loader = _Loader(env, set())
    user_dir = config_dir(env)
    for name in NAMES:
        loader.load(user_dir / name, "user")
    for directory in _project_dirs(cwd):
        for path in _candidates(directory):
            loader.load(path, "project")
    return Memory(tuple(loader.files), tuple(loader.warnings))


def memory_paths_for_editing(
    cwd: Path, env: Mapping[str, str], *, memory: Memory | None = None
) -> list[Path]:
    """The files `/memory` offers: the user file, the project file (existing or not), then
    every loaded file. Pass `memory` to reuse a load instead of reading everything again."""
    cwd = _real(cwd)
    if memory is None:
        memory = load_memory(cwd, env)
    root = _repo_root(cwd) or cwd
    paths = [_real(config_dir(env) / "CODA.md"), _real(root / "CODA.md")]
    paths += [f.path for f in memory.files]
    return list(dict.fromkeys(paths))


class NestedMemory:
    """Memory files in directories below the cwd, loaded when a file under them is first read.

    Each directory is looked at once per session, so a memory file created there later is
    not picked up; that keeps every read after the first down to a set lookup.
    """

    def __init__(self, cwd: Path, env: Mapping[str, str], loaded: Iterable[Path] = ()) -> None:
        self._cwd = _real(cwd)
        self._env = env
        self._seen = {_real(p) for p in loaded}
        self._dirs_done: set[Path] = set()

    def on_read(self, path: Path) -> list[MemoryFile]:
        return list(self.load_for(path).files)

    def load_for(self, path: Path) -> Memory:
        """Like `on_read`, with the warnings; a relative path is taken from the cwd."""
        real = _real(self._cwd / path)
        if real == self._cwd or not real.is_relative_to(self._cwd):
            return Memory((), ())
        loader = _Loader(self._env, self._seen)
        directory = self._cwd
        for part in real.parent.relative_to(self._cwd).parts:
            directory = directory / part
            if directory in self._dirs_done:
                continue
            self._dirs_done.add(directory)
            for candidate in _candidates(directory):
                loader.load(candidate, "nested")
        return Memory(tuple(loader.files), tuple(loader.warnings))


class _Loader:
    """Reads files and follows their imports, depth first, appending in prompt order."""

    def __init__(self, env: Mapping[str, str], seen: set[Path]) -> None:
        self.home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        self.seen = seen  # resolved paths already loaded, shared across loads
        self.files: list[MemoryFile] = []
        self.warnings: list[str] = []

    def load(self, path: Path, scope: Scope, stack: tuple[Path, ...] = ()) -> None:
        # os.path.isfile never raises: a missing or unreachable candidate is just skipped.
        if not os.path.isfile(path):
            return
        real = _real(path)
        if real in self.seen:
            return
        self.seen.add(real)
        text = self._read(real)
        if text is None:
            return
        stack = (*stack, real)
        targets = self._imports(real, text, stack)
        self.files.append(MemoryFile(real, scope, text, targets))
        for target in targets:
            self.load(target, scope, stack)

    def _read(self, path: Path) -> str | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.warnings.append(f"{path}: could not read memory file: {exc.strerror or exc}")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.warnings.append(f"{path}: not valid UTF-8; undecodable bytes were replaced")
            return data.decode("utf-8", errors="replace")

    def _imports(self, path: Path, text: str, stack: tuple[Path, ...]) -> tuple[Path, ...]:
        found: list[Path] = []
        for raw in import_tokens(text):
            target = self._resolve(raw, path.parent)
            if target is None:
                continue
            if target in stack:
                cycle = " -> ".join(str(p) for p in (*stack[stack.index(target) :], target))
                self.warnings.append(f"{path}: @{raw} not followed, import cycle: {cycle}")
            elif len(stack) > MAX_IMPORT_DEPTH:
                self.warnings.append(
                    f"{path}: @{raw} not followed, imports nest deeper than {MAX_IMPORT_DEPTH}"
                )
                continue
            found.append(target)
        return tuple(dict.fromkeys(found))

    def _resolve(self, raw: str, base: Path) -> Path | None:
        for candidate in dict.fromkeys((raw, raw.rstrip(_TRAILING))):
            # Joining an absolute candidate to base gives the candidate itself.
            path = self.home / candidate[2:] if candidate.startswith("~/") else base / candidate
            if candidate and os.path.isfile(path):
                return _real(path)
        return None


def import_tokens(text: str) -> list[str]:
    """The raw `@` tokens of a text, outside fenced blocks and inline code spans."""
    tokens: list[str] = []
    fence = ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence:
            if match and _closes(fence, match, line):
                fence = ""
            continue
        if match:
            fence = match.group(1)
            continue
        # A NUL stands in for the span so `code`@x does not become an import after whitespace.
        tokens += _IMPORT.findall(_CODE_SPAN.sub("\0", line))
    return tokens


def _closes(fence: str, match: re.Match[str], line: str) -> bool:
    """A fence closes on a run of the same character, at least as long, and nothing after."""
    run = match.group(1)
    return run[0] == fence[0] and len(run) >= len(fence) and not line[match.end() :].strip()


def _candidates(directory: Path) -> Iterator[Path]:
    for name in (*NAMES, *_PEER_FILES):
        yield directory / name


def _project_dirs(cwd: Path) -> list[Path]:
    """From the repository root (or the cwd alone) down to the cwd."""
    root = _repo_root(cwd) or cwd
    chain = [d for d in (cwd, *cwd.parents) if d.is_relative_to(root)]
    return chain[::-1]


def _repo_root(cwd: Path) -> Path | None:
    for directory in (cwd, *cwd.parents):
        if os.path.exists(directory / ".git"):
            return directory
    return None


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))
