"""Permission rules in Claude Code's syntax: parsing, matching, and the rule "always allow" saves.

A rule is `Tool` or `Tool(spec)`:

- `Bash(npm run build)` exact, `Bash(npm test:*)` prefix by whole words, `Bash(git log *)`
  wildcard (Claude Code's newer form; a trailing ` *` also matches nothing, so `ls *` matches
  `ls` but not `lsof`). Matching is on the argv of one simple command, never on a raw line:
  splitting compound commands is the shell analysis's job.
- `Read(pattern)` / `Edit(pattern)`: gitignore patterns under one of four anchors. `//p` is
  absolute, `~/p` is under the home directory, `/p` is under the rule's `base` (the project
  root of the settings file it came from), `./p` is under the cwd, and a bare `p` is under
  the cwd with gitignore's floating semantics (`*.env` matches at any depth). `Read` rules
  cover Read, Glob, Grep and LS; `Edit` rules cover Edit, Write, MultiEdit and NotebookEdit.
  Leading `../` segments move the root up. `dir/**` also covers `dir` itself, so the rule
  that allows reading a directory's files also allows listing it.
- `WebFetch(domain:example.com)` exact host; `WebFetch(domain:*.example.com)` any subdomain.
- `mcp__server` (every tool of the server), `mcp__server__tool`, `mcp__server__get_*`.

`Tool(*)` means the same as `Tool` for every tool whose spec is not a path.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS"})
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
PATH_TOOLS = READ_TOOLS | EDIT_TOOLS

_TOOL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_MCP_NAME = re.compile(r"mcp__(?P<server>[A-Za-z0-9_.-]+?)(?:__(?P<tool>[A-Za-z0-9_.*-]+))?")
_DOMAIN = re.compile(r"(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?")
_WILD = object()  # an unquoted `*` in a Bash pattern


class RuleError(ValueError):
    """A permission rule coda cannot parse; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Rule:
    tool: str
    spec: str | None
    # As written in settings, for messages and for saving.
    text: str
    # The settings file the rule came from (None: built in, or inline --settings JSON).
    source: Path | None = None
    # The directory `/`-anchored path patterns resolve against.
    base: Path | None = None


def parse_rule(text: str, *, source: Path | None = None, base: Path | None = None) -> Rule:
    """Parse one rule string, or raise RuleError saying what is wrong with it."""
    stripped = text.strip()
    if not stripped:
        raise RuleError("empty rule")
    tool, spec = _split_rule(stripped)
    if tool.startswith("mcp__"):
        _check_mcp_name(tool)
        if spec is not None:
            raise RuleError(f"{stripped!r}: MCP rules take no (…) specifier")
    elif not _TOOL_NAME.fullmatch(tool):
        raise RuleError(f"{stripped!r}: {tool!r} is not a tool name")
    if spec is not None:
        if spec == "*" and tool not in PATH_TOOLS:
            spec = None  # `Bash(*)` is `Bash`, as in Claude Code
        else:
            try:
                _check_spec(tool, spec)
            except RuleError as exc:
                raise RuleError(f"{stripped!r}: {exc}") from None
    return Rule(tool=tool, spec=spec, text=stripped, source=source, base=base)


def _split_rule(text: str) -> tuple[str, str | None]:
    opening = text.find("(")
    if opening < 0:
        if ")" in text:
            raise RuleError(f"{text!r}: unbalanced parentheses")
        return text, None
    if not text.endswith(")"):
        raise RuleError(f"{text!r}: missing closing parenthesis")
    tool, spec = text[:opening], text[opening + 1 : -1]
    if not spec.strip():
        raise RuleError(f"{text!r}: empty (); write {tool!r} for every use of the tool")
    if not _balanced(spec, quotes=tool == "Bash"):
        raise RuleError(f"{text!r}: unbalanced parentheses (escape a literal one as \\( or \\))")
    return tool, spec


def _balanced(spec: str, *, quotes: bool) -> bool:
    """Parentheses balance, ignoring escaped ones (and, in commands, quoted ones)."""
    depth = 0
    quote = ""
    escaped = False
    for ch in spec:
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if ch == quote else quote
        elif quotes and ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    # An unterminated quote is reported by the spec's own check, with a better message.
    return depth == 0


def _check_mcp_name(tool: str) -> None:
    found = _MCP_NAME.fullmatch(tool)
    if not found or tool.endswith("_") or "*" in found["server"]:
        raise RuleError(
            f"{tool!r}: MCP rules are mcp__server, mcp__server__tool or mcp__server__* "
            "(a * only in the tool part)"
        )


def _check_spec(tool: str, spec: str) -> None:
    if tool == "Bash":
        _bash_pattern(spec)
    elif tool in PATH_TOOLS:
        _anchor(spec, Path("/"), Path("/"), Path("/"))
    elif tool == "WebFetch":
        _domain(spec)


# --- tools ---------------------------------------------------------------------------


def covers_tool(rule: Rule, tool_name: str) -> bool:
    """Whether the rule is about this tool at all (its spec, if any, still has to match)."""
    if rule.tool.startswith("mcp__"):
        return _mcp_matches(rule.tool, tool_name)
    if rule.tool == tool_name:
        return True
    if rule.tool == "Read":
        return tool_name in READ_TOOLS
    if rule.tool == "Edit":
        return tool_name in EDIT_TOOLS
    return False


def rule_matches_tool(rule: Rule, tool_name: str) -> bool:
    """Whether the rule matches every use of the tool: a bare `Tool` rule or an MCP rule."""
    return rule.spec is None and covers_tool(rule, tool_name)


def _mcp_matches(rule_tool: str, tool_name: str) -> bool:
    found = _MCP_NAME.fullmatch(rule_tool)
    if found is None:
        return False
    server, tool = found["server"], found["tool"]
    if tool is None:
        return tool_name.startswith(f"mcp__{server}__")
    if "*" not in tool:
        return tool_name == rule_tool
    regex = ".*".join(re.escape(part) for part in tool.split("*"))
    return re.fullmatch(f"mcp__{re.escape(server)}__{regex}", tool_name) is not None


# --- Bash ----------------------------------------------------------------------------

_Token = tuple[str | object, ...]  # literal strings and _WILD markers


@dataclass(frozen=True, slots=True)
class _BashPattern:
    kind: str  # "exact" | "prefix" | "wildcard"
    tokens: tuple[_Token, ...]


@functools.lru_cache(maxsize=512)
def _bash_pattern(spec: str) -> _BashPattern:
    prefix = spec.endswith(":*")
    tokens = _tokenize(spec[:-2] if prefix else spec)
    if not tokens:
        raise RuleError("no command before :*")
    wild = any(part is _WILD for token in tokens for part in token)
    if prefix and wild:
        raise RuleError("use either a :* suffix or * wildcards, not both")
    return _BashPattern("prefix" if prefix else "wildcard" if wild else "exact", tokens)


def _tokenize(text: str) -> tuple[_Token, ...]:
    """POSIX-shell word splitting that remembers which `*` were unquoted."""
    tokens: list[_Token] = []
    current: list[str | object] = []
    in_word = False
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
            else:
                current.append(ch)
        elif quote == '"':
            if ch == '"':
                quote = ""
            elif ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`':
                i += 1
                current.append(text[i])
            else:
                current.append(ch)
        elif ch.isspace():
            if in_word:
                tokens.append(tuple(current))
                current, in_word = [], False
        else:
            in_word = True
            if ch in "'\"":
                quote = ch
            elif ch == "\\":
                if i + 1 == len(text):
                    raise RuleError("trailing backslash")
                i += 1
                current.append(text[i])
            elif ch == "*":
                current.append(_WILD)
            else:
                current.append(ch)
        i += 1
    if quote:
        raise RuleError(f"unterminated {quote} quote")
    if in_word:
        tokens.append(tuple(current))
    return tuple(tokens)


def _literal(token: _Token) -> str:
    return "".join(part for part in token if isinstance(part, str))


def bash_rule_matches(rule: Rule, argv: Sequence[str]) -> bool:
    """Whether a Bash rule matches one simple command, given as its argv."""
    if rule.spec is None:
        return covers_tool(rule, "Bash")
    if rule.tool != "Bash" or not argv:
        return False
    pattern = _bash_pattern(rule.spec)
    words = [_literal(token) for token in pattern.tokens]
    if pattern.kind == "exact":
        return list(argv) == words
    if pattern.kind == "prefix":
        return list(argv[: len(words)]) == words
    return _wildcard_regex(pattern.tokens).fullmatch(" ".join(argv)) is not None


def _wildcard_regex(tokens: tuple[_Token, ...]) -> re.Pattern[str]:
    # Claude Code matches `*` against the command text, spaces included; so does this, on the
    # argv joined by single spaces.
    def word(token: _Token) -> str:
        return "".join(".*" if part is _WILD else re.escape(str(part)) for part in token)

    if len(tokens) > 1 and tokens[-1] == (_WILD,):
        body = " ".join(word(t) for t in tokens[:-1]) + "(?: .*)?"
    else:
        body = " ".join(word(t) for t in tokens)
    return re.compile(body, re.DOTALL)


# --- paths ---------------------------------------------------------------------------


def _anchor(spec: str, cwd: Path, home: Path, base: Path) -> tuple[Path, str]:
    """The directory a path spec is anchored at, and its gitignore pattern relative to it."""
    if spec.startswith("//"):
        root, rest, anchored = Path("/"), spec[2:], True
    elif spec == "~" or spec.startswith("~/"):
        root, rest, anchored = home, spec[2:], True
    elif spec.startswith("/"):
        root, rest, anchored = base, spec[1:], True
    elif spec == "." or spec.startswith("./"):
        root, rest, anchored = cwd, spec[2:], True
    else:
        root, rest, anchored = cwd, spec, False
    while rest == ".." or rest.startswith("../"):
        root, rest, anchored = root.parent, rest[3:], True
    rest = rest.lstrip("/") if anchored else rest
    if not rest:
        everything = spec + ("**" if spec.endswith("/") else "/**")
        raise RuleError(f"no path after the anchor; write {everything} for everything under it")
    if ".." in rest.split("/") or "." in rest.split("/"):
        raise RuleError("'.' and '..' are allowed only at the start of a path")
    if not anchored and rest[0] in "!#":
        raise RuleError(f"gitignore negations and comments are not rules; write ./{rest}")
    return root, ("/" + rest if anchored else rest)


@functools.lru_cache(maxsize=512)
def _gitignore(pattern: str) -> GitIgnoreSpec:
    from pathspec import GitIgnoreSpec

    lines = [pattern]
    if pattern.endswith("/**"):
        lines.append(pattern[:-2])  # `dir/**` covers `dir` itself too
    return GitIgnoreSpec.from_lines(lines)


def path_rule_matches(rule: Rule, path: Path, cwd: Path) -> bool:
    """Whether a Read/Edit rule matches a path (meant to be absolute and resolved already;
    resolving it again here costs little and keeps a relative path from slipping past a
    deny rule).

    A path outside the rule's anchor never matches. Stats the path once, to give directory
    patterns (`build/`) their gitignore meaning.
    """
    if rule.spec is None:
        return True
    if rule.tool not in PATH_TOOLS:
        return False
    cwd_real = Path(os.path.realpath(cwd))
    path = Path(os.path.realpath(cwd_real / path))
    base = Path(os.path.realpath(rule.base)) if rule.base is not None else cwd_real
    root, pattern = _anchor(rule.spec, cwd_real, Path(os.path.realpath(Path.home())), base)
    root = Path(os.path.realpath(root))
    if not path.is_relative_to(root):
        return False
    rel = path.relative_to(root).as_posix()
    if rel == ".":
        return pattern.lstrip("/") in ("**", "**/*")
    match = _gitignore(pattern).match_file
    return bool(match(rel) or (path.is_dir() and match(rel + "/")))


# --- WebFetch ------------------------------------------------------------------------


def _domain(spec: str) -> str:
    if not spec.startswith("domain:"):
        raise RuleError("WebFetch rules are WebFetch(domain:HOST)")
    host = spec[len("domain:") :].strip()
    if not _DOMAIN.fullmatch(host):
        raise RuleError(f"{host!r} is not a host name or *.domain")
    return host.lower().rstrip(".")


def domain_rule_matches(rule: Rule, host: str) -> bool:
    """Whether a WebFetch rule matches a host: exactly, or any subdomain for `*.domain`."""
    if rule.spec is None:
        return covers_tool(rule, "WebFetch")
    if rule.tool != "WebFetch":
        return False
    want = _domain(rule.spec)
    host = host.lower().rstrip(".")
    if want.startswith("*."):
        return host.endswith(want[1:]) and len(host) > len(want) - 1
    return host == want


# --- suggestions ---------------------------------------------------------------------

# fmt: off
# Commands whose arguments decide what runs or what is destroyed: a prefix rule on them
# (even on two words, `rm build:*`) would allow far more than the one command approved.
_EXACT_ONLY = frozenset({
    "bash", "sh", "zsh", "fish", "dash", "ksh", "env", "sudo", "doas", "su", "xargs", "exec",
    "eval", "nohup", "nice", "time", "timeout", "watch", "ssh", "python", "python3", "node",
    "deno", "bun", "ruby", "perl", "php", "lua", "osascript", "rm", "rmdir", "mv", "cp", "ln",
    "dd", "chmod", "chown", "chgrp", "truncate", "shred", "tee", "find", "kill", "killall",
})
# Subcommands that rewrite history or throw work away: saved exactly, never as a prefix.
_RISKY_SUBCOMMANDS = {
    "git": frozenset({
        "push", "reset", "clean", "rebase", "checkout", "restore", "switch", "branch", "tag",
        "rm", "stash", "filter-branch", "update-ref", "gc", "prune", "reflog", "config",
    }),
}
# Read-only inspection commands, for which one prefix rule on the command is precise enough.
_INSPECTORS = frozenset({
    "ls", "cat", "head", "tail", "wc", "grep", "pwd", "echo", "which", "file", "stat", "du",
    "df", "tree", "diff",
})
# fmt: on
_SUBCOMMAND = re.compile(r"[A-Za-z][A-Za-z0-9_-]*(:[A-Za-z0-9_-]+)*")
_RUN_VERBS = frozenset({"run", "exec", "x"})


def suggest_rule(
    tool_name: str,
    *,
    argv: Sequence[str] | None = None,
    path: Path | None = None,
    cwd: Path | None = None,
    host: str | None = None,
) -> str:
    """The one precise rule an "always allow" answer saves; never a whole tool like `Bash`."""
    if tool_name == "Bash":
        if not argv:
            raise ValueError("suggest_rule('Bash') needs argv")
        return f"Bash({_bash_suggestion(list(argv))})"
    if tool_name in PATH_TOOLS:
        if path is None or cwd is None:
            raise ValueError(f"suggest_rule({tool_name!r}) needs path and cwd")
        return _path_suggestion(tool_name, path, cwd)
    if tool_name == "WebFetch":
        if not host:
            raise ValueError("suggest_rule('WebFetch') needs host")
        return f"WebFetch(domain:{host.lower().rstrip('.')})"
    # MCP tools and tools without a specifier: the tool's own name is the narrowest rule.
    return tool_name


def _bash_suggestion(argv: list[str]) -> str:
    first, rest = argv[0], argv[1:]
    if not rest or first in _EXACT_ONLY:
        return _quote_words(argv)
    risky = _RISKY_SUBCOMMANDS.get(first, frozenset())
    if _SUBCOMMAND.fullmatch(rest[0]) and rest[0] not in risky:
        words = argv[:2]
        if rest[0] in _RUN_VERBS and len(rest) > 1 and _SUBCOMMAND.fullmatch(rest[1]):
            words = argv[:3]  # `npm run build:*`, not every npm script
        return _quote_words(words) + ":*"
    if first in _INSPECTORS:
        return _quote_words([first]) + ":*"
    return _quote_words(argv)


def _quote_words(words: list[str]) -> str:
    # shlex quoting keeps a literal `*` literal; parentheses are quoted too, so the rule
    # text stays balanced.
    out = []
    for word in words:
        quoted = shlex.quote(word)
        if quoted == word and any(ch in word for ch in "()"):
            quoted = "'" + word + "'"
        out.append(quoted)
    return " ".join(out)


def _path_suggestion(tool_name: str, path: Path, cwd: Path) -> str:
    rule_tool = "Read" if tool_name in READ_TOOLS else "Edit"
    real = Path(os.path.realpath(path))
    cwd_real = Path(os.path.realpath(cwd))
    if rule_tool == "Edit":
        if real.is_relative_to(cwd_real) and real != cwd_real:
            return f"Edit(./{_escape(real.relative_to(cwd_real).as_posix())})"
        return f"Edit(//{_escape(real.as_posix().lstrip('/'))})"
    target = real if real.is_dir() else real.parent
    if real.is_relative_to(cwd_real) and real != cwd_real:
        return f"Read(./{_escape(real.relative_to(cwd_real).as_posix())})"
    inner = target.as_posix().strip("/")
    return f"Read(//{_escape(inner)}/**)" if inner else "Read(//**)"


def _escape(rel: str) -> str:
    """Escape gitignore's special characters (and parentheses) in a literal path."""
    escaped = re.sub(r"([\\*?\[\]()])", r"\\\1", rel)
    return escaped[:-1] + "\\ " if escaped.endswith(" ") else escaped
