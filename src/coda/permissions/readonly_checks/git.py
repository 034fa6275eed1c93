"""git on the read-only list: its global options, and the subcommands that only read."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from coda.permissions.readonly_checks.options import (
    NOT_LISTED,
    Check,
    Options,
    Parsed,
    Result,
    Words,
    parse,
)
from coda.permissions.shell.words import word_set

_GIT_DENY = {
    "--output": "git --output writes to a file",
    "--output-directory": "git --output-directory writes files",
    "--ext-diff": "git --ext-diff runs an external diff program",
    "--help": "git --help opens a manual page",
}
_GIT_GLOBAL_FLAGS = word_set(
    "--no-pager -P -p --paginate --bare --no-replace-objects --literal-pathspecs"
    " --glob-pathspecs --noglob-pathspecs --icase-pathspecs --no-optional-locks --no-advice"
    " --version"
)
_GIT_GLOBAL_PATHS = word_set("-C --git-dir --work-tree --namespace")
# Subcommands that take no revision options (so no --output) and cannot write.
_GIT_PLAIN = word_set(
    "status ls-files ls-tree rev-parse cat-file describe merge-base name-rev show-ref"
    " for-each-ref count-objects check-ignore check-attr var version show-branch cherry"
)
_GIT_REVISIONS = word_set(
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
            paths=word_set("-f --contents -S --ignore-revs-file"),
        ),
    )
    if isinstance(parsed, str):
        return parsed, []
    return None, parsed.paths


_BRANCH_LIST = word_set(
    "-a --all -r --remotes -v -vv --verbose -l --list --show-current -i --ignore-case --color"
    " --no-color --column --no-column --abbrev --no-abbrev -q --quiet --omit-empty --contains"
    " --no-contains --merged --no-merged --points-at --sort --format"
)
_TAG_LIST = word_set(
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
            long_values=word_set("contains no-contains merged no-merged points-at sort format"),
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


_CONFIG_READ = word_set("--get --get-all --get-regexp --get-urlmatch --list -l")


def _git_config(label: str, words: Words) -> Result:
    parsed = _git_options(
        label,
        words,
        Options(
            only=word_set(
                "--get --get-all --get-regexp --get-urlmatch --list -l --global --system --local"
                " --worktree --file -f --blob --show-origin --show-scope --name-only -z --null"
                " --type --no-type --bool --int --bool-or-int --path --expiry-date --default"
                " --includes --no-includes --all --regexp --value --fixed-value --url"
            ),
            values="f",
            long_values=word_set("file blob type default value url"),
            paths=word_set("-f --file"),
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
    "remote": _git_subcommand_only(word_set("show get-url"), default_ok=True),
    "reflog": _git_subcommand_only(word_set("show exists list"), default_ok=True),
    "worktree": _git_subcommand_only(word_set("list"), default_ok=False),
    "stash": _git_subcommand_only(word_set("list show"), default_ok=False),
}

CHECKS: dict[str, Check] = {"git": _git}
