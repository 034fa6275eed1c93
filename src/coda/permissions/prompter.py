"""Ways to ask the person: never (unattended runs) and a plain terminal question."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from coda.permissions.base import PermissionRequest, PromptAnswer


class NeverAsk:
    """Unattended runs never wait: whatever needs asking is refused."""

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        return PromptAnswer("deny")


class PlainTerminalPrompter:
    """A plain question on the terminal; the interactive UI renders a richer one."""

    def __init__(self, out: TextIO | None = None, tty_path: str = "/dev/tty") -> None:
        self._out = out or sys.stderr
        self._tty_path = tty_path

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        return await asyncio.to_thread(self._ask_blocking, request)

    def _ask_blocking(self, request: PermissionRequest) -> PromptAnswer:
        out = self._out
        out.write(f"\ncoda wants to use {request.tool}: {request.summary}\n")
        if request.detail and request.detail != request.summary:
            out.write(request.detail.rstrip() + "\n")
        out.write(f"(asking because {request.reason})\n")
        always = f"  2) yes, and don't ask again for {request.suggested_rule}\n"
        out.write("  1) yes\n" + (always if request.suggested_rule else ""))
        out.write("  3) no, and tell coda what to do instead\n> ")
        out.flush()
        try:
            with open(self._tty_path, encoding="utf-8", errors="replace") as tty:
                choice = tty.readline().strip()
                if choice == "3":
                    out.write("What should coda do instead? ")
                    out.flush()
                    return PromptAnswer("deny", tty.readline().strip())
        except OSError:
            return PromptAnswer("deny", "")  # no terminal to ask on
        if choice == "1":
            return PromptAnswer("once")
        if choice == "2" and request.suggested_rule:
            return PromptAnswer("always")
        return PromptAnswer("deny")
