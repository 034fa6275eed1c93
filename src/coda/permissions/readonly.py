"""The built-in read-only list: commands that may run without asking, with checks on their
options so that none can run another program or write a file.

`read_only_reason(cmd)` is None only for a command on the list whose every option is known to
be harmless; anything unknown is a reason. Flags are read the way the tools read them: combined
short flags (`sed -ni`), attached values (`sort -ofile`), `--flag=value`, `--` ending options,
and long options matched by prefix when the tool accepts abbreviations (`--out` for `--output`).
A wrapper (`timeout`, `env`, `xargs`, ...) is judged on its own options only: the command it
runs is listed separately by `analyse()` and must be allowed on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from coda.permissions.shell_analysis import SimpleCommand, dangerous_variable, unwrap

Words = Sequence[tuple[str, bool]]  # (value, only known at run time)
Result = tuple[str | None, list[str]]  # (why not read-only, words that name files)

NOT_LISTED = "not on the read-only list"


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def read_only_reason(cmd: SimpleCommand) -> str | None:
    """None when `cmd` is on the read-only list and none of its flags can run or write."""
    return _judge(cmd)[0]


def path_arguments(cmd: SimpleCommand) -> list[str]:
    """The words of `cmd` that name files or directories (operands and path-valued options).

    Best effort, erring towards listing more. Words only known at run time are listed with
    their source text (`$f`, `src/*.py`): check `cmd.dynamic` before trusting them.
    """
    return _judge(cmd)[1]


_HARMLESS_ENV = _set(
    "LANG LANGUAGE TZ IFS NO_COLOR FORCE_COLOR CLICOLOR CLICOLOR_FORCE COLUMNS LINES TERM"
    " COLORTERM GREP_COLOR GREP_COLORS LS_COLORS TIME_STYLE QUOTING_STYLE BLOCK_SIZE"
    " DU_BLOCK_SIZE DF_BLOCK_SIZE GIT_PAGER PAGER MANPAGER"
)
_PAGER_VARIABLES = frozenset({"GIT_PAGER", "PAGER", "MANPAGER"})
_LOCAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def _env_reason(env: Sequence[tuple[str, str]], bare: bool) -> str | None:
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
        return _env_reason(cmd.env, bare=True), []
    reason = _env_reason(cmd.env, bare=False)
    marks = set(cmd.dynamic)
    words = [(value, i in marks) for i, value in enumerate(cmd.argv)]
    name, name_dynamic = words[0]
    if name_dynamic:
        return "the command name is only known when it runs", []
    check = _CHECKS.get(name)
    if check is None:
        version = _version_query(cmd.argv)
        return (reason or version), []
    own_reason, paths = check(words)
    return (reason or own_reason), paths


# -- reading options ---------------------------------------------------------------------------


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
        if word.startswith("--"):
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
            continue
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


def _unknown_path(label: str, words: Sequence[str]) -> str | None:
    for word in words:
        if not confined(word):
            return f"{label} reads {word}, a path only known when it runs"
    return None


def _simple(spec: Options) -> Callable[[Words], Result]:
    def check(words: Words) -> Result:
        parsed = parse(words[0][0], words[1:], spec)
        if isinstance(parsed, str):
            return parsed, [w for w, _ in words[1:] if not w.startswith("-")]
        return _unknown_path(words[0][0], parsed.unknown), parsed.paths

    return check


# -- the list ----------------------------------------------------------------------------------

_OPEN_FILES = Options()
_OPEN_NO_FILES = Options(operand_paths=False)

# No option of these can run a program or write a file; some are refined below.
_READ_FILES = _set(
    "ls cat head tail wc stat du df tree file realpath readlink cut tr diff cmp comm nl tac rev"
    " fold expand unexpand column md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum"
    " cksum sum od hexdump paste join strings base64 base32"
)
_READ_NOTHING = _set(
    "pwd echo true false test [ [[ : which whereis type basename dirname seq sleep id whoami"
    " uname ps printenv nproc arch groups tty locale uptime free expr factor numfmt"
)
_CHECKS: dict[str, Callable[[Words], Result]] = {
    **{name: _simple(_OPEN_FILES) for name in _READ_FILES},
    **{name: _simple(_OPEN_NO_FILES) for name in _READ_NOTHING},
}

_FOLLOWS = "follows symbolic links, which may lead out of the workspace"
_GREP = Options(
    deny={
        "-P": "grep -P is not auto-allowed (Perl regular expressions)",
        "--perl-regexp": "grep -P is not auto-allowed (Perl regular expressions)",
        "-R": f"grep -R {_FOLLOWS}",
        "--dereference-recursive": f"grep -R {_FOLLOWS}",
    },
    values="efABCmdD",
    long_values=_set(
        "regexp file after-context before-context context max-count directories devices"
        " label include exclude exclude-from exclude-dir binary-files"
    ),
    paths=_set("-f --file --exclude-from"),
    pattern_first=True,
)
for _name in ("grep", "egrep", "fgrep"):
    _CHECKS[_name] = _simple(_GREP)

_RG_PRE = "rg --pre runs a program on every file it searches"
_CHECKS["rg"] = _simple(
    Options(
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
        long_values=_set(
            "after-context before-context context max-depth encoding regexp file glob iglob"
            " threads max-columns max-count replace type type-not type-add type-clear"
            " ignore-file sort sortr colors color path-separator max-filesize engine"
            " context-separator field-context-separator field-match-separator"
        ),
        paths=_set("-f --file --ignore-file"),
        dynamic_ok=False,
        pattern_first=True,
    )
)
_CHECKS["sort"] = _simple(
    Options(
        deny={
            "-o": "sort -o writes its output to a file",
            "--output": "sort -o writes its output to a file",
            "-T": "sort -T writes temporary files",
            "--temporary-directory": "sort -T writes temporary files",
            "--compress-program": "sort --compress-program runs a program",
        },
        values="ktS",
        long_values=_set("key field-separator buffer-size files0-from random-source parallel"),
        paths=_set("--files0-from --random-source"),
        dynamic_ok=False,
    )
)
_CHECKS["uniq"] = _simple(
    Options(
        values="fsw",
        long_values=_set("skip-fields skip-chars check-chars"),
        max_operands=1,
        dynamic_ok=False,
    )
)
_CHECKS["file"] = _simple(
    Options(
        deny={
            "-C": "file -C writes a compiled magic file",
            "--compile": "file -C writes a compiled magic file",
            "-z": "file -z runs decompression programs",
            "-Z": "file -z runs decompression programs",
            "--uncompress": "file -z runs decompression programs",
            "--uncompress-noreport": "file -z runs decompression programs",
        },
        values="mfFeP",
        paths=_set("-m -f --magic-file --files-from"),
        dynamic_ok=False,
    )
)
_CHECKS["tree"] = _simple(
    Options(
        deny={
            "-o": "tree -o writes its output to a file",
            "--output": "tree -o writes its output to a file",
            "-R": "tree -R writes files into each directory",
        },
        values="LPIHT",
        long_values=_set("filelimit timefmt charset sort"),
        dynamic_ok=False,
    )
)
_CHECKS["printf"] = _simple(
    Options(deny={"-v": "printf -v assigns a variable"}, operand_paths=False, dynamic_ok=False)
)
_CHECKS["hostname"] = _simple(
    Options(
        only=_set(
            "-f -s -i -I -d -A -a -y -V -h --fqdn --long --short --ip-address"
            " --all-ip-addresses --domain --all-fqdns --alias --version --help"
        ),
        max_operands=0,
        dynamic_ok=False,
    )
)
_CHECKS["du"] = _simple(Options(values="BdtX", paths=_set("-X --exclude-from --files0-from")))
_CHECKS["wc"] = _simple(Options(paths=_set("--files0-from")))
_CHECKS["diff"] = _simple(Options(paths=_set("--from-file --to-file -X --exclude-from")))


def _date(words: Words) -> Result:
    spec = Options(
        deny={"-s": "date -s sets the clock", "--set": "date -s sets the clock"},
        values="dfr",
        long_values=_set("date file reference"),
        paths=_set("-f --file -r --reference"),
        operand_paths=False,
        dynamic_ok=False,
    )
    parsed = parse("date", words[1:], spec)
    if isinstance(parsed, str):
        return parsed, []
    if any(not operand.startswith("+") for operand in parsed.operands):
        return "date with a time operand sets the clock", parsed.paths
    return None, parsed.paths


_CHECKS["date"] = _date

_XXD_VALUES = _set("-c -cols -g -groupsize -l -len -o -offset -s -seek -n -name -R")


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


_CHECKS["xxd"] = _xxd


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


_CHECKS["jq"] = _jq


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


for _name in ("cd", "pushd", "popd"):
    _CHECKS[_name] = _cd

_SET_NAMES = _set("errexit nounset pipefail xtrace verbose noglob noclobber")


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


_CHECKS["set"] = _set_builtin

_READ = Options(values="adinNptu", only=_set("-a -d -e -i -n -N -p -r -s -t -u"), dynamic_ok=False)


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


_CHECKS["read"] = _read


# -- wrappers ----------------------------------------------------------------------------------

_READ_ONLY_WRAPPERS = ("timeout", "nice", "time", "env", "stdbuf", "xargs", "command")


def _wrapper(words: Words) -> Result:
    name = words[0][0]
    result = unwrap(name, [w for w, _ in words[1:]], [d for _, d in words[1:]])
    if isinstance(result, str):
        return result, []
    paths = [v for k, v in result.options if k in ("-C", "--chdir", "-a", "--arg-file") and v]
    return _env_reason(result.env, bare=False), paths


for _name in _READ_ONLY_WRAPPERS:
    _CHECKS[_name] = _wrapper


# -- find --------------------------------------------------------------------------------------

_FIND_DENY = {
    "-exec": "find -exec runs another command",
    "-execdir": "find -execdir runs another command",
    "-ok": "find -ok runs another command",
    "-okdir": "find -okdir runs another command",
    "-delete": "find -delete deletes files",
    "-fprint": "find -fprint writes to a file",
    "-fprint0": "find -fprint0 writes to a file",
    "-fprintf": "find -fprintf writes to a file",
    "-fls": "find -fls writes to a file",
}
_FIND_VALUE = _set(
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -type -xtype -maxdepth"
    " -mindepth -mtime -mmin -atime -amin -ctime -cmin -size -perm -user -group -uid -gid"
    " -links -inum -used -fstype -printf -context -regextype -lname -ilname"
)
_FIND_PATH_VALUE = _set("-newer -anewer -cnewer -samefile -files0-from")
_FIND_FLAG = _set(
    "-print -print0 -ls -prune -quit -true -false -empty -executable -readable -writable"
    " -nouser -nogroup -depth -d -follow -mount -xdev -noleaf -ignore_readdir_race"
    " -noignore_readdir_race -daystart -warn -nowarn -a -and -o -or -not ! ( ) ,"
    " -help --help -version --version"
)


def _find(words: Words) -> Result:
    paths: list[str] = []
    if any(dynamic for _, dynamic in words):
        return "find: an argument is only known when it runs", paths
    values = [w for w, _ in words]
    i = 1
    while i < len(values) and (values[i] in ("-H", "-L", "-P", "-D") or values[i].startswith("-O")):
        i += 2 if values[i] == "-D" else 1
    while (
        i < len(values)
        and not (values[i].startswith("-") and len(values[i]) > 1)
        and (values[i] not in ("(", "!", ")", ","))
    ):
        paths.append(values[i])
        i += 1
    while i < len(values):
        word = values[i]
        i += 1
        if word in _FIND_DENY:
            return _FIND_DENY[word], paths
        if word in _FIND_FLAG:
            continue
        if word in _FIND_VALUE:
            i += 1
        elif word in _FIND_PATH_VALUE or re.fullmatch(r"-newer[amcBt][amcBt]", word):
            paths.extend(values[i : i + 1])
            i += 1
        else:
            return f"find {word} is not known to be read-only", paths
    return None, paths or ["."]


_CHECKS["find"] = _find


# -- sed ---------------------------------------------------------------------------------------

_SED_UNREADABLE = "coda cannot read this sed script"
_SED_IN_PLACE = "sed -i edits files in place"
_SED_FILE = "sed -f runs a script from a file coda cannot check"
_SED = Options(
    deny={"-i": _SED_IN_PLACE, "--in-place": _SED_IN_PLACE, "-f": _SED_FILE, "--file": _SED_FILE},
    values="el",
    long_values=_set("expression line-length"),
    only=_set(
        "-n --quiet --silent -E -r --regexp-extended -s --separate -u --unbuffered -z"
        " --null-data --posix --debug --sandbox -b --binary --follow-symlinks --help --version"
        " -e --expression -l --line-length"
    ),
    dynamic_ok=False,
)


def _sed(words: Words) -> Result:
    parsed = parse("sed", words[1:], _SED)
    if isinstance(parsed, str):
        return parsed, [w for w, _ in words[1:] if not w.startswith("-")]
    scripts = [v or "" for k, v in parsed.options if k in ("-e", "--expression")]
    files = parsed.operands
    if not scripts:
        if not files:
            return "sed without a script", []
        scripts, files = [files[0]], files[1:]
    reason, reads = sed_script_reason("\n".join(scripts))
    return reason, [*files, *reads]


def sed_script_reason(script: str) -> tuple[str | None, list[str]]:
    """Why a sed script is not read-only (w, W, e, s///w, s///e), and the files it reads.

    GNU sed treats the delimiter inside [...] as literal; other seds do not. The script is
    read under each convention and must be harmless under all of them.
    """
    reads: list[str] = []
    for mode in (1, 2, 0):
        reason, found = _SedReader(script, mode).run()
        if reason == _SED_UNREADABLE and mode == 0:
            continue  # a sed that reads [/] this way refuses the script: nothing runs
        if reason:
            return reason, reads
        reads.extend(r for r in found if r not in reads)
    return None, reads


class _SedReader:
    def __init__(self, script: str, mode: int) -> None:
        self.s = script
        self.i = 0
        self.mode = mode  # 0: [ is plain; 1: [...] literal, \ plain inside; 2: \ escapes inside

    def blanks(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def run(self) -> tuple[str | None, list[str]]:
        s, reads = self.s, list[str]()
        unreadable = _SED_UNREADABLE
        while True:
            while self.i < len(s) and s[self.i] in " \t\n;":
                self.i += 1
            if self.i >= len(s):
                return None, reads
            if s[self.i] == "#":
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
                continue
            if not self.address(first=True):
                return unreadable, reads
            self.blanks()
            if self.i < len(s) and s[self.i] == ",":
                self.i += 1
                self.blanks()
                if not self.address(first=False):
                    return unreadable, reads
            self.blanks()
            while self.i < len(s) and s[self.i] == "!":
                self.i += 1
                self.blanks()
            if self.i >= len(s):
                return unreadable, reads
            command = s[self.i]
            self.i += 1
            if command in "{}":
                continue
            if command == "e":
                return "sed e runs a command", reads
            if command in "wW":
                return f"sed {command} writes to a file", reads
            if command in "aic":
                self.to_line_end(continued=True)
                continue
            if command in "rR":
                start = self.i
                self.to_line_end(continued=False)
                reads.append(s[start : self.i].strip())
                continue
            if command in ":btT":
                self.blanks()
                start = self.i
                while self.i < len(s) and s[self.i] not in ";\n \t":
                    self.i += 1
                if command == ":" and self.i == start:
                    return unreadable, reads
                continue
            if command in "lLqQ":
                self.blanks()
                while self.i < len(s) and s[self.i].isdigit():
                    self.i += 1
            elif command == "v":
                while self.i < len(s) and s[self.i] not in ";\n}#":
                    self.i += 1
            elif command == "s":
                reason = self.substitute()
                if reason:
                    return reason, reads
            elif command == "y":
                if not self.transliterate():
                    return unreadable, reads
            elif command not in "=dDgGhHnNpPxzF":
                return unreadable, reads
            self.blanks()
            if self.i < len(s) and s[self.i] not in ";\n}#":
                return unreadable, reads

    def to_line_end(self, continued: bool) -> None:
        s = self.s
        while self.i < len(s) and s[self.i] != "\n":
            self.i += 2 if continued and s[self.i] == "\\" else 1

    def address(self, first: bool) -> bool:
        s = self.s
        if self.i >= len(s):
            return not first or True
        c = s[self.i]
        if c.isdigit() or (not first and c in "+~"):
            self.i += 1
            while self.i < len(s) and s[self.i].isdigit():
                self.i += 1
            if first and self.i < len(s) and s[self.i] == "~":
                self.i += 1
                while self.i < len(s) and s[self.i].isdigit():
                    self.i += 1
            return True
        if c == "$":
            self.i += 1
            return True
        if c in "/\\":
            if c == "\\":
                if self.i + 1 >= len(s):
                    return False
                delimiter = s[self.i + 1]
                self.i += 2
            else:
                delimiter = "/"
                self.i += 1
            end = self.pattern_end(delimiter)
            if end is None:
                return False
            self.i = end + 1
            while self.i < len(s) and s[self.i] in "IM":
                self.i += 1
        return True

    def pattern_end(self, delimiter: str) -> int | None:
        s, i = self.s, self.i
        while i < len(s):
            c = s[i]
            if c == "\\":
                i += 2
                continue
            if c == "\n":
                return None
            if c == delimiter:
                return i
            if self.mode and c == "[":
                j = i + 1
                if j < len(s) and s[j] == "^":
                    j += 1
                if j < len(s) and s[j] == "]":
                    j += 1
                while j < len(s) and s[j] != "]":
                    if s[j] == "[" and j + 1 < len(s) and s[j + 1] in ".:=":
                        close = s.find(s[j + 1] + "]", j + 2)
                        if close < 0:
                            return None
                        j = close + 2
                        continue
                    if s[j] == "\n":
                        return None
                    j += 2 if self.mode == 2 and s[j] == "\\" else 1
                if j >= len(s):
                    return None
                i = j + 1
                continue
            i += 1
        return None

    def text_end(self, delimiter: str) -> int | None:
        s, i = self.s, self.i
        while i < len(s):
            if s[i] == "\\":
                i += 2
                continue
            if s[i] == "\n":
                return None
            if s[i] == delimiter:
                return i
            i += 1
        return None

    def substitute(self) -> str | None:
        s = self.s
        unreadable = _SED_UNREADABLE
        if self.i >= len(s) or s[self.i] in "\n\\":
            return unreadable
        delimiter = s[self.i]
        self.i += 1
        end = self.pattern_end(delimiter)
        if end is None:
            return unreadable
        self.i = end + 1
        end = self.text_end(delimiter)
        if end is None:
            return unreadable
        self.i = end + 1
        while self.i < len(s):
            flag = s[self.i]
            if flag == "e":
                return "sed s///e runs the result as a command"
            if flag == "w":
                return "sed s///w writes to a file"
            if flag not in "gpiImM" and not flag.isdigit():
                break
            self.i += 1
        return None

    def transliterate(self) -> bool:
        s = self.s
        if self.i >= len(s) or s[self.i] in "\n\\":
            return False
        delimiter = s[self.i]
        self.i += 1
        for _ in range(2):
            end = self.text_end(delimiter)
            if end is None:
                return False
            self.i = end + 1
        return True


_CHECKS["sed"] = _sed


# -- awk ---------------------------------------------------------------------------------------

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
    long_values=_set("field-separator assign source"),
    only=_set(
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


for _name in ("awk", "gawk", "mawk", "nawk"):
    _CHECKS[_name] = _awk


# -- git ---------------------------------------------------------------------------------------

_GIT_DENY = {
    "--output": "git --output writes to a file",
    "--output-directory": "git --output-directory writes files",
    "--ext-diff": "git --ext-diff runs an external diff program",
    "--help": "git --help opens a manual page",
}
_GIT_GLOBAL_FLAGS = _set(
    "--no-pager -P -p --paginate --bare --no-replace-objects --literal-pathspecs"
    " --glob-pathspecs --noglob-pathspecs --icase-pathspecs --no-optional-locks --no-advice"
    " --version"
)
_GIT_GLOBAL_PATHS = _set("-C --git-dir --work-tree --namespace")
# Subcommands that take no revision options (so no --output) and cannot write.
_GIT_PLAIN = _set(
    "status ls-files ls-tree rev-parse cat-file describe merge-base name-rev show-ref"
    " for-each-ref count-objects check-ignore check-attr var version show-branch cherry"
)
_GIT_REVISIONS = _set(
    "log show diff whatchanged diff-tree diff-index diff-files rev-list shortlog blame"
)


def _git(words: Words) -> Result:
    paths: list[str] = []
    i = 1
    while i < len(words):
        word, dynamic = words[i]
        if dynamic:
            return "git: an argument is only known when it runs", paths
        option, eq, value = word.partition("=")
        if word in _GIT_GLOBAL_FLAGS:
            i += 1
        elif option in _GIT_GLOBAL_PATHS:
            if not eq:
                if i + 1 >= len(words):
                    return f"git {option} needs a value", paths
                value = words[i + 1][0]
                i += 1
            if option != "--namespace":
                paths.append(value)
            i += 1
        elif word.startswith("-"):
            if option == "-c" or word.startswith("-c") or option == "--config-env":
                return "git -c sets configuration, which can run programs", paths
            return f"git {option} is not known to be read-only", paths
        else:
            break
    if i >= len(words):
        return None, paths
    sub = words[i][0]
    rest = words[i + 1 :]
    label = f"git {sub}"
    check = _GIT_SUBCOMMANDS.get(sub)
    if check is None:
        return f"{label} is {NOT_LISTED}", paths
    reason, sub_paths = check(label, rest)
    return reason, [*paths, *sub_paths]


def _git_options(label: str, words: Words, spec: Options) -> Parsed | str:
    return parse(label, words, replace(spec, deny={**_GIT_DENY, **spec.deny}))


def _git_generic(label: str, words: Words) -> Result:
    sub = label.split()[1]
    deny: dict[str, str] = {}
    values = ""
    if sub == "grep":
        deny = {
            "-O": "git grep -O opens files in a pager",
            "--open-files-in-pager": "git grep -O opens files in a pager",
        }
        values = "efABCm"
    parsed = _git_options(
        label,
        words,
        Options(
            deny=deny,
            values=values,
            dynamic_ok=sub in _GIT_PLAIN,
            paths=_set("-f --contents -S --ignore-revs-file"),
        ),
    )
    if isinstance(parsed, str):
        return parsed, []
    return None, parsed.paths


_BRANCH_LIST = _set(
    "-a --all -r --remotes -v -vv --verbose -l --list --show-current -i --ignore-case --color"
    " --no-color --column --no-column --abbrev --no-abbrev -q --quiet --omit-empty --contains"
    " --no-contains --merged --no-merged --points-at --sort --format"
)
_TAG_LIST = _set(
    "-l --list -n --contains --no-contains --merged --no-merged --points-at --sort --format"
    " --column --no-column -i --ignore-case --color"
)


def _git_list_only(label: str, words: Words) -> Result:
    """git branch / git tag: listing only; a name operand without --list creates one."""
    is_tag = label == "git tag"
    if is_tag:  # -n<num> prints annotation lines and implies --list
        words = [(("-n", d) if re.fullmatch(r"-n\d*", w) else (w, d)) for w, d in words]
    parsed = _git_options(
        label,
        words,
        Options(
            only=_TAG_LIST if is_tag else _BRANCH_LIST,
            long_values=_set("contains no-contains merged no-merged points-at sort format"),
            dynamic_ok=False,
            operand_paths=False,
            abbreviations=False,
        ),
    )
    if isinstance(parsed, str):
        return parsed, []
    listing = any(k in ("-l", "--list", "-n") for k, _ in parsed.options)
    if parsed.operands and not listing:
        what = "tag" if is_tag else "branch"
        return f"{label} NAME creates a {what}", []
    return None, []


def _git_subcommand_only(
    allowed: frozenset[str], default_ok: bool
) -> Callable[[str, Words], Result]:
    def check(label: str, words: Words) -> Result:
        parsed = _git_options(label, words, Options(dynamic_ok=False, operand_paths=False))
        if isinstance(parsed, str):
            return parsed, []
        if not parsed.operands:
            return (None if default_ok else f"{label} without a subcommand changes things"), []
        if parsed.operands[0] not in allowed:
            return f"{label} {parsed.operands[0]} is {NOT_LISTED}", []
        return None, []

    return check


_CONFIG_READ = _set("--get --get-all --get-regexp --get-urlmatch --list -l")


def _git_config(label: str, words: Words) -> Result:
    parsed = _git_options(
        label,
        words,
        Options(
            only=_set(
                "--get --get-all --get-regexp --get-urlmatch --list -l --global --system --local"
                " --worktree --file -f --blob --show-origin --show-scope --name-only -z --null"
                " --type --no-type --bool --int --bool-or-int --path --expiry-date --default"
                " --includes --no-includes --all --regexp --value --fixed-value --url"
            ),
            values="f",
            long_values=_set("file blob type default value url"),
            paths=_set("-f --file"),
            operand_paths=False,
            dynamic_ok=False,
            abbreviations=False,
        ),
    )
    if isinstance(parsed, str):
        return parsed, []
    reading = any(k in _CONFIG_READ for k, _ in parsed.options) or (
        parsed.operands[:1] in (["get"], ["list"])
    )
    if not reading:
        return "git config without --get or --list can change settings", parsed.paths
    return None, parsed.paths


_GIT_SUBCOMMANDS: dict[str, Callable[[str, Words], Result]] = {
    **{sub: _git_generic for sub in _GIT_PLAIN | _GIT_REVISIONS | {"grep"}},
    "branch": _git_list_only,
    "tag": _git_list_only,
    "config": _git_config,
    "remote": _git_subcommand_only(_set("show get-url"), default_ok=True),
    "reflog": _git_subcommand_only(_set("show exists list"), default_ok=True),
    "worktree": _git_subcommand_only(_set("list"), default_ok=False),
    "stash": _git_subcommand_only(_set("list show"), default_ok=False),
}
_CHECKS["git"] = _git


# -- version queries ---------------------------------------------------------------------------

_VERSION_FLAGS = {
    "python": _set("--version -V -VV"),
    "node": _set("--version -v"),
    "ruby": _set("--version -v"),
    "perl": _set("--version -v"),
    "java": _set("--version -version"),
    "javac": _set("--version -version"),
}
_VERSION_TOOLS = _set("gcc g++ cc clang make cmake docker uv pip pip3 npm deno bun")


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
