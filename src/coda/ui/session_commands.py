"""Slash commands about the session itself: /compact, /resume, /rewind, /memory, /init."""

from __future__ import annotations

import datetime as dt
import shlex
import subprocess
from typing import TYPE_CHECKING

from coda.ui.choose import choose

if TYPE_CHECKING:
    from coda.transcript.replay import CheckpointRef
    from coda.ui.repl import Repl


async def compact(repl: Repl, arg: str) -> None:
    outcome = await repl.run_interruptibly(
        repl.session.compact(arg or None), "Compacting the conversation", repair=False
    )
    if outcome is None:
        repl.screen.text("compaction interrupted; the conversation is unchanged", "yellow")
        return
    color = "green" if outcome.done else "yellow"
    repl.screen.text(f"{repl.glyphs.ok if outcome.done else repl.glyphs.dot} {outcome.note}", color)
    repl.session.sync()


async def init(repl: Repl, arg: str) -> None:
    from coda.prompts import render

    await repl.turn(render("init"))


async def memory(repl: Repl, arg: str) -> None:
    from coda.memory import memory_paths_for_editing

    paths = memory_paths_for_editing(repl.cwd, repl.env, memory=repl.wired.memory)
    labels = [f"{p}{'' if p.exists() else '  (new)'}" for p in paths]
    index = await choose(repl.screen, "Which memory file?", labels)
    if index is None:
        return
    path = paths[index]
    editor = repl.env.get("VISUAL") or repl.env.get("EDITOR") or "vi"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*shlex.split(editor), str(path)], check=False)
    except (OSError, ValueError) as exc:
        repl.screen.text(f"{repl.glyphs.error} could not run {editor}: {exc}", "red")
        return
    repl.reload_memory()
    repl.screen.text(f"{repl.glyphs.ok} memory reloaded from {path}", "green")


async def pick_session(repl: Repl, *, exclude: str | None = None) -> str | None:
    """The id of a session here the person picks from a menu, or None."""
    from coda.transcript.listing import format_row, sessions_here

    found = [s for s in sessions_here(repl.env, repl.cwd) if s.session_id != exclude]
    if not found:
        repl.screen.text("No other sessions in this directory.", "yellow")
        return None
    rows = [format_row(s, prompt_width=50) for s in found]
    index = await choose(repl.screen, "Resume which session?", rows)
    return None if index is None else found[index].session_id


async def resume(repl: Repl, arg: str) -> None:
    session_id = arg.strip() or await pick_session(repl, exclude=repl.session.session_id)
    if session_id is not None:
        repl.switch_session(session_id)


async def rewind(repl: Repl, arg: str) -> None:
    session, screen = repl.session, repl.screen
    refs = list(reversed(session.checkpoint_refs))
    if not refs:
        screen.text("Nothing to rewind to yet: no prompt in this conversation.", "yellow")
        return
    given = _parse_rewind(arg, len(refs))
    if isinstance(given, str):
        screen.text(given, "red")
        return
    if given is None:
        index = await choose(screen, "Rewind to before which prompt?", [_label(r) for r in refs])
        if index is None:
            return
        ref = refs[index]
        actions = [("both", "Restore the code and the conversation")]
        actions.append(("conversation", "Restore the conversation only"))
        actions.append(("code", "Restore the code only"))
        if ref.commit is None:
            actions = [("conversation", "Restore the conversation (no snapshot of the files)")]
        picked = await choose(screen, "What to restore?", [label for _, label in actions])
        if picked is None:
            return
        what = actions[picked][0]
    else:
        ref, what = refs[given[0]], given[1]
    from coda.session import RewindError

    try:
        changed = await session.rewind(
            ref, code=what in ("both", "code"), conversation=what in ("both", "conversation")
        )
    except (RewindError, OSError) as exc:
        screen.text(f"{repl.glyphs.error} rewind failed: {exc}", "red")
        return
    _report(repl, what, changed)
    if what in ("both", "conversation"):
        repl.prefill(ref.prompt)


def _parse_rewind(arg: str, count: int) -> tuple[int, str] | str | None:
    """`/rewind N [both|code|conversation]`: the Nth latest prompt, without the menus."""
    words = arg.split()
    if not words:
        return None
    usage = "usage: /rewind [N [both|code|conversation]] (N = 1 is the latest prompt)"
    if not words[0].isdigit() or not 1 <= int(words[0]) <= count or len(words) > 2:
        return usage
    what = words[1] if len(words) == 2 else "both"
    if what not in ("both", "code", "conversation"):
        return usage
    return int(words[0]) - 1, what


def _report(repl: Repl, what: str, changed: list[str]) -> None:
    g = repl.glyphs
    if what in ("both", "code"):
        shown = ", ".join(changed[:8]) + (" …" if len(changed) > 8 else "")
        files = f"{len(changed)} file(s) restored" + (f": {shown}" if changed else "")
        repl.screen.text(f"{g.ok} {files}", "green")
    if what in ("both", "conversation"):
        repl.screen.text(f"{g.ok} conversation rewound; the prompt is back in the input", "green")


def _label(ref: CheckpointRef) -> str:
    first = " ".join(ref.prompt.split())
    first = first if len(first) <= 60 else first[:59] + "…"
    when = ""
    if ref.ts:
        try:
            when = dt.datetime.fromisoformat(ref.ts).astimezone().strftime("%H:%M ")
        except ValueError:
            when = ""
    files = "" if ref.commit else "  (conversation only)"
    return f"{when}{first}{files}"
