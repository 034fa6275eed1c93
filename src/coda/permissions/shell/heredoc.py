"""Heredocs, and text that may hold command substitutions the parser did not find."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from coda.permissions.shell.words import node_text, source_slice

if TYPE_CHECKING:
    from tree_sitter import Node


def heredoc(source: bytes, node: Node, op: str) -> tuple[str, list[str]]:
    """The delimiter, and problems if the parser may not end the heredoc where bash does."""
    problems = []
    parts = {c.type: c for c in node.children}
    raw = node_text(source, parts["heredoc_start"]) if "heredoc_start" in parts else ""
    quoted = any(ch in raw for ch in "'\"\\")
    delimiter = re.sub(r"\\(.)", r"\1", raw).replace("'", "").replace('"', "")
    body_node = parts.get("heredoc_body")
    body = node_text(source, body_node) if body_node is not None else ""
    end_node = parts.get("heredoc_end")
    end = None
    if end_node is not None:
        # The whole line must be the delimiter: bash does not end at "EOF # note".
        line_start = source.rfind(b"\n", 0, end_node.start_byte) + 1
        line_end = source.find(b"\n", end_node.end_byte)
        end = source_slice(source, line_start, len(source) if line_end < 0 else line_end)
    if not quoted and body_node is not None:
        hidden = hidden_problem(source, body_node, "the heredoc")
        if hidden:
            problems.append(hidden)

    def strip(line: str) -> str:
        return line.lstrip("\t") if op == "<<-" else line

    if end is not None and (
        strip(end) != delimiter or any(strip(line) == delimiter for line in body.split("\n"))
    ):
        problems.append("coda cannot tell where the heredoc ends")
    return delimiter, problems


def hidden_problem(source: bytes, node: Node, where: str) -> str | None:
    """Refuse text holding more command substitutions than the parser found in it."""
    text = node_text(source, node)
    if "$" not in text and "`" not in text:
        return None
    found = 0
    stack = list(node.children)
    while stack:
        n = stack.pop()
        found += n.type in ("command_substitution", "arithmetic_expansion")
        stack.extend(n.children)
    if _count_substitutions(text) > found or "$[" in text:
        return f"{where} runs commands that coda cannot see"
    return None


def _count_substitutions(text: str) -> int:
    """How many $(…), $((…)) and `…` are in `text` (erring towards more): bash reads
    `$(( x )…)` that is not arithmetic as a command substitution holding a subshell."""
    count = backticks = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            backticks += 1
        elif text.startswith("$(", i):
            count += 1
            i += 1 + text.startswith("$((", i)
        i += 1
    return count + (backticks + 1) // 2
