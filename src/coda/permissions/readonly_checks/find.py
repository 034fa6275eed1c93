"""find on the read-only list: its tests and actions, none of which may run, delete or write."""

from __future__ import annotations

import re

from coda.permissions.readonly_checks.options import Check, Result, Words
from coda.permissions.shell.words import word_set

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
_FIND_VALUE = word_set(
    "-name -iname -path -ipath -wholename -iwholename -regex -iregex -type -xtype -maxdepth"
    " -mindepth -mtime -mmin -atime -amin -ctime -cmin -size -perm -user -group -uid -gid"
    " -links -inum -used -fstype -printf -context -regextype -lname -ilname"
)
_FIND_PATH_VALUE = word_set("-newer -anewer -cnewer -samefile -files0-from")
_FIND_FLAG = word_set(
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


CHECKS: dict[str, Check] = {"find": _find}
