"""What a Bash command line will run, read with a real parser, and why it may never be auto-allowed.

`analyse()` parses with tree-sitter-bash and lists every simple command the line can run: the
parts of lists and pipelines, the bodies of if/for/while/case and functions, the commands inside
`$(…)`, backticks, `<(…)` and subshells, and the commands that wrappers (`timeout`, `env`,
`xargs`, `find -exec`, …) run. Anything the parser or this module cannot pin down becomes a
*problem*: a line with problems is never auto-allowed, whatever the rules say.

Wrappers are listed twice, consistently: the wrapper itself (`timeout 5 git log`) and, after
it, the command it runs (`git log`, with `wrapper="timeout"`). Both must be allowed. Redirects
stay on the command that carries them (the wrapper, for `timeout 5 ls > f`).

Words that depend on the run (variables, substitutions, unquoted globs and braces) keep their
source text (`$f`, `src/*.py`) in `argv`, and their indexes are in `SimpleCommand.dynamic`, so
no rule can match them as literals.

The reading is spread over `coda.permissions.shell`: `walker` walks the parse tree, `words`
removes quotes, `wrappers` and `interpreters` know the commands that run other code, `heredoc`
and `line_checks` catch text the parser may misread. This module is the API the policy uses.
"""

from __future__ import annotations

from coda.permissions.shell.model import Redirect, ShellAnalysis, SimpleCommand
from coda.permissions.shell.variables import dangerous_assignment, dangerous_variable
from coda.permissions.shell.walker import Walker
from coda.permissions.shell.wrappers import WRAPPERS, Unwrapped, WrapperGrammar, unwrap


def analyse(command: str) -> ShellAnalysis:
    """Parse `command` as Bash and list what it runs; never raises on odd input."""
    walker = Walker(command)
    try:
        walker.run()
    except RecursionError:
        walker.problems.append("the command is nested too deeply for coda to read")
    return ShellAnalysis(
        commands=tuple(walker.commands),
        problems=tuple(dict.fromkeys(walker.problems)),
        cd_targets=tuple(walker.cd_targets),
    )


def read_only_reason(cmd: SimpleCommand) -> str | None:
    """See `coda.permissions.readonly.read_only_reason` (here too, for one import)."""
    from coda.permissions.readonly import read_only_reason as reason

    return reason(cmd)


def path_arguments(cmd: SimpleCommand) -> list[str]:
    """See `coda.permissions.readonly.path_arguments` (here too, for one import)."""
    from coda.permissions.readonly import path_arguments as paths

    return paths(cmd)


__all__ = [
    "WRAPPERS",
    "Redirect",
    "ShellAnalysis",
    "SimpleCommand",
    "Unwrapped",
    "WrapperGrammar",
    "analyse",
    "dangerous_assignment",
    "dangerous_variable",
    "path_arguments",
    "read_only_reason",
    "unwrap",
]
