"""The read-only list: every command on it, with the check its words must pass."""

from __future__ import annotations

from coda.permissions.readonly_checks import awk, find, git, sed, shell_builtins
from coda.permissions.readonly_checks.options import Check, Options, Result, Words, parse, simple
from coda.permissions.shell.words import word_set

_OPEN_FILES = Options()
_OPEN_NO_FILES = Options(operand_paths=False)

# No option of these can run a program or write a file; some are refined below.
_READ_FILES = word_set(
    "ls cat head tail wc stat du df tree file realpath readlink cut tr diff cmp comm nl tac rev"
    " fold expand unexpand column md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum"
    " cksum sum od hexdump paste join strings base64 base32"
)
_READ_NOTHING = word_set(
    "pwd echo true false test [ [[ : which whereis type basename dirname seq sleep id whoami"
    " uname ps printenv nproc arch groups tty locale uptime free expr factor numfmt"
)
_FOLLOWS = "follows symbolic links, which may lead out of the workspace"
_GREP = Options(
    deny={
        "-P": "grep -P is not auto-allowed (Perl regular expressions)",
        "--perl-regexp": "grep -P is not auto-allowed (Perl regular expressions)",
        "-R": f"grep -R {_FOLLOWS}",
        "--dereference-recursive": f"grep -R {_FOLLOWS}",
    },
    values="efABCmdD",
    long_values=word_set(
        "regexp file after-context before-context context max-count directories devices"
        " label include exclude exclude-from exclude-dir binary-files"
    ),
    paths=word_set("-f --file --exclude-from"),
    pattern_first=True,
)

_RG_PRE = "rg --pre runs a program on every file it searches"
_RG = Options(
    deny={
        "--pre": _RG_PRE,
        "--pre-glob": _RG_PRE,
        "-z": "rg -z runs decompression programs",
        "--search-zip": "rg -z runs decompression programs",
        "--hostname-bin": "rg --hostname-bin runs a program",
        "-L": f"rg -L {_FOLLOWS}",
        "--follow": f"rg -L {_FOLLOWS}",
    },
    values="ABCdEefgjMmrtT",
    long_values=word_set(
        "after-context before-context context max-depth encoding regexp file glob iglob"
        " threads max-columns max-count replace type type-not type-add type-clear"
        " ignore-file sort sortr colors color path-separator max-filesize engine"
        " context-separator field-context-separator field-match-separator"
    ),
    paths=word_set("-f --file --ignore-file"),
    dynamic_ok=False,
    pattern_first=True,
)
_SORT = Options(
    deny={
        "-o": "sort -o writes its output to a file",
        "--output": "sort -o writes its output to a file",
        "-T": "sort -T writes temporary files",
        "--temporary-directory": "sort -T writes temporary files",
        "--compress-program": "sort --compress-program runs a program",
    },
    values="ktS",
    long_values=word_set("key field-separator buffer-size files0-from random-source parallel"),
    paths=word_set("--files0-from --random-source"),
    dynamic_ok=False,
)
_UNIQ = Options(
    values="fsw",
    long_values=word_set("skip-fields skip-chars check-chars"),
    max_operands=1,
    dynamic_ok=False,
)
_FILE = Options(
    deny={
        "-C": "file -C writes a compiled magic file",
        "--compile": "file -C writes a compiled magic file",
        "-z": "file -z runs decompression programs",
        "-Z": "file -z runs decompression programs",
        "--uncompress": "file -z runs decompression programs",
        "--uncompress-noreport": "file -z runs decompression programs",
    },
    values="mfFeP",
    paths=word_set("-m -f --magic-file --files-from"),
    dynamic_ok=False,
)
_TREE = Options(
    deny={
        "-o": "tree -o writes its output to a file",
        "--output": "tree -o writes its output to a file",
        "-R": "tree -R writes files into each directory",
    },
    values="LPIHT",
    long_values=word_set("filelimit timefmt charset sort"),
    dynamic_ok=False,
)
_PRINTF = Options(
    deny={"-v": "printf -v assigns a variable"}, operand_paths=False, dynamic_ok=False
)
_HOSTNAME = Options(
    only=word_set(
        "-f -s -i -I -d -A -a -y -V -h --fqdn --long --short --ip-address"
        " --all-ip-addresses --domain --all-fqdns --alias --version --help"
    ),
    max_operands=0,
    dynamic_ok=False,
)
_DU = Options(values="BdtX", paths=word_set("-X --exclude-from --files0-from"))
_WC = Options(paths=word_set("--files0-from"))
_DIFF = Options(paths=word_set("--from-file --to-file -X --exclude-from"))


def _date(words: Words) -> Result:
    spec = Options(
        deny={"-s": "date -s sets the clock", "--set": "date -s sets the clock"},
        values="dfr",
        long_values=word_set("date file reference"),
        paths=word_set("-f --file -r --reference"),
        operand_paths=False,
        dynamic_ok=False,
    )
    parsed = parse("date", words[1:], spec)
    if isinstance(parsed, str):
        return parsed, []
    if any(not operand.startswith("+") for operand in parsed.operands):
        return "date with a time operand sets the clock", parsed.paths
    return None, parsed.paths


_XXD_VALUES = word_set("-c -cols -g -groupsize -l -len -o -offset -s -seek -n -name -R")


def _xxd(words: Words) -> Result:
    operands: list[str] = []
    i = 1
    while i < len(words):
        word, dynamic = words[i]
        if dynamic:
            return "xxd: an argument is only known when it runs", operands
        if word in _XXD_VALUES:
            i += 2
            continue
        if word == "-" or not word.startswith("-"):
            operands.append(word)
        i += 1
    if len(operands) > 1:
        return "xxd with two operands writes the second", operands
    return None, operands


def _jq(words: Words) -> Result:
    """jq's first operand is its filter (unless -f names a file); the others are files."""
    paths: list[str] = []
    if any(dynamic for _, dynamic in words):
        return "jq: an argument is only known when it runs", paths
    values = [w for w, _ in words]
    filter_seen = False
    i = 1
    while i < len(values):
        word = values[i]
        i += 1
        if word in ("--arg", "--argjson"):
            i += 2
        elif word in ("--slurpfile", "--rawfile"):
            paths.extend(values[i + 1 : i + 2])
            i += 2
        elif word in ("-f", "--from-file", "-L"):
            paths.extend(values[i : i + 1])
            filter_seen = filter_seen or word != "-L"
            i += 1
        elif word in ("--args", "--jsonargs"):
            break  # the rest are values, not files
        elif word.startswith("-") and word != "-":
            continue
        elif filter_seen:
            paths.append(word)
        else:
            filter_seen = True
    return None, paths


CHECKS: dict[str, Check] = {
    **{name: simple(_OPEN_FILES) for name in _READ_FILES},
    **{name: simple(_OPEN_NO_FILES) for name in _READ_NOTHING},
    **{name: simple(_GREP) for name in ("grep", "egrep", "fgrep")},
    "rg": simple(_RG),
    "sort": simple(_SORT),
    "uniq": simple(_UNIQ),
    "file": simple(_FILE),
    "tree": simple(_TREE),
    "printf": simple(_PRINTF),
    "hostname": simple(_HOSTNAME),
    "du": simple(_DU),
    "wc": simple(_WC),
    "diff": simple(_DIFF),
    "date": _date,
    "xxd": _xxd,
    "jq": _jq,
    **shell_builtins.CHECKS,
    **find.CHECKS,
    **sed.CHECKS,
    **awk.CHECKS,
    **git.CHECKS,
}
