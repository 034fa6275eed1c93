"""Checks on a whole command line: odd characters, parse errors, and text the parser skipped."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node


def control_characters(text: str) -> str | None:
    for ch in text:
        if ch not in "\n\t" and unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def lookalike(text: str) -> str | None:
    """A character that can pass for shell syntax or hide text, if `text` has one."""
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            continue
        if (
            0xFF01 <= code <= 0xFF5E  # fullwidth ASCII: ； ｜ ＆ ＞
            or 0xFE50 <= code <= 0xFE6B  # small forms: ﹔ ﹠
            or code in (0x037E, 0x00A0, 0x3000, 0x2028, 0x2029, 0x2044, 0x2215, 0x2024)
            or 0x2000 <= code <= 0x200F  # odd spaces, zero-width and direction marks
            or 0x202A <= code <= 0x202E
            or 0x2060 <= code <= 0x2069
            or code == 0xFEFF
        ):
            return f"U+{code:04X} ({unicodedata.name(ch, 'unnamed')})"
    return None


def character_problems(text: str) -> list[str]:
    problems = []
    control = control_characters(text)
    if control:
        problems.append(f"the command contains the control character {control}")
    odd = lookalike(text)
    if odd:
        problems.append(f"the command contains {odd}, which can pass for shell syntax")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        problems.append("the command is not valid Unicode text")
    return problems


def first_error(root: Node) -> str:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            line = node.start_point[0] + 1
            what = "missing text" if node.is_missing else "parse error"
            return f"{what} at line {line}"
        stack.extend(reversed(node.children))
    return "parse error"


def coverage_problems(source: bytes, root: Node) -> list[str]:
    """Refuse lines where the parser silently skipped text (it drops a lone `-` at times)."""
    problems = []
    position = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.child_count:
            stack.extend(reversed(node.children))
            continue
        gap = source[position : node.start_byte]
        if gap.replace(b"\\\n", b"").strip():
            skipped = gap.strip().decode(errors="replace")
            return [f"the parser skipped part of the command ({skipped!r})"]
        position = max(position, node.end_byte)
    if source[position:].replace(b"\\\n", b"").strip():
        problems.append("the parser skipped the end of the command")
    # bash joins `a\<newline>b` into one word; the parser splits it.
    for match in re.finditer(rb"\\\n", source):
        before = source[match.start() - 1 : match.start()]
        after = source[match.end() : match.end() + 1]
        joins = before and after and not before.isspace() and not after.isspace()
        if joins and not _inside_literal(root, match.start()):
            problems.append("a line continuation joins two words")
            break
    return problems


def _inside_literal(root: Node, offset: int) -> bool:
    node = root.descendant_for_byte_range(offset, offset + 1)
    while node is not None:
        if node.type in ("raw_string", "heredoc_body", "comment", "string"):
            return True
        node = node.parent
    return False
