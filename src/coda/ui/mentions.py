"""@path mentions: completing them as the person types, and attaching the files they name."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

    from coda.tools.base import ToolContext

_MENTION = re.compile(r"(?:(?<=\s)|^)@([^\s@]+)")
MAX_COMPLETIONS = 100


@dataclass(slots=True)
class Attached:
    prompt: str
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def mentioned_paths(text: str, cwd: Path) -> list[tuple[str, Path]]:
    """(as written, resolved path) for each @mention that names an existing file or directory.

    A mention that names nothing (an e-mail address, `@property`) is left alone, and so is
    trailing punctuation: "look at @src/app.py." names src/app.py.
    """
    found: list[tuple[str, Path]] = []
    for match in _MENTION.finditer(text):
        raw = match.group(1)
        for candidate in (raw, raw.rstrip(".,;:!?)]'\"")):
            if not candidate:
                continue
            path = Path(os.path.expanduser(candidate))
            path = path if path.is_absolute() else cwd / path
            if path.exists():
                if all(p != path for _, p in found):
                    found.append((candidate, path))
                break
    return found


async def attach_mentions(text: str, ctx: ToolContext) -> Attached:
    """The prompt with each mentioned file's content (as Read shows it) or directory listing.

    Files go through the Read and LS tools, so the model sees the format it knows and a
    later Edit of a mentioned file needs no separate Read.
    """
    from coda.tools.base import ToolError
    from coda.tools.ls import LSTool
    from coda.tools.read import ReadTool

    mentions = mentioned_paths(text, ctx.cwd)
    if not mentions:
        return Attached(text)
    parts = [text]
    attached = Attached(text)
    for written, path in mentions:
        try:
            if path.is_dir():
                output = await LSTool().run({"path": str(path)}, ctx)
            else:
                output = await ReadTool().run({"file_path": str(path)}, ctx)
        except (ToolError, OSError, ValueError) as exc:
            attached.problems.append(f"@{written}: {exc}")
            continue
        body = "\n".join(getattr(b, "text", "") for b in output.content).strip("\n")
        parts.append(f'<attached path="{written}">\n{body}\n</attached>')
        attached.files.append(written)
    attached.prompt = "\n\n".join(parts)
    return attached


def path_completions(word: str, cwd: Path, limit: int = MAX_COMPLETIONS) -> list[tuple[str, bool]]:
    """Completions for the text after "@": (completed path, is a directory), sorted."""
    head, _, prefix = word.rpartition("/")
    base = Path(os.path.expanduser(head)) if head else Path(".")
    directory = base if base.is_absolute() else cwd / base
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    out: list[tuple[str, bool]] = []
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.name.startswith(prefix):
            continue
        if entry.name.startswith(".") and not prefix.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        completed = f"{head}/{entry.name}" if head else entry.name
        out.append((completed + ("/" if is_dir else ""), is_dir))
        if len(out) >= limit:
            break
    return out


# What MCP servers add while the session runs: (/command, help) and (@server:uri, about).
Offered = Callable[[], tuple[list[tuple[str, str]], list[tuple[str, str]]]]


def make_completer(
    commands: Sequence[tuple[str, str]], cwd: Path, offered: Offered | None = None
) -> object:
    """A prompt_toolkit completer for /commands (at the start) and @paths (anywhere), with
    the MCP servers' prompt commands and `@server:uri` resources when there are any."""
    from prompt_toolkit.completion import Completer, Completion

    class _Completer(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            before = document.text_before_cursor
            prompts, resources = offered() if offered is not None else ([], [])
            if before.startswith("/") and " " not in before:
                for name, help_text in [*commands, *prompts]:
                    if name.startswith(before):
                        yield Completion(name, -len(before), display_meta=help_text)
                return
            word = document.get_word_before_cursor(WORD=True)
            if not word.startswith("@"):
                return
            for mention, about in resources:
                if mention.startswith(word) and word != "@":
                    yield Completion(mention, -len(word), display_meta=about)
            for completed, is_dir in path_completions(word[1:], cwd):
                shown = completed.rstrip("/").rpartition("/")[2] + ("/" if is_dir else "")
                yield Completion("@" + completed, -len(word), display=shown)

    return _Completer()
