"""awk on the read-only list: programs given inline, with nothing that runs commands or writes."""

from __future__ import annotations

import re

from coda.permissions.readonly_checks.options import Check, Options, Result, Words, parse
from coda.permissions.shell.words import word_set

_AWK_FILE = "awk -f runs a program from a file coda cannot check"
_AWK_RISKY = re.compile(r"system|getline|[|>@]")
_AWK = Options(
    deny={
        "-f": _AWK_FILE,
        "--file": _AWK_FILE,
        "-i": "awk -i loads a source file",
        "--include": "awk -i loads a source file",
        "-l": "awk -l loads an extension",
        "--load": "awk -l loads an extension",
        "-E": "awk -E runs a program from a file",
        "--exec": "awk -E runs a program from a file",
        "-p": "awk -p writes a profile file",
        "--profile": "awk -p writes a profile file",
        "-o": "awk -o writes a file",
        "--pretty-print": "awk -o writes a file",
        "-d": "awk -d writes a file",
        "--dump-variables": "awk -d writes a file",
        "-D": "awk -D starts a debugger",
        "--debug": "awk -D starts a debugger",
        "-W": "awk -W options are not checked",
    },
    values="Fve",
    long_values=word_set("field-separator assign source"),
    only=word_set(
        "-F -v -e --source --field-separator --assign -b --characters-as-bytes -c --traditional"
        " -M --bignum -n --non-decimal-data -N --use-lc-numeric -O --optimize -P --posix -r"
        " --re-interval -s --no-optimize -S --sandbox -t --lint-old -V --version"
    ),
    dynamic_ok=False,
)


def _awk(words: Words) -> Result:
    parsed = parse(words[0][0], words[1:], _AWK)
    if isinstance(parsed, str):
        return parsed, [w for w, _ in words[1:] if not w.startswith("-")]
    programs = [v or "" for k, v in parsed.options if k in ("-e", "--source")]
    operands = parsed.operands
    if not programs:
        if not operands:
            return "awk without a program", []
        programs, operands = [operands[0]], operands[1:]
    files = [o for o in operands if not re.match(r"[A-Za-z_][A-Za-z0-9_]*=", o)]
    program = "\n".join(programs)
    risky = _AWK_RISKY.search(program)
    if risky:
        return (
            f"the awk program uses {risky.group(0)!r}, which can run commands or write files",
            files,
        )
    return None, files


CHECKS: dict[str, Check] = {name: _awk for name in ("awk", "gawk", "mawk", "nawk")}
