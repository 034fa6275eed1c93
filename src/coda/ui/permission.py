"""Permission questions on the terminal: exactly what would run or change, and three answers."""

from __future__ import annotations

import asyncio
import difflib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Literal, Protocol

from coda.ui.screen import Screen

if TYPE_CHECKING:
    from rich.text import Text

    from coda.permissions.base import PermissionRequest, PromptAnswer

Choice = Literal["once", "always", "deny", "interrupt"]
LOCAL_SETTINGS = ".coda/settings.local.json"
MAX_PREVIEW_LINES = 40


class TurnControl(Protocol):
    """What a question needs from the running turn: the keyboard, and a way to stop it."""

    def paused(self) -> AbstractContextManager[None]: ...

    def interrupt(self) -> None: ...


class TerminalPrompter:
    def __init__(self, screen: Screen, control: TurnControl) -> None:
        self._screen = screen
        self._control = control

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        with self._control.paused():
            self._describe(request)
            choice = await self._choose(_options(request))
            note = ""
            if choice == "deny":
                answer = await self._note()
                if answer is None:
                    choice = "interrupt"
                else:
                    note = answer
            if choice == "interrupt":
                self._screen.text(f"  {self._screen.glyphs.error} Interrupted", "yellow")
                self._control.interrupt()
                raise asyncio.CancelledError
            self._outcome(choice, request, note)
        from coda.permissions.base import PromptAnswer

        return PromptAnswer(choice, note)

    # -- what is asked

    def _describe(self, request: PermissionRequest) -> None:
        screen = self._screen
        screen.blank()
        screen.text(f"  {_headline(request)}", "bold yellow")
        preview = self._preview(request)
        if preview is not None:
            screen.print(preview)
        screen.text(f"  asking because {request.reason}", "dim")

    def _preview(self, request: PermissionRequest) -> Text | None:
        from rich.text import Text

        color = self._screen.color
        detail = request.detail
        lines: list[tuple[str, str]] = []
        if request.tool == "Bash":
            lines = [(line, "bold") for line in detail.splitlines()]
        elif request.tool == "Edit" and detail.startswith("--- ") and "\n+++ " in detail:
            old, new = detail[4:].split("\n+++ ", 1)
            lines = _diff_lines(old, new)
        elif request.tool == "Write":
            lines = [("+" + line, "green") for line in detail.splitlines()] or [("(empty)", "")]
        elif request.tool in ("MultiEdit", "ExitPlanMode"):
            lines = _structured(request.tool, detail)
        elif detail and detail != request.summary:
            lines = [(line, "") for line in detail.splitlines()]
        if not lines:
            return None
        shown = lines[:MAX_PREVIEW_LINES]
        text = Text()
        from coda.ui.view import safe

        for line, style in shown:
            text.append("    " + safe(line).expandtabs(4) + "\n", style=style if color else "")
        if len(lines) > len(shown):
            text.append(
                f"    ({len(lines) - len(shown)} more lines)\n", style="dim" if color else ""
            )
        text.rstrip()
        return text

    async def _choose(self, options: list[tuple[Choice, str]]) -> Choice:
        from coda.ui.choose import choose

        values = [value for value, _ in options]
        letters = {"once": "y", "always": "a", "deny": "n"}
        index = await choose(
            self._screen,
            None,
            [label for _, label in options],
            keys={letters[value]: i for i, value in enumerate(values)},
            cancel="interrupt",
        )
        return "interrupt" if index is None else values[index]

    async def _note(self) -> str | None:
        """What coda should do instead; None if the person interrupts."""
        from prompt_toolkit import PromptSession
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

        kb = KeyBindings()

        @kb.add("escape", eager=True)
        def _skip(event: KeyPressEvent) -> None:
            event.app.exit(result="")

        session: PromptSession[str] = PromptSession(key_bindings=kb, erase_when_done=True)
        session.app.ttimeoutlen = 0.05
        try:
            text = await session.prompt_async(
                "  Tell coda what to do instead (enter to skip): ",
                include_default_pygments_style=False,
                handle_sigint=False,
            )
        except KeyboardInterrupt:
            return None
        except EOFError:
            return ""
        return text.strip()

    def _outcome(self, choice: Choice, request: PermissionRequest, note: str) -> None:
        g, screen = self._screen.glyphs, self._screen
        if choice == "once":
            screen.text(f"  {g.ok} Allowed", "green")
        elif choice == "always":
            screen.text(
                f"  {g.ok} Allowed, and from now on: {request.suggested_rule} "
                f"(saved in {LOCAL_SETTINGS})",
                "green",
            )
        else:
            told = f": {note}" if note else ""
            screen.text(f"  {g.error} Denied{told}", "red")


def _options(request: PermissionRequest) -> list[tuple[Choice, str]]:
    options: list[tuple[Choice, str]] = [("once", "Yes")]
    if request.suggested_rule:
        options.append(
            (
                "always",
                f"Yes, and don't ask again: allow {request.suggested_rule} "
                f"(saved in {LOCAL_SETTINGS})",
            )
        )
    options.append(("deny", "No, and tell coda what to do instead"))
    return options


def _headline(request: PermissionRequest) -> str:
    tool, summary = request.tool, request.summary
    if tool == "Bash":
        return "Bash wants to run:"
    if tool in ("Edit", "MultiEdit", "NotebookEdit"):
        return f"{tool} wants to change {summary}:"
    if tool == "Write":
        return f"Write wants to write {summary}:"
    if tool == "WebFetch":
        return f"WebFetch wants to fetch {summary}"
    if tool == "ExitPlanMode":
        return "coda's plan is ready. Start carrying it out?"
    return f"{tool} wants to run: {summary}"


def _structured(tool: str, detail: str) -> list[tuple[str, str]]:
    """MultiEdit's edits as diffs, ExitPlanMode's plan as text (the detail is their JSON)."""
    import json

    try:
        args = json.loads(detail)
    except ValueError:
        return [(line, "") for line in detail.splitlines()]
    if tool == "ExitPlanMode":
        return [(line, "") for line in str(args.get("plan", "")).splitlines()]
    lines: list[tuple[str, str]] = []
    for edit in args.get("edits") or []:
        if isinstance(edit, dict):
            lines += _diff_lines(str(edit.get("old_string", "")), str(edit.get("new_string", "")))
    return lines


def _diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    styles = {"+": "green", "-": "red", "@": "cyan"}
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    out = []
    for line in diff:
        # Hunk headers would number the lines of the strings, not of the file.
        if line.startswith(("---", "+++", "@@")):
            continue
        out.append((line, styles.get(line[:1], "dim")))
    return out
