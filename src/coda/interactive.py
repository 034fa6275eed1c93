"""`coda` on a terminal: the interactive session, wired like `-p` but with a person present."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from coda.wiring import RunOptions


def run_interactive(
    run: RunOptions | Callable[[], RunOptions],
    *,
    env: Mapping[str, str],
    cwd: Path,
    first_prompt: str | None,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    from coda.ui.glyphs import glyphs_for
    from coda.ui.repl import Repl
    from coda.ui.screen import Screen

    # https://no-color.org: set and not empty means no colour.
    color = not env.get("NO_COLOR") and env.get("TERM") != "dumb"
    screen = Screen(stdout, color=color, glyphs=glyphs_for(env))
    repl = Repl(run, env=env, cwd=cwd, screen=screen, stdin_fd=_fileno(stdin))
    try:
        return asyncio.run(repl.run(first_prompt))
    except KeyboardInterrupt:
        # Only reachable between the loop's own handlers; never a traceback.
        stdout.write("\n")
        return 130


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None
