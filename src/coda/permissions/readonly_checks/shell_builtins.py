"""The shell builtins (cd, set, read) and wrappers on the read-only list, and harmless settings."""

from __future__ import annotations

import re
from collections.abc import Sequence

from coda.permissions.readonly_checks.options import Check, Options, Result, Words, parse
from coda.permissions.shell.variables import dangerous_variable
from coda.permissions.shell.words import word_set
from coda.permissions.shell.wrappers import unwrap

_HARMLESS_ENV = word_set(
    "LANG LANGUAGE TZ IFS NO_COLOR FORCE_COLOR CLICOLOR CLICOLOR_FORCE COLUMNS LINES TERM"
    " COLORTERM GREP_COLOR GREP_COLORS LS_COLORS TIME_STYLE QUOTING_STYLE BLOCK_SIZE"
    " DU_BLOCK_SIZE DF_BLOCK_SIZE GIT_PAGER PAGER MANPAGER"
)
_PAGER_VARIABLES = frozenset({"GIT_PAGER", "PAGER", "MANPAGER"})
_LOCAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def env_reason(env: Sequence[tuple[str, str]], bare: bool) -> str | None:
    """Why NAME=value settings make a command not read-only; `bare` for lines of only those."""
    for name, value in env:
        if bare:
            if not _LOCAL_NAME.fullmatch(name) or dangerous_variable(name):
                return f"assigning {name} changes the environment of later commands"
            continue
        if name in _PAGER_VARIABLES and value not in ("cat", ""):
            return f"{name}={value} runs another program"
        if name not in _HARMLESS_ENV and not name.startswith("LC_"):
            return f"{name}=… is set for the command"
    return None


def _cd(words: Words) -> Result:
    name = words[0][0]
    operands = [(w, d) for w, d in words[1:] if d or not (w.startswith("-") and len(w) > 1)]
    if name == "popd":
        return "popd goes to a directory only known when it runs", []
    if not operands:
        if name == "pushd":
            return "pushd without a directory goes to one only known when it runs", []
        return None, ["~"]
    target, dynamic = operands[0]
    if dynamic or target == "-" or target.startswith("+"):
        return f"{name} goes to a directory only known when it runs", [target]
    return None, [target]


_SET_NAMES = word_set("errexit nounset pipefail xtrace verbose noglob noclobber")


def _set_builtin(words: Words) -> Result:
    i = 1
    while i < len(words):
        word, dynamic = words[i]
        i += 1
        if dynamic:
            return "set: an argument is only known when it runs", []
        if word == "--":
            return None, []
        if word[:1] not in "-+" or not re.fullmatch(r"[-+][euxvfCo]+", word):
            return f"set {word} is not known to be read-only", []
        if word.endswith("o") and i < len(words):  # a bare `set -o` lists the options
            if words[i][0] not in _SET_NAMES:
                return "set -o with that option is not known to be read-only", []
            i += 1
    return None, []


_READ = Options(
    values="adinNptu", only=word_set("-a -d -e -i -n -N -p -r -s -t -u"), dynamic_ok=False
)


def _read(words: Words) -> Result:
    """`read` only sets shell variables, but PATH or IFS must not be among them."""
    parsed = parse("read", words[1:], _READ)
    if isinstance(parsed, str):
        return parsed, []
    names = [*parsed.operands, *(v or "" for k, v in parsed.options if k == "-a")]
    for name in names:
        if not _LOCAL_NAME.fullmatch(name) or dangerous_variable(name):
            return f"read would assign {name}, which can change later commands", []
    return None, []


# -- wrappers ----------------------------------------------------------------------------------

_READ_ONLY_WRAPPERS = ("timeout", "nice", "time", "env", "stdbuf", "xargs", "command")


def _wrapper(words: Words) -> Result:
    name = words[0][0]
    result = unwrap(name, [w for w, _ in words[1:]], [d for _, d in words[1:]])
    if isinstance(result, str):
        return result, []
    paths = [v for k, v in result.options if k in ("-C", "--chdir", "-a", "--arg-file") and v]
    return env_reason(result.env, bare=False), paths


CHECKS: dict[str, Check] = {
    **{name: _cd for name in ("cd", "pushd", "popd")},
    "set": _set_builtin,
    "read": _read,
    **{name: _wrapper for name in _READ_ONLY_WRAPPERS},
}
