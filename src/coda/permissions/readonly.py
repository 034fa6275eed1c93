"""The built-in read-only list: commands that may run without asking, with checks on their
options so that none can run another program or write a file.

`read_only_reason(cmd)` is None only for a command on the list whose every option is known to
be harmless; anything unknown is a reason. Flags are read the way the tools read them: combined
short flags (`sed -ni`), attached values (`sort -ofile`), `--flag=value`, `--` ending options,
and long options matched by prefix when the tool accepts abbreviations (`--out` for `--output`).
A wrapper (`timeout`, `env`, `xargs`, ...) is judged on its own options only: the command it
runs is listed separately by `analyse()` and must be allowed on its own.

The options are read in `coda.permissions.readonly_checks.options`; the list itself, with a
module for each tool that needs more than a table (sed, awk, find, git, the shell builtins),
is in `coda.permissions.readonly_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from coda.permissions.readonly_checks.options import NOT_LISTED
from coda.permissions.readonly_checks.options import Options as Options
from coda.permissions.readonly_checks.options import Parsed as Parsed
from coda.permissions.readonly_checks.options import Result as Result
from coda.permissions.readonly_checks.options import Words as Words
from coda.permissions.readonly_checks.options import confined as confined
from coda.permissions.readonly_checks.options import parse as parse
from coda.permissions.readonly_checks.sed import sed_script_reason
from coda.permissions.readonly_checks.shell_builtins import env_reason
from coda.permissions.readonly_checks.table import CHECKS
from coda.permissions.shell.model import SimpleCommand
from coda.permissions.shell.variables import dangerous_variable as dangerous_variable
from coda.permissions.shell.words import word_set
from coda.permissions.shell.wrappers import unwrap as unwrap


def read_only_reason(cmd: SimpleCommand) -> str | None:
    """None when `cmd` is on the read-only list and none of its flags can run or write."""
    return _judge(cmd)[0]


def path_arguments(cmd: SimpleCommand) -> list[str]:
    """The words of `cmd` that name files or directories (operands and path-valued options).

    Best effort, erring towards listing more. Words only known at run time are listed with
    their source text (`$f`, `src/*.py`): check `cmd.dynamic` before trusting them.
    """
    return _judge(cmd)[1]


def _judge(cmd: SimpleCommand) -> Result:
    # Files opened for reading by `<` are read as surely as operands are.
    inputs = [r for r in cmd.redirects if r.op.lstrip("0123456789") == "<"]
    unknown = next((r for r in inputs if r.target is None), None)
    reason, paths = _judge_words(cmd)
    if unknown is not None and reason is None:
        reason = "it reads a file named only when it runs"
    return reason, [*paths, *(r.target for r in inputs if r.target is not None)]


def _judge_words(cmd: SimpleCommand) -> Result:
    if not cmd.argv:
        return env_reason(cmd.env, bare=True), []
    reason = env_reason(cmd.env, bare=False)
    marks = set(cmd.dynamic)
    words = [(value, i in marks) for i, value in enumerate(cmd.argv)]
    name, name_dynamic = words[0]
    if name_dynamic:
        return "the command name is only known when it runs", []
    check = CHECKS.get(name)
    if check is None:
        version = _version_query(cmd.argv)
        return (reason or version), []
    own_reason, paths = check(words)
    return (reason or own_reason), paths


_VERSION_FLAGS = {
    "python": word_set("--version -V -VV"),
    "node": word_set("--version -v"),
    "ruby": word_set("--version -v"),
    "perl": word_set("--version -v"),
    "java": word_set("--version -version"),
    "javac": word_set("--version -version"),
}
_VERSION_TOOLS = word_set("gcc g++ cc clang make cmake docker uv pip pip3 npm deno bun")


def _version_query(argv: Sequence[str]) -> str | None:
    """None for an exact version query like `python3 --version`."""
    if len(argv) != 2:
        return NOT_LISTED
    name, flag = argv
    family = "python" if re.fullmatch(r"python(\d+(\.\d+)*)?", name) else name
    allowed = _VERSION_FLAGS.get(family)
    if allowed is None and name in _VERSION_TOOLS:
        allowed = frozenset({"--version"})
    return None if allowed and flag in allowed else NOT_LISTED


__all__ = ["NOT_LISTED", "path_arguments", "read_only_reason", "sed_script_reason"]
