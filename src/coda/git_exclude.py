"""Keeping a file coda writes in a repository (personal settings) out of git, without
touching the shared .gitignore: `.git/info/exclude` is the person's own list."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ensure_git_exclude(cwd: Path, relative: Path) -> str | None:
    """List `relative` (a path under `cwd`) in the repository's info/exclude, once.

    Does nothing outside a git work tree. Returns a warning if the entry could not be
    written (coda still runs; the person should know the file may get committed).
    """
    try:
        found = subprocess.run(
            [
                "git",
                "rev-parse",
                "--path-format=absolute",
                "--is-inside-work-tree",
                "--git-common-dir",
                "--show-prefix",
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None  # no git: nothing to keep the file out of
    lines = found.stdout.splitlines()
    if found.returncode != 0 or len(lines) < 2 or lines[0] != "true":
        return None
    # The exclude file is shared by all worktrees, so it lives in the common git dir.
    exclude = Path(lines[1]) / "info" / "exclude"
    prefix = lines[2] if len(lines) > 2 else ""
    entry = prefix + relative.as_posix()  # has a slash, so anchored at the top
    try:
        existing = exclude.read_text("utf-8") if exclude.exists() else ""
        if entry in existing.splitlines():
            return None
        exclude.parent.mkdir(parents=True, exist_ok=True)
        separator = "" if not existing or existing.endswith("\n") else "\n"
        with exclude.open("a", encoding="utf-8") as handle:
            handle.write(f"{separator}{entry}\n")
    except OSError as exc:
        return f"{exclude}: could not add {entry} ({exc}); that file may get committed"
    return None
