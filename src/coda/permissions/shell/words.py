"""Bash words as bash reads them: quotes removed, escapes decoded, run-time parts marked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


@dataclass(slots=True)
class Word:
    value: str
    dynamic: bool
    start: int  # byte offsets into the source
    end: int


_BRACE = re.compile(r"\{[^{}]*(,|\.\.)[^{}]*\}")
_GLOB = re.compile(r"[*?]|\[.*\]")
_ANSI_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


def source_slice(source: bytes, start: int, end: int) -> str:
    return source[start:end].decode("utf-8", "replace")


def node_text(source: bytes, node: Node) -> str:
    return source_slice(source, node.start_byte, node.end_byte)


def resolve(source: bytes, node: Node) -> tuple[str, bool]:
    """The word `node` after quote removal, and whether it is only known at run time.

    Globs, braces and `~-` style tildes count as known at run time only; so does any
    expansion, which keeps its source text (`$f`).
    """
    out: list[str] = []
    mask: list[str] = []  # unquoted literal text, with quoted characters as "a"
    dynamic = _collect(source, node, out, mask)
    unquoted = "".join(mask)
    value = "".join(out)
    if _GLOB.search(unquoted) or _BRACE.search(unquoted):
        dynamic = True
    elif unquoted.startswith("~") and re.match(r"~[-+0-9]", value):
        dynamic = True  # ~- is $OLDPWD, ~+ is $PWD, ~2 the directory stack
    return value, dynamic


def _collect(source: bytes, node: Node, out: list[str], mask: list[str]) -> bool:
    kind = node.type
    text = node_text(source, node)
    if kind in ("word", "number"):
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                if text[i + 1] != "\n":
                    out.append(text[i + 1])
                    mask.append("a")
                i += 2
                continue
            out.append(ch)
            mask.append(ch)
            i += 1
        return False
    if kind == "raw_string":
        out.append(text[1:-1])
        mask.append("a" * len(text[1:-1]))
        return False
    if kind == "string":
        return _collect_string(source, node, out, mask)
    if kind == "ansi_c_string":
        decoded = _ansi_c(text[2:-1])
        if decoded is None:
            out.append(text)
            return True
        out.append(decoded)
        mask.append("a" * len(decoded))
        return False
    if kind == "concatenation":
        dynamic = False
        for child in node.children:
            if child.type == "$":  # $"…" inside a word
                out.append("$")
                dynamic = True
                continue
            dynamic = _collect(source, child, out, mask) or dynamic
        return dynamic
    out.append(text)
    mask.append("a" * len(text))
    return True


def _collect_string(source: bytes, node: Node, out: list[str], mask: list[str]) -> bool:
    dynamic = False
    position = node.start_byte + 1
    end = node.end_byte - 1
    for child in node.children:
        if child.type == '"':
            continue
        if child.start_byte > position:
            _string_literal(source_slice(source, position, child.start_byte), out, mask)
        if child.type == "string_content":
            _string_literal(node_text(source, child), out, mask)
        else:
            piece = node_text(source, child)
            out.append(piece)
            mask.append("a" * len(piece))
            dynamic = True
        position = child.end_byte
    if end > position:
        _string_literal(source_slice(source, position, end), out, mask)
    return dynamic


def _string_literal(text: str, out: list[str], mask: list[str]) -> None:
    value = re.sub(r'\\([$`"\\\n])', lambda m: "" if m.group(1) == "\n" else m.group(1), text)
    out.append(value)
    mask.append("a" * len(value))


def _ansi_c(body: str) -> str | None:
    """Decode the inside of $'…' as bash does, or None for escapes coda does not model."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            return None
        esc = body[i + 1]
        if esc in _ANSI_SIMPLE:
            out.append(_ANSI_SIMPLE[esc])
            i += 2
            continue
        spans = {"x": (16, 2), "u": (16, 4), "U": (16, 8)}
        if esc in spans:
            base, most = spans[esc]
            digits = re.match(f"[0-9a-fA-F]{{1,{most}}}", body[i + 2 :])
            if not digits:
                return None
            out.append(chr(int(digits.group(0), base)))
            i += 2 + len(digits.group(0))
            continue
        octal = re.match(r"[0-7]{1,3}", body[i + 1 :])
        if octal:
            out.append(chr(int(octal.group(0), 8) & 0xFF))
            i += 1 + len(octal.group(0))
            continue
        return None
    return "".join(out)
