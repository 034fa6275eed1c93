"""Wrappers, commands that run another (`timeout`, `env`, `xargs`, ...): options and command."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from coda.permissions.shell.words import Word, word_set

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\+?=")


@dataclass(frozen=True, slots=True)
class WrapperGrammar:
    """How a command that runs another command reads its own options."""

    flags: frozenset[str] = frozenset()  # options without a value
    valued: frozenset[str] = frozenset()  # options that take a value
    optional: frozenset[str] = frozenset()  # options whose value must be attached (-i{})
    operands: int = 0  # words between the options and the command (timeout's DURATION)
    assignments: bool = False  # NAME=value words before the command (env, sudo)
    numeric: bool = False  # -5 style options (nice)
    shell: frozenset[str] = frozenset()  # options that hand the command to a shell
    query: frozenset[str] = frozenset()  # options after which the words are not run (command -v)


def _g(
    flags: str = "",
    valued: str = "",
    optional: str = "",
    *,
    shell: str = "",
    query: str = "",
    operands: int = 0,
    assignments: bool = False,
    numeric: bool = False,
) -> WrapperGrammar:
    return WrapperGrammar(
        word_set(flags),
        word_set(valued),
        word_set(optional),
        operands=operands,
        assignments=assignments,
        numeric=numeric,
        shell=word_set(shell),
        query=word_set(query),
    )


WRAPPERS: dict[str, WrapperGrammar] = {
    "timeout": _g(
        "--preserve-status --foreground -v --verbose", "-s --signal -k --kill-after", operands=1
    ),
    "nice": _g("", "-n --adjustment", numeric=True),
    "nohup": _g(),
    "time": _g("-p"),
    "env": _g(
        "- -i --ignore-environment -0 --null -v --debug --list-signal-handling",
        "-u --unset -C --chdir -a --argv0",
        "--block-signal --default-signal --ignore-signal",
        shell="-S --split-string",
        assignments=True,
    ),
    "stdbuf": _g("", "-i -o -e --input --output --error"),
    "ionice": _g("-t --ignore", "-c --class -n --classdata", query="-p --pid -P --pgid -u --uid"),
    "setsid": _g("-c --ctty -f --fork -w --wait"),
    "command": _g("-p", query="-v -V"),
    "exec": _g("-c -l", "-a"),
    "sudo": _g(
        "-A --askpass -b --background -E -H --set-home -k --reset-timestamp -n --non-interactive"
        " -P --preserve-groups -S --stdin -K --remove-timestamp -N --no-update",
        "-u --user -g --group -C --close-from -D --chdir -h --host -p --prompt -r --role"
        " -t --type -T --command-timeout -U --other-user",
        "--preserve-env",
        shell="-s --shell -i --login -e --edit",
        query="-l --list -v --validate -V --version",
        assignments=True,
    ),
    "doas": _g("-n", "-u -C", shell="-s"),
    "xargs": _g(
        "-0 --null -r --no-run-if-empty -t --verbose -p --interactive -x --exit -o --open-tty"
        " --show-limits",
        "-a --arg-file -d --delimiter -E -I -L -n --max-args -P --max-procs -s --max-chars"
        " --process-slot-var",
        "-e --eof -i --replace -l --max-lines",
    ),
    "busybox": _g(),
}


@dataclass(frozen=True, slots=True)
class Unwrapped:
    options: tuple[tuple[str, str | None], ...]  # the wrapper's own options, in order
    env: tuple[tuple[str, str], ...]  # NAME=value words the wrapper sets (env, sudo)
    command_index: int | None  # index into the argument list where the inner command starts


def unwrap(name: str, args: Sequence[str], dynamic: Sequence[bool] = ()) -> Unwrapped | str:
    """Split a wrapper's arguments into its options and the command it runs, or say why not.

    `args` are the words after the wrapper's name; `dynamic[i]` marks words known only at run
    time. Unknown options are refused: a wrapper we cannot read might run anything.
    """
    grammar = WRAPPERS[name]
    options: list[tuple[str, str | None]] = []
    env: list[tuple[str, str]] = []
    i = 0
    while i < len(args):
        word = args[i]
        if i < len(dynamic) and dynamic[i]:
            return f"the arguments of {name} are only known when it runs"
        if word == "--":
            i += 1
            break
        if word in grammar.flags:
            options.append((word, None))
            i += 1
        elif word.startswith("-") and len(word) > 1:
            read = _long_option if word.startswith("--") else _short_options
            step = read(name, grammar, args, i, options)
            if isinstance(step, str):
                return step
            i = step
        elif grammar.assignments and _ASSIGNMENT.match(word):
            key, _, value = word.partition("=")
            env.append((key.rstrip("+"), value))
            i += 1
        else:
            break
    if any(opt in grammar.query for opt, _ in options):
        return Unwrapped(tuple(options), tuple(env), None)
    i += grammar.operands
    return Unwrapped(tuple(options), tuple(env), i if i < len(args) else None)


def _long_option(
    name: str,
    grammar: WrapperGrammar,
    args: Sequence[str],
    i: int,
    options: list[tuple[str, str | None]],
) -> int | str:
    """Read the --option at `args[i]` into `options`: the index of the next word, or why not."""
    opt, eq, value = args[i].partition("=")
    if opt in grammar.shell:
        return f"{name} {opt} runs the command through a shell"
    if opt in grammar.valued:
        if not eq:
            if i + 1 >= len(args):
                return f"{name} {opt} needs a value"
            value = args[i + 1]
            i += 1
        options.append((opt, value))
    elif opt in grammar.optional or opt in grammar.flags or opt in grammar.query:
        options.append((opt, value if eq else None))
    else:
        return f"{name} has an option coda does not know: {opt}"
    return i + 1


def _short_options(
    name: str,
    grammar: WrapperGrammar,
    args: Sequence[str],
    i: int,
    options: list[tuple[str, str | None]],
) -> int | str:
    """Read the -abc flags at `args[i]` and the value the last may take, as `_long_option`."""
    word = args[i]
    if grammar.numeric and word[1:].isdigit():
        options.append((word, None))
        return i + 1
    j = 1
    while j < len(word):
        opt = "-" + word[j]
        rest = word[j + 1 :]
        if opt in grammar.shell:
            return f"{name} {opt} runs the command through a shell"
        if opt in grammar.valued:
            if not rest:
                if i + 1 >= len(args):
                    return f"{name} {opt} needs a value"
                rest = args[i + 1]
                i += 1
            options.append((opt, rest))
            break
        if opt in grammar.optional:
            options.append((opt, rest or None))
            break
        if opt in grammar.flags or opt in grammar.query:
            options.append((opt, None))
            j += 1
            continue
        return f"{name} has an option coda does not know: {opt}"
    return i + 1


def xargs_command(inner: list[Word], options: Iterable[tuple[str, str | None]]) -> list[Word]:
    """The command xargs runs. Words holding the -I string are only known at run time, and
    without -I a last dynamic word "{}" stands for the words xargs reads from its input."""
    replace: str | None = None
    for key, value in options:
        if key == "-I":
            replace = value
        elif key in ("-i", "--replace"):
            replace = value or "{}"
    if replace:
        return [Word(w.value, w.dynamic or replace in w.value, w.start, w.end) for w in inner]
    end = inner[-1].end
    return [*inner, Word("{}", True, end, end)]


def find_exec_commands(words: Sequence[Word]) -> tuple[list[tuple[str, list[Word]]], str | None]:
    """What `find -exec` and its kin run, as (action, words), and why the rest cannot be read."""
    commands: list[tuple[str, list[Word]]] = []
    i = 1
    while i < len(words):
        action = words[i].value
        i += 1
        if words[i - 1].dynamic or action not in ("-exec", "-execdir", "-ok", "-okdir"):
            continue
        inner: list[Word] = []
        while i < len(words):
            word = words[i]
            i += 1
            if not word.dynamic and (
                word.value == ";" or (word.value == "+" and inner and inner[-1].value == "{}")
            ):
                break
            inner.append(word)
        else:
            return commands, f"find {action} has no ; or + at its end"
        if not inner:
            return commands, f"find {action} has no command"
        inner = [Word(w.value, w.dynamic or "{}" in w.value, w.start, w.end) for w in inner]
        commands.append((action, inner))
    return commands, None
