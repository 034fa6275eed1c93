"""Commands that run code coda cannot see: eval and kin, git -c, interpreters given code inline."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from coda.permissions.shell.words import Word, word_set

# Text that bash evaluates again as an array subscript (test -v, arithmetic, unset, declare).
_SUBSCRIPT_CODE = re.compile(r"\[[^\]]*(\$[({]|`)")


def command_problem(name: str, words: Sequence[Word], stdin_code: bool) -> str | None:
    """Why running `name` with `words` (its arguments) may run code coda cannot see, if it may."""
    args = [w.value for w in words]
    static = [w.value for w in words if not w.dynamic]
    if name == "eval":
        return "eval runs a string as code"
    if name in ("source", "."):
        return f"{name} runs a file as shell code"
    if name == "trap":
        return "trap sets code to run later"
    if name in ("alias", "unalias"):
        return "aliases change what a command name runs"
    if name == "enable":
        return "enable switches shell builtins on and off"
    if name == "builtin":
        return "builtin calls a shell builtin by a name coda does not check"
    if name == "hash" and any(a.startswith("-") and "p" in a for a in args):
        return "hash -p changes what a command name runs"
    if name in ("fc", "coproc", "watch"):
        return f"{name} runs commands that coda cannot see"
    if name in ("mapfile", "readarray") and any(a.startswith("-") and "C" in a for a in args):
        return f"{name} -C runs a callback"
    if name == "set" and any(_set_keyword(a) for a in args):
        return "set -k turns later words into assignments"
    if name == "let" and any(w.dynamic or re.search(r"[$`\[]", w.value) for w in words):
        return "let evaluates its arguments as arithmetic, which can run code"
    if name == "git":
        return _git_problem(args)
    if name == "exec" and args:
        return "exec replaces the shell with another command"
    for value in static:
        if _SUBSCRIPT_CODE.search(value):
            return f"{value!r} holds code in an array subscript, which bash may evaluate"
    return _inline_code(name, args, [w.dynamic for w in words], stdin_code)


def _set_keyword(arg: str) -> bool:
    return (
        arg.startswith(("-", "+")) and not arg.startswith("--") and "k" in arg
    ) or arg == "keyword"


def _git_problem(args: Sequence[str]) -> str | None:
    """Problems in git's global options, before the subcommand."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "-c" or (word.startswith("-c") and not word.startswith("--")):
            return "git -c sets configuration, which can run programs"
        if word.startswith("--config-env"):
            return "git --config-env sets configuration, which can run programs"
        if word.startswith("--exec-path="):
            return "git --exec-path changes where git finds its programs"
        if word in ("-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix"):
            i += 2
            continue
        if not word.startswith("-"):
            return None
        i += 1
    return None


# -- interpreters ------------------------------------------------------------------------------

_SHELLS = word_set("sh bash zsh dash ksh mksh ash yash fish csh tcsh rbash pwsh")
_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?")


@dataclass(frozen=True, slots=True)
class _Interpreter:
    inline: str  # short options that take code on the command line
    inline_long: frozenset[str] = frozenset()  # long options that do, matched exactly
    takes_value: str = ""  # short options whose value is the rest of the word or the next word
    stdin_flags: str = ""  # short options that make it read code from its input
    permutes: bool = False  # options may follow operands (GNU getopt): read every word


def _i(
    inline: str, long: str = "", takes_value: str = "", stdin: str = "", permutes: bool = False
) -> _Interpreter:
    return _Interpreter(inline, frozenset(long.split()), takes_value, stdin, permutes)


_INTERPRETERS: dict[str, _Interpreter] = {
    "shell": _i("c", "--command", "oO", "s"),
    "python": _i("c", "", "WXm"),
    "perl": _i("eE", "", "MmIxV"),
    "ruby": _i("e", "", "IrECxFK"),
    "node": _i("ep", "--eval --print", "r"),
    "php": _i("rBRE", "", "cdfz"),
    "lua": _i("e", "", "l"),
    "Rscript": _i("e", "--expr"),
    "osascript": _i("e"),
    "expect": _i("c"),
    "su": _i("c", "--command --session-command", "gGsw", permutes=True),
    "script": _i("c", "--command", "IOBTEm", permutes=True),
    "flock": _i("c", "--command", "Ew", permutes=True),
    "gdb": _i(
        "", "-ex --ex -eval-command --eval-command -iex -x --command -batch-silent", permutes=True
    ),
    "vim": _i("c", "--cmd -S", permutes=True),
    "emacs": _i("", "--eval -eval --execute -execute -f --funcall -l --load", permutes=True),
}
_READS_STDIN = frozenset({"shell", "python", "perl", "ruby", "node", "php", "lua", "Rscript"})


def _interpreter_kind(name: str) -> str | None:
    if name in _SHELLS:
        return "shell"
    if _PYTHON.fullmatch(name):
        return "python"
    if name in ("node", "nodejs", "bun", "deno", "tsx", "ts-node"):
        return "node"
    if name in ("lua", "luajit"):
        return "lua"
    if name in ("R", "Rscript"):
        return "Rscript"
    if name in ("runuser",):
        return "su"
    if name in ("nvim", "vi", "ex", "view"):
        return "vim"
    return name if name in _INTERPRETERS else None


def _inline_code(
    name: str, args: Sequence[str], dynamic: Sequence[bool], stdin_code: bool
) -> str | None:
    """Why `name args` runs code written on the command line or fed to its input, if it does.

    Errs towards seeing code: a word that might be an option's value is still read as options
    when it starts with "-", and a word after a long option may be its value.
    """
    kind = _interpreter_kind(name)
    if kind is None:
        return None
    spec = _INTERPRETERS[kind]
    script: str | None = None
    from_stdin = False
    after_long = False
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if dynamic[i - 1]:
            # Until the script is known, a word known only at run time may be an option like -c.
            return f"the arguments of {name} are only known when it runs"
        if word == "--" and not spec.permutes:
            script = args[i] if i < len(args) else None
            break
        if kind == "vim" and word.startswith("+"):
            return f"{name} {word} runs an editor command"
        long_name = word.partition("=")[0]
        if long_name in spec.inline_long:
            return f"{name} {long_name} runs code given on the command line"
        if word.startswith("--") or (spec.permutes and not spec.inline and word.startswith("-")):
            after_long = "=" not in word
            continue
        if word.startswith(("-", "+")) and len(word) > 1:
            for j, letter in enumerate(word[1:], start=1):
                if letter in spec.inline:
                    return f"{name} -{letter} runs code given on the command line"
                if letter in spec.stdin_flags:
                    from_stdin = True
                if letter in spec.takes_value:
                    if kind == "python" and letter == "m":
                        script = "-m"  # runs a module; what follows are its arguments
                    elif j == len(word) - 1 and i < len(args) and not args[i].startswith("-"):
                        i += 1
                    break
            if script is not None:
                break
            after_long = False
            continue
        if after_long or spec.permutes:
            after_long = False
            continue
        script = word
        break
    if name == "deno" and script == "eval":
        return "deno eval runs code given on the command line"
    if stdin_code and kind in _READS_STDIN and (from_stdin or script in (None, "-")):
        return f"{name} reads code from its input"
    return None
