"""When old_string is not in the file as written: matches that ignore whitespace and look-alike
characters, and the closest regions to show the model."""

from __future__ import annotations

import difflib
import heapq
import re
from collections import defaultdict
from dataclasses import dataclass

# Typographic characters models and people swap for their ASCII forms, by ASCII form.
_LOOKALIKES = {
    "'": "'‘’‚‛′",
    '"': '"“”„‟″',
    "-": "-‐‑‒–—―−",
    " ": " \u00a0\u2007\u202f",
}
_TO_ASCII = str.maketrans({c: base for base, group in _LOOKALIKES.items() for c in group[1:]})
_CLASS = {c: f"[{re.escape(group)}]" for group in _LOOKALIKES.values() for c in group}
_HSPACE = r"[^\S\n]"
_WORD = re.compile(r"\w+")
MAX_MATCHES = 20


@dataclass(frozen=True, slots=True)
class Adapted:
    new_string: str
    note: str  # "matched after normalising indentation"


@dataclass(frozen=True, slots=True)
class Region:
    first: int  # 1-based line numbers
    last: int
    similarity: float
    lines: list[str]


def to_ascii(text: str) -> str:
    """Curly quotes, long dashes and non-breaking spaces as their ASCII forms, one for one."""
    return text.translate(_TO_ASCII)


def find_normalized(text: str, old: str) -> list[tuple[int, int]]:
    """Spans of text equal to `old` when whitespace amounts and look-alikes are ignored.

    Line breaks still count: a match spans as many lines as `old`.
    """
    if not old.strip():
        return []
    pattern = re.compile(_pattern(old), re.MULTILINE)
    spans: list[tuple[int, int]] = []
    for m in pattern.finditer(text):
        if m.end() > m.start():
            spans.append(m.span())
            if len(spans) > MAX_MATCHES:
                break
    return spans


def _pattern(old: str) -> str:
    tokens = re.findall(r"\s+|\S", old)
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if token.isspace():
            breaks = token.count("\n")
            if breaks:
                parts.append(_HSPACE + "*" + (r"\n" + _HSPACE + "*") * breaks)
            elif i == 0:
                parts.append("^" + _HSPACE + "*")
            elif i + 1 < len(tokens) and _wordy(tokens[i - 1]) and _wordy(tokens[i + 1]):
                parts.append(_HSPACE + "+")
            else:
                parts.append(_HSPACE + "*")
            continue
        if i and not tokens[i - 1].isspace() and not (_wordy(tokens[i - 1]) and _wordy(token)):
            parts.append(_HSPACE + "*")  # "f(a, b)" also finds "f( a,b )"
        parts.append(_CLASS.get(token) or re.escape(token))
    return "".join(parts)


def _wordy(token: str) -> bool:
    return token.isalnum() or token == "_"


def adapt(text: str, span: tuple[int, int], old: str, new: str) -> Adapted | None:
    """new_string fitted to a normalised match, or None when applying it would be a guess.

    Differences in quotes, dashes, non-breaking spaces, spacing inside lines and a uniform
    indentation shift are safe (the shift is applied to new_string as well). Indentation
    that differs unevenly (tabs against spaces, or a changed nesting) is not.
    """
    start, end = span
    found = text[start:end]
    # The match pairs old_string's visible characters one for one with the file's.
    kinds = _lookalike_kinds("".join(found.split()), "".join(old.split()))
    have_all, want_all = to_ascii(found), to_ascii(old)
    direction = unit = ""
    if have_all != want_all:
        at_line_start = start == 0 or text[start - 1] == "\n"
        shifts: set[tuple[str, str]] = set()
        inner = False
        pairs = zip(have_all.split("\n"), want_all.split("\n"), strict=True)
        for i, (have, want) in enumerate(pairs):
            if (i == 0 and not at_line_start) or not (have.strip() or want.strip()):
                inner |= have != want
                continue
            have_indent, want_indent = _indent(have), _indent(want)
            inner |= have[len(have_indent) :] != want[len(want_indent) :]
            shift = _shift(have_indent, want_indent)
            if shift is None:
                return None
            shifts.add(shift)
        if len(shifts) > 1:
            return None
        direction, unit = shifts.pop() if shifts else ("", "")
        if unit:
            kinds.insert(0, "indentation")
            new = _reindent(new, direction, unit, skip_first=not at_line_start)
        if inner:
            kinds.append("whitespace")
    if not kinds:
        return None
    listed = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
    return Adapted(new, f"matched after normalising {listed}")


def _lookalike_kinds(found: str, old: str) -> list[str]:
    swapped = {to_ascii(a) for a, b in zip(found, old, strict=False) if a != b}
    return [kind for kind, chars in (("quotes", "'\""), ("dashes", "-")) if swapped & set(chars)]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _shift(have: str, want: str) -> tuple[str, str] | None:
    """How the file's indentation differs from old_string's: ("add"|"remove", unit)."""
    if have == want:
        return ("", "")
    if have.endswith(want):
        return ("add", have[: len(have) - len(want)])
    if want.endswith(have):
        return ("remove", want[: len(want) - len(have)])
    return None


def _reindent(new: str, direction: str, unit: str, *, skip_first: bool) -> str:
    lines = new.split("\n")
    for i, line in enumerate(lines):
        if (i == 0 and skip_first) or not line.strip():
            continue
        lines[i] = unit + line if direction == "add" else line.removeprefix(unit)
    return "\n".join(lines)


def line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def closest_regions(text: str, old: str, limit: int = 3) -> list[Region]:
    """Up to `limit` windows of the file most like old_string, best first.

    Windows are scored by the words they share with old_string line for line, found
    with one regex pass over the file; then the best few are compared closely.
    """
    want = [_norm(line) for line in old.strip("\n").split("\n")]
    if not any(want):
        return []
    lines = text.split("\n")
    scores = _word_scores(text, want) or _line_scores(lines, want)
    target = "\n".join(want)
    ranked: list[Region] = []
    for start, _ in heapq.nlargest(20, scores.items(), key=lambda item: item[1]):
        first = min(max(start, 0), max(len(lines) - len(want), 0))
        window = lines[first : first + len(want)]
        have = "\n".join(_norm(line) for line in window)
        ranked.append(Region(first + 1, first + len(window), _similarity(have, target), window))
    chosen: list[Region] = []
    for region in sorted(ranked, key=lambda r: -r.similarity):
        if region.similarity < 0.5 or len(chosen) == limit:
            break
        if all(region.last < c.first or region.first > c.last for c in chosen):
            chosen.append(region)
    return chosen


def _word_scores(text: str, want: list[str]) -> dict[int, float]:
    """Window start (0-based line) -> words shared with old_string's lines at their offsets."""
    by_word: dict[str, list[int]] = defaultdict(list)
    for j, line in enumerate(want):
        for word in dict.fromkeys(_WORD.findall(line)):
            by_word[word].append(j)
    # Words on nearly every line say nothing and cost a lot.
    common = {w for w in by_word if text.count(w) > 20_000}
    words = sorted(by_word.keys() - common, key=len, reverse=True) or sorted(by_word)
    scores: dict[int, float] = defaultdict(float)
    if not words:
        return scores
    finder = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b")
    row, pos = 0, 0
    seen: set[str] = set()  # words already counted on this row
    for m in finder.finditer(text):
        newlines = text.count("\n", pos, m.start())
        if newlines:
            row, seen = row + newlines, set()
        pos = m.start()
        if m.group() in seen:
            continue
        seen.add(m.group())
        for j in by_word[m.group()]:
            scores[row - j] += 1.0
    return scores


def _line_scores(lines: list[str], want: list[str]) -> dict[int, float]:
    """For old_string without words ("}"): lines equal to one of its lines, ignoring spacing."""
    by_line: dict[str, list[int]] = defaultdict(list)
    for j, line in enumerate(want):
        if line:
            by_line[line].append(j)
    scores: dict[int, float] = defaultdict(float)
    for i, line in enumerate(lines):
        for j in by_line.get(_norm(line[:500]), ()):
            scores[i - j] += 1.0
    return scores


def _similarity(have: str, target: str) -> float:
    matcher = difflib.SequenceMatcher(None, have, target, autojunk=False)
    if len(have) <= len(target):
        return matcher.ratio()
    # A window longer than old_string is scored by how much of old_string it holds, in
    # runs long enough to mean something.
    least = 3 if len(target) >= 12 else 1
    same = sum(b.size for b in matcher.get_matching_blocks() if b.size >= least)
    return same / len(target)


def region_at(text: str, start: int, end: int) -> Region:
    """The whole lines holding text[start:end], as a Region."""
    first = text.rfind("\n", 0, start) + 1
    last = text.find("\n", max(end - 1, start))
    lines = text[first : len(text) if last < 0 else last].split("\n")
    number = line_of(text, first)
    return Region(number, number + len(lines) - 1, 1.0, lines)


def _norm(line: str) -> str:
    return " ".join(to_ascii(line).split())


def describe_regions(regions: list[Region], *, max_lines: int = 12) -> str:
    """The regions numbered like Read's output, for an error message."""
    out: list[str] = []
    for region in regions:
        span = (
            f"line {region.first}"
            if region.first == region.last
            else (f"lines {region.first}–{region.last}")
        )
        similar = f" ({region.similarity:.0%} similar)" if region.similarity < 1 else ""
        out.append(f"{span}{similar}:")
        for number, line in enumerate(region.lines[:max_lines], region.first):
            shown = line if len(line) <= 300 else line[:300] + " …"
            out.append(f"{number:>6}\t{shown}")
        if len(region.lines) > max_lines:
            out.append(f"   … {len(region.lines) - max_lines} more lines")
    return "\n".join(out)
