"""What `analyse()` reports: the simple commands of a Bash line, their redirects, its problems."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str  # ">", ">>", "<", "&>", ">|", "2>", "2>&", "<<", "<<<", ...
    # The target word after quote removal; None when it is only known at run time (> "$F").
    # For "<<" it is the heredoc delimiter and for "<<<" the string fed in: not files.
    target: str | None
    # Any output redirect except to /dev/null, /dev/stdout, /dev/stderr and fd duplications.
    writes: bool


@dataclass(frozen=True, slots=True)
class SimpleCommand:
    argv: tuple[str, ...]  # words after quote removal; dynamic words keep their source text
    env: tuple[tuple[str, str], ...]  # NAME=value assignments before the command
    redirects: tuple[Redirect, ...]
    text: str  # the source text of this simple command
    # Set for a command found inside a wrapper: "timeout", "env", "xargs", "find -exec", ...
    wrapper: str | None = None
    # Indexes into argv of words only known at run time. xargs adds a last dynamic word "{}"
    # standing for the words it reads from its input.
    dynamic: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ShellAnalysis:
    # Every simple command, roughly in the order bash runs them: substitutions before the
    # command whose words hold them, a wrapper right before the command it runs.
    commands: tuple[SimpleCommand, ...]
    # Why this line can never be auto-allowed, one short sentence each, for the person.
    problems: tuple[str, ...]
    # cd/pushd/popd/env -C targets in order; None when only known at run time.
    cd_targets: tuple[str | None, ...]

    @property
    def fully_resolved(self) -> bool:
        return not self.problems
