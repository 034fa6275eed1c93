"""The terminal as coda writes to it: finished output scrolls up, a small live area stays below.

Everything finished is printed once, into the terminal's own scrollback. Only the live area
(a spinner line, and the tail of streaming thinking) is ever redrawn, and it is a few lines
at most, each cut to the terminal's width so that it never wraps.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, TextIO

from coda.ui.glyphs import Glyphs

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

MAX_LIVE_LINES = 6
_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\x1b\[[0-9;?]*[ -/]*[@-~]")


class _AsciiFile:
    """Tells rich the terminal is not UTF-8, so it draws boxes with ASCII; writes through."""

    encoding = "ascii"

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def isatty(self) -> bool:
        return self._file.isatty()

    def fileno(self) -> int:
        return self._file.fileno()


class Screen:
    def __init__(
        self,
        out: TextIO,
        *,
        color: bool,
        glyphs: Glyphs,
        width: int | None = None,
        force_terminal: bool | None = None,
    ) -> None:
        self.out = out
        self.color = color
        self.glyphs = glyphs
        self._width = width
        self._force_terminal = force_terminal
        self._console: Console | None = None
        self._live: list[str] = []
        self._drawn: list[int] = []  # the cell width of each live line on the screen
        self._live_on = True

    @property
    def console(self) -> Console:
        # rich is imported on first output, not at start-up.
        if self._console is None:
            from rich.console import Console

            file = self.out if self.glyphs.unicode else _AsciiFile(self.out)
            self._console = Console(
                file=file,  # type: ignore[arg-type]
                color_system="auto" if self.color else None,
                force_terminal=self._force_terminal,
                width=self._width,
                highlight=False,
                emoji=False,
                markup=False,
                legacy_windows=False,
            )
        return self._console

    @property
    def width(self) -> int:
        if self._width is not None:
            return self._width
        try:
            return max(20, os.get_terminal_size(self.out.fileno()).columns)
        except (OSError, ValueError, AttributeError):
            return 80

    # -- finished output

    def print(self, *renderables: RenderableType, end: str = "\n") -> None:
        self.clear_live()
        self.console.print(*renderables, end=end, soft_wrap=False)
        self._draw_live()

    def text(self, text: str, style: str = "", *, end: str = "\n") -> None:
        from rich.text import Text

        self.print(Text(text, style=style if self.color else ""), end=end)

    def plain(self, text: str, style: str = "") -> None:
        """A line written directly, without rich: for start-up, before rich is imported."""
        codes = ";".join(_SGR[word] for word in style.split() if word in _SGR)
        self.clear_live()
        if codes and self.color:
            text = f"\x1b[{codes}m{text}\x1b[0m"
        self.out.write(text + "\n")
        self.out.flush()
        self._draw_live()

    def blank(self) -> None:
        self.clear_live()
        self.out.write("\n")
        self._draw_live()

    # -- the live area

    def set_live(self, lines: list[str]) -> None:
        """Replace the live area (plain text; styled here). Draws it now if it is shown."""
        self._live = lines[-MAX_LIVE_LINES:]
        if self._live_on:
            self.clear_live()
            self._draw_live()

    def hide_live(self) -> None:
        """Take the live area off the screen, e.g. while a question is asked."""
        self.clear_live()
        self._live_on = False

    def show_live(self) -> None:
        self._live_on = True
        self._draw_live()

    def stop_live(self) -> None:
        self.clear_live()
        self._live = []

    def clear_live(self) -> None:
        if not self._drawn:
            return
        # Rows the live lines take now: after a resize to fewer columns the terminal has
        # wrapped them (terminals reflow), so each may be more than one row.
        width = self.width
        rows = sum(max(1, -(-cells // width)) for cells in self._drawn)
        up = "\x1b[A" * (rows - 1)
        self.out.write("\r" + up + "\x1b[J")
        self.out.flush()
        self._drawn = []

    def _draw_live(self) -> None:
        if not self._live_on or not self._live or self._drawn:
            return
        from rich.cells import cell_len

        width = self.width - 1
        rows = []
        for i, line in enumerate(self._live):
            plain = fit(line, width, self.glyphs.ellipsis)
            self._drawn.append(cell_len(plain))
            last = i == len(self._live) - 1
            # The status line is plain; what streams above it (thinking) is dimmed.
            rows.append(plain if last or not self.color else f"\x1b[2m{plain}\x1b[0m")
        self.out.write("\n".join(rows))
        self.out.flush()


def fit(text: str, width: int, ellipsis: str = "…") -> str:
    """One line of at most `width` cells: control characters dropped, the end cut."""
    from rich.cells import cell_len, set_cell_size

    text = _CONTROL.sub("", text.replace("\t", "    "))
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(0, width - len(ellipsis))) + ellipsis
