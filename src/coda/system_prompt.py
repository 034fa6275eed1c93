"""The system prompt: who coda is and where it runs, filled in from the environment."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from pathlib import Path

from coda.prompts import render

_STATUS_LINES = 20


def git_summary(cwd: Path) -> tuple[bool, str]:
    """Whether cwd is in a git work tree, and a short status for the prompt."""
    try:
        proc = subprocess.run(
            ["git", "status", "--short", "--branch"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False, ""
    if proc.returncode != 0:
        return False, ""
    lines = proc.stdout.splitlines()
    shown = lines[:_STATUS_LINES]
    if len(lines) > _STATUS_LINES:
        shown.append(f"... and {len(lines) - _STATUS_LINES} more changed paths")
    return True, "\n".join(shown)


CO_AUTHOR_TRAILER = "Co-Authored-By: coda <noreply@coda.invalid>"


def build_system_prompt(
    cwd: Path, *, today: dt.date | None = None, co_authored_by: bool = True
) -> str:
    is_git, status = git_summary(cwd)
    status_block = f"- Git status (at start):\n{status}" if is_git else ""
    trailer = (
        f"\n- End the message with the trailer line `{CO_AUTHOR_TRAILER}`."
        if co_authored_by
        else ""
    )
    git_guide = render("git", co_author=trailer) if is_git else ""
    return render(
        "system",
        date=(today or dt.date.today()).isoformat(),
        cwd=str(cwd),
        platform=f"{platform.system()} {platform.release()}",
        is_git="yes" if is_git else "no",
        git_status=status_block,
        git_guide=git_guide,
    )
