"""How a command on the read-only list reads its options, and the checks built from that alone."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Words = Sequence[tuple[str, bool]]  # (value, only known at run time)
Result = tuple[str | None, list[str]]  # (why not read-only, words that name files)
Check = Callable[[Words], Result]  # the words include the command name

NOT_LISTED = "not on the read-only list"


@dataclass(frozen=True, slots=True)
class Options:
    """How one command reads its options, and which of them are refused."""

    deny: Mapping[str, str] = field(default_factory=dict)  # "-o" / "--output" -> why
    values: str = ""  # short options that take a value: "-e PAT", "-ePAT"
    long_values: frozenset[str] = frozenset()  # long options whose value may be the next word
    paths: frozenset[str] = frozenset()  # options whose value names a file
    only: frozenset[str] | None = None  # when set, every option must be one of these
    dynamic_ok: bool = True  # may words known only at run time appear?
    operand_paths: bool = True  # do operands name files?
    max_operands: int | None = None
    abbreviations: bool = True  # does the tool accept --outp for --output?
    pattern_first: bool = False  # is the first operand a pattern unless -e/-f give one (grep)?


@dataclass(slots=True)
class Parsed:
    options: list[tuple[str, str | None]]
    operands: list[str]
    paths: list[str]
    unknown: list[str] = field(default_factory=list)  # paths only known at run time


def confined(word: str) -> bool:
    """Whether a path only known at run time is still pinned down by its text: a glob like
    `src/*.py` is (the policy checks its fixed part); `$f`, `{/etc/passwd,x}`, `~-/x` and
    `.*/x` (which can match `..`) are not."""
    if word.startswith(("<(", ">(")):
        return True  # a process substitution reads from a pipe
    if "$" in word or "`" in word or ("{" in word and "}" in word):
        return False
    if word.startswith("~") and not re.match(r"~([A-Za-z_][\w.-]*)?(/|$)", word):
        return False
    parts = word.split("/")
    return not any(p == ".." or (p.startswith(".") and re.search(r"[*?\[]", p)) for p in parts)


def parse(label: str, words: Words, spec: Options) -> Parsed | str:
    """Read `words` (without the command name) as `spec` says; a string says why not."""
    parsed = Parsed([], [], [])
    operand_dynamic: list[bool] = []
    i = 0
    ended = False
    while i < len(words):
        word, dynamic = words[i]
        i += 1
        if dynamic and not spec.dynamic_ok:
            return f"{label}: the argument {word} is only known when it runs"
        if ended or dynamic or word == "-" or not word.startswith("-"):
            parsed.operands.append(word)
            operand_dynamic.append(dynamic)
            continue
        if word == "--":
            ended = True
            continue
        read = _long_option if word.startswith("--") else _short_options
        step = read(label, word, words, i, spec, parsed)
        if isinstance(step, str):
            return step
        i = step
    if spec.max_operands is not None and len(parsed.operands) > spec.max_operands:
        return f"{label} with more than {spec.max_operands} operand(s) can write a file"
    if spec.operand_paths:
        operands = list(zip(parsed.operands, operand_dynamic, strict=True))
        if spec.pattern_first and not any(
            k in ("-e", "-f", "--regexp", "--file", "--files") for k, _ in parsed.options
        ):
            operands = operands[1:]
        parsed.paths.extend(word for word, _ in operands)
        parsed.unknown.extend(word for word, dynamic in operands if dynamic)
    return parsed


def _long_option(
    label: str, word: str, words: Words, i: int, spec: Options, parsed: Parsed
) -> int | str:
    """Read `word`, a --long option, into `parsed`; `words[i]` is the word after it.

    Returns the index of the next word to read, or why the option is refused.
    """
    name, eq, value = word.partition("=")
    for denied, why in spec.deny.items():
        if denied == name or (
            spec.abbreviations and denied.startswith("--") and denied.startswith(name)
        ):
            return why
    if spec.only is not None and name not in spec.only:
        return f"{label} {name} is not known to be read-only"
    value_dynamic = False
    if not eq and name[2:] in spec.long_values:
        if i >= len(words):
            return f"{label} {name} needs a value"
        value, value_dynamic = words[i]
        if value_dynamic and not spec.dynamic_ok:
            return f"{label}: the argument {value} is only known when it runs"
        i += 1
        eq = "="
    parsed.options.append((name, value if eq else None))
    if name in spec.paths and eq:
        parsed.paths.append(value)
        if value_dynamic:
            parsed.unknown.append(value)
    return i


def _short_options(
    label: str, word: str, words: Words, i: int, spec: Options, parsed: Parsed
) -> int | str:
    """Read `word`, short flags run together (`-ni`, `-ofile`), into `parsed`, as `_long_option`."""
    for j in range(1, len(word)):
        flag = "-" + word[j]
        if flag in spec.deny:
            return spec.deny[flag]
        if word[j] in spec.values:
            value, value_dynamic = word[j + 1 :], False
            if not value:
                if i >= len(words):
                    return f"{label} {flag} needs a value"
                value, value_dynamic = words[i]
                if value_dynamic and not spec.dynamic_ok:
                    return f"{label}: the argument {value} is only known when it runs"
                i += 1
            parsed.options.append((flag, value))
            if flag in spec.paths:
                parsed.paths.append(value)
                if value_dynamic:
                    parsed.unknown.append(value)
            break
        if spec.only is not None and flag not in spec.only:
            return f"{label} {flag} is not known to be read-only"
        parsed.options.append((flag, None))
    return i


def _unknown_path(label: str, words: Sequence[str]) -> str | None:
    for word in words:
        if not confined(word):
            return f"{label} reads {word}, a path only known when it runs"
    return None


def simple(spec: Options) -> Check:
    """The check for a command that `spec` alone describes."""

    def check(words: Words) -> Result:
        parsed = parse(words[0][0], words[1:], spec)
        if isinstance(parsed, str):
            return parsed, [w for w, _ in words[1:] if not w.startswith("-")]
        return _unknown_path(words[0][0], parsed.unknown), parsed.paths

    return check
