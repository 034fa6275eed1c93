"""Short unified diffs of a change, found without diffing the whole file."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from coda.messages import TextBlock
from coda.tools.base import ToolOutput

CONTEXT = 3
MAX_DIFF_LINES = 60
# Past this many changed lines a line-by-line match costs more than it tells.
_MAX_MATCHED_LINES = 20_000


@dataclass(frozen=True, slots=True)
class Diff:
    text: str  # hunks, cut to MAX_DIFF_LINES lines with a note
    added: int
    removed: int

    @property
    def counts(self) -> str:
        return f"+{self.added:,} −{self.removed:,}"


def common_prefix(a: str, b: str) -> int:
    """Length of the common start of two strings, comparing blocks rather than characters."""
    end = min(len(a), len(b))
    i, step = 0, 4096
    while i < end:
        j = min(i + step, end)
        if a[i:j] != b[i:j]:
            while j - i > 32:
                mid = (i + j) // 2
                if a[i:mid] == b[i:mid]:
                    i = mid
                else:
                    j = mid
            while a[i] == b[i]:
                i += 1
            return i
        i, step = j, min(step * 2, 1 << 20)
    return end


def common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the common end of two strings, at most `limit`."""
    la, lb = len(a), len(b)
    i, step = 0, 4096
    while i < limit:
        j = min(i + step, limit)
        if a[la - j : la - i] != b[lb - j : lb - i]:
            while j - i > 32:
                mid = (i + j) // 2
                if a[la - mid : la - i] == b[lb - mid : lb - i]:
                    i = mid
                else:
                    j = mid
            while a[la - i - 1] == b[lb - i - 1]:
                i += 1
            return i
        i, step = j, min(step * 2, 1 << 20)
    return limit


def changed_span(old: str, new: str) -> tuple[int, int, int]:
    """(start, old_end, new_end): old[start:old_end] became new[start:new_end], all else equal."""
    start = common_prefix(old, new)
    tail = common_suffix(old, new, min(len(old), len(new)) - start)
    return start, len(old) - tail, len(new) - tail


def unified_diff(old: str, new: str, *, max_lines: int = MAX_DIFF_LINES) -> Diff:
    """Hunks of `@@ -a,b +c,d @@` with CONTEXT lines around each change."""
    start, old_end, new_end = changed_span(old, new)
    # Widen to whole lines; the part after the change is the same text in both.
    start = old.rfind("\n", 0, start) + 1
    if old_end < len(old) and not (_line_start(old, old_end) and _line_start(new, new_end)):
        newline = old.find("\n", old_end)
        step = len(old) - old_end if newline < 0 else newline + 1 - old_end
        old_end, new_end = old_end + step, new_end + step
    before = start
    for _ in range(CONTEXT):
        if before:
            before = old.rfind("\n", 0, before - 1) + 1
    after = old_end
    for _ in range(CONTEXT):
        newline = old.find("\n", after)
        after = len(old) if newline < 0 else newline + 1
    first_line = old.count("\n", 0, before) + 1
    head, tail = _lines(old[before:start]), _lines(old[old_end:after])
    a = head + _lines(old[start:old_end]) + tail
    b = head + _lines(new[start:new_end]) + tail
    return _render(a, b, first_line, max_lines)


def _line_start(text: str, index: int) -> bool:
    return index == 0 or text[index - 1] == "\n"


def _lines(text: str) -> list[str]:
    """Lines with their "\n"; only "\n" ends a line (str.splitlines also splits on \f and more)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _render(a: list[str], b: list[str], first_line: int, max_lines: int) -> Diff:
    opcodes: list[Opcode]
    if len(a) + len(b) <= _MAX_MATCHED_LINES:
        opcodes = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes())
    elif len(a) == len(b):
        # Too long to match line by line (a replace_all across a big file): pair by position.
        opcodes = _paired(a, b)
    else:
        opcodes = [("replace", 0, len(a), 0, len(b))]
    groups = _grouped(opcodes, CONTEXT)
    out: list[str] = []
    added = removed = 0
    for group in groups:
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(first_line + i1, i2 - i1)} +{_range(first_line + j1, j2 - j1)} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out.extend(_marked(" ", a[a1:a2]))
                continue
            removed += a2 - a1
            added += b2 - b1
            out.extend(_marked("-", a[a1:a2]))
            out.extend(_marked("+", b[b1:b2]))
    if len(out) > max_lines:
        more = len(out) - max_lines
        out = [*out[:max_lines], f"… {more:,} more diff line{'s' * (more != 1)} not shown"]
    return Diff("\n".join(out), added, removed)


Opcode = tuple[str, int, int, int, int]


def _paired(a: list[str], b: list[str]) -> list[Opcode]:
    opcodes: list[Opcode] = []
    start = 0
    for i in range(1, len(a) + 1):
        if i == len(a) or (a[i] == b[i]) != (a[start] == b[start]):
            tag = "equal" if a[start] == b[start] else "replace"
            opcodes.append((tag, start, i, start, i))
            start = i
    return opcodes


def _grouped(opcodes: list[Opcode], context: int) -> list[list[Opcode]]:
    """Hunks: the changes, each with `context` equal lines around it; long equal runs split."""
    groups: list[list[Opcode]] = []
    group: list[Opcode] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag != "equal":
            group.append((tag, i1, i2, j1, j2))
            continue
        last = index == len(opcodes) - 1
        if group and not last and i2 - i1 <= 2 * context:
            group.append((tag, i1, i2, j1, j2))  # a short run joins two changes
            continue
        if group:  # the context after a change ends its hunk
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            groups.append(group)
        start = max(i1, i2 - context)  # the context before the next change
        group = [(tag, start, i2, j1 + start - i1, j2)] if start < i2 and not last else []
    if any(op[0] != "equal" for op in group):
        groups.append(group)
    return groups


def _range(start: int, count: int) -> str:
    if count == 0:
        start -= 1
    return f"{start}" if count == 1 else f"{start},{count}"


def _marked(mark: str, lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            out.append(mark + line[:-1])
        else:
            out += (mark + line, "\\ No newline at end of file")
    return out


def change_output(
    path: Path, cwd: Path, diff: Diff, *, created: bool, detail: str = ""
) -> ToolOutput:
    """What Write, Edit and MultiEdit answer: a headline and the diff, for model and person."""
    try:
        shown = str(path.relative_to(cwd.resolve()))
    except ValueError:
        shown = str(path)
    if created:
        lines = diff.added
        headline = f"Created {path} ({lines:,} line{'s' * (lines != 1)})"
        summary = f"Created {shown} ({lines:,} line{'s' * (lines != 1)})"
        body = ""
    else:
        headline = f"Updated {path} ({diff.counts})"
        summary = f"Updated {shown} ({diff.counts})"
        body = f"\n{diff.text}" if diff.text else "\n(no change to the content)"
    if detail:
        headline += f"; {detail}"
    return ToolOutput([TextBlock(headline + body)], summary=summary, display=diff.text)
