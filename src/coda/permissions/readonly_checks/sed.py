"""sed on the read-only list: its options, and a reader that finds w, W, e, s///w in scripts."""

from __future__ import annotations

from coda.permissions.readonly_checks.options import Check, Options, Result, Words, parse
from coda.permissions.shell.words import word_set

_SED_UNREADABLE = "coda cannot read this sed script"
_SED_IN_PLACE = "sed -i edits files in place"
_SED_FILE = "sed -f runs a script from a file coda cannot check"
_SED = Options(
    deny={"-i": _SED_IN_PLACE, "--in-place": _SED_IN_PLACE, "-f": _SED_FILE, "--file": _SED_FILE},
    values="el",
    long_values=word_set("expression line-length"),
    only=word_set(
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


CHECKS: dict[str, Check] = {"sed": _sed}
