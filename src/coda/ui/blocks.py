"""Cutting a streamed markdown answer into finished pieces, so each is rendered exactly once.

Rendering the whole answer again on every token is what makes peers flicker and slow down
as answers grow. Here a piece is handed out once it can no longer change: a paragraph at
its blank line, a list item when the next item starts, a heading at its end of line, and a
code block line by line. The renderer draws each piece once and never goes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

# Longer runs of prose are cut at a line boundary, so memory and latency stay bounded even
# for an answer that never leaves a blank line.
MAX_PROSE_LINES = 40
MAX_TABLE_LINES = 200

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_ITEM = re.compile(r"^(?:[-*+]|\d{1,9}[.)])(\s|$)")  # a list item at the left margin
_TABLE = re.compile(r"^\s*\|")
_QUOTE = re.compile(r"^ {0,3}>")

ProseKind: TypeAlias = Literal["paragraph", "list", "table", "quote", "heading", "rule"]


@dataclass(frozen=True, slots=True)
class Prose:
    """Markdown to render as a unit."""

    text: str
    kind: ProseKind
    gap: bool  # a blank line separates it from the piece before


@dataclass(frozen=True, slots=True)
class CodeStart:
    lang: str
    gap: bool


@dataclass(frozen=True, slots=True)
class CodeLine:
    text: str
    lang: str


@dataclass(frozen=True, slots=True)
class CodeEnd:
    pass


Piece: TypeAlias = Prose | CodeStart | CodeLine | CodeEnd


class BlockSplitter:
    """Feed it text as it streams; it returns the pieces that are finished."""

    def __init__(self) -> None:
        self._partial = ""
        self._lines: list[str] = []
        self._kind: ProseKind = "paragraph"
        self._fence: str | None = None
        self._lang = ""
        self._emitted = False
        self._blank = False

    @property
    def pending(self) -> str:
        """What is buffered and not yet handed out (for an interrupt to show as is)."""
        return "\n".join([*self._lines, self._partial]).strip("\n")

    def feed(self, text: str) -> list[Piece]:
        if "\n" not in text:
            self._partial += text
            return []
        *complete, self._partial = (self._partial + text).split("\n")
        out: list[Piece] = []
        for line in complete:
            self._line(line, out)
        return out

    def finish(self) -> list[Piece]:
        """The text block ended: everything still buffered is final."""
        out: list[Piece] = []
        if self._partial:
            self._line(self._partial, out)
            self._partial = ""
        self._flush(out)
        if self._fence is not None:
            out.append(CodeEnd())
            self._fence = None
        return out

    # -- one line at a time

    def _line(self, line: str, out: list[Piece]) -> None:
        if self._fence is not None:
            self._code_line(line, out)
            return
        if not line.strip():
            self._flush(out)
            self._blank = True
            return
        if match := _FENCE.match(line):
            self._flush(out)
            self._fence, self._lang = match.group(1), match.group(2)
            out.append(CodeStart(self._lang, self._gap()))
            return
        if _HEADING.match(line) or _RULE.match(line):
            self._flush(out)
            kind: ProseKind = "heading" if _HEADING.match(line) else "rule"
            out.append(Prose(line, kind, self._gap()))
            return
        kind = _kind_of(line)
        if self._lines and self._starts_new_block(kind):
            self._flush(out)
        if not self._lines:
            self._kind = kind
        self._lines.append(line)
        limit = MAX_TABLE_LINES if self._kind == "table" else MAX_PROSE_LINES
        if len(self._lines) >= limit:
            self._flush(out)

    def _starts_new_block(self, kind: ProseKind) -> bool:
        current = self._kind
        if kind == "list":
            # Each top-level item is final once the next one starts; a list also ends a
            # paragraph, as in CommonMark.
            return True
        if current == "table":
            return kind != "table"
        if current == "quote":
            return kind != "quote"
        return kind in ("table", "quote")

    def _code_line(self, line: str, out: list[Piece]) -> None:
        assert self._fence is not None
        stripped = line.strip()
        fence = self._fence
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            out.append(CodeEnd())
            self._fence = None
            self._blank = True  # what follows a code block stands apart from it
            return
        out.append(CodeLine(line, self._lang))

    def _flush(self, out: list[Piece]) -> None:
        if not self._lines:
            return
        out.append(Prose("\n".join(self._lines), self._kind, self._gap()))
        self._lines = []

    def _gap(self) -> bool:
        gap = self._blank and self._emitted
        self._blank = False
        self._emitted = True
        return gap


def _kind_of(line: str) -> ProseKind:
    if _ITEM.match(line):
        return "list"
    if _TABLE.match(line):
        return "table"
    if _QUOTE.match(line):
        return "quote"
    return "paragraph"
