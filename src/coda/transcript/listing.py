"""`coda sessions`: this directory's sessions with date, first prompt, prompts and cost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from coda.transcript.sessions import SessionInfo, list_sessions
from coda.transcript.store import project_dir


def one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_row(info: SessionInfo, *, prompt_width: int = 60) -> str:
    when = dt.datetime.fromtimestamp(info.modified).strftime("%Y-%m-%d %H:%M")
    cost = "unknown" if info.cost_usd is None else f"${info.cost_usd:.4f}"
    return (
        f"{info.session_id}  {when}  {info.turns:>5}  {cost:>9}  "
        f"{one_line(info.first_prompt, prompt_width)}"
    )


def sessions_here(env: Mapping[str, str], cwd: Path) -> list[SessionInfo]:
    from coda.providers.catalog import price_by_id

    return list_sessions(project_dir(env, cwd), price_by_id)


def run_sessions(env: Mapping[str, str], cwd: Path, out: TextIO) -> int:
    found = sessions_here(env, cwd)
    if not found:
        out.write(f"No sessions in {cwd} yet.\n")
        return 0
    out.write(f"{'session':<36}  {'last active':<16}  {'turns':>5}  {'cost':>9}  first prompt\n")
    for info in found:
        out.write(format_row(info) + "\n")
    out.write("Resume one with: coda --resume SESSION_ID (or coda --continue for the latest)\n")
    return 0


def recent_sessions_hint(env: Mapping[str, str], cwd: Path, limit: int = 5) -> str:
    found = sessions_here(env, cwd)[:limit]
    if not found:
        return "There are no sessions in this directory yet.\n"
    rows = "\n".join("  " + format_row(info, prompt_width=40) for info in found)
    return f"Recent sessions here (coda sessions lists all):\n{rows}\n"
