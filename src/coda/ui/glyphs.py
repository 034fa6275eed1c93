"""The characters coda draws with: Unicode where the terminal can show it, ASCII where not."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Glyphs:
    unicode: bool
    spinner: tuple[str, ...]
    tool: str  # before a tool call
    result: str  # before a tool's result, under the call
    ok: str
    error: str
    thought: str
    prompt: str
    ellipsis: str
    dot: str  # between parts of a status line
    todo_done: str
    todo_active: str
    todo_pending: str
    arrow: str


UNICODE = Glyphs(
    unicode=True,
    spinner=("⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"),
    tool="●",
    result="⎿",
    ok="✓",
    error="✗",
    thought="✻",
    prompt="❯",
    ellipsis="…",
    dot="·",
    todo_done="☒",
    todo_active="◐",
    todo_pending="☐",
    arrow="→",
)

ASCII = Glyphs(
    unicode=False,
    spinner=("|", "/", "-", "\\"),
    tool="*",
    result="|_",
    ok="ok",
    error="x",
    thought="*",
    prompt=">",
    ellipsis="...",
    dot="|",
    todo_done="[x]",
    todo_active="[~]",
    todo_pending="[ ]",
    arrow="->",
)


def unicode_terminal(env: Mapping[str, str]) -> bool:
    """Whether the locale says the terminal shows UTF-8.

    sys.stdout.encoding cannot tell: under the C locale Python runs in UTF-8 mode and sets
    LC_CTYPE=C.UTF-8 in its own environment (PEP 538), so that value, next to a LANG of C
    or none, is Python's doing and not the terminal's.
    """
    lc_all, lc_ctype, lang = (env.get(k, "") for k in ("LC_ALL", "LC_CTYPE", "LANG"))
    if lc_ctype in _COERCED and not lc_all and lang in ("", "C", "POSIX"):
        lc_ctype = ""
    value = lc_all or lc_ctype or lang
    return "utf8" in value.lower().replace("-", "")


_COERCED = frozenset({"C.UTF-8", "C.utf8", "UTF-8"})


def glyphs_for(env: Mapping[str, str]) -> Glyphs:
    return UNICODE if unicode_terminal(env) else ASCII
