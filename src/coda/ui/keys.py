"""Keys while a turn runs: Esc and Ctrl+C interrupt it, Ctrl+O shows the thinking.

prompt_toolkit owns the keyboard only while it asks for input. During a turn the terminal
is put in a mode without echo or line editing (signals stay on, so Ctrl+C still raises
SIGINT), and stdin is read by the event loop directly: no thread, no timeout to wait out.
What the person types meanwhile is kept and becomes the start of the next prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from typing import Any

ESC, CTRL_C, CTRL_O, BACKSPACE = b"\x1b", b"\x03", b"\x0f", b"\x7f"
_SEQUENCE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)


class TurnKeys:
    def __init__(
        self,
        fd: int | None,
        *,
        on_interrupt: Callable[[], None],
        on_show_thinking: Callable[[], None] = lambda: None,
    ) -> None:
        self._fd = fd
        self._on_interrupt = on_interrupt
        self._on_show_thinking = on_show_thinking
        self._saved: list[Any] | None = None
        self._active = False
        self.typeahead = ""

    def start(self) -> None:
        if self._active:
            return
        self._active = True
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        if self._fd is None or not os.isatty(self._fd):
            return
        import termios

        try:
            self._saved = termios.tcgetattr(self._fd)
            mode = termios.tcgetattr(self._fd)
            mode[3] &= ~(termios.ICANON | termios.ECHO | termios.IEXTEN)
            mode[3] |= termios.ISIG
            mode[6][termios.VMIN] = 1
            mode[6][termios.VTIME] = 0
            termios.tcsetattr(self._fd, termios.TCSANOW, mode)
            loop.add_reader(self._fd, self._readable)
        except (termios.error, OSError):
            self._saved = None

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
        # Back to Python's own handler, so a Ctrl+C outside a turn is a KeyboardInterrupt.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if self._fd is None or self._saved is None:
            return
        import termios

        loop.remove_reader(self._fd)
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(self._fd, termios.TCSANOW, self._saved)
        self._saved = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Give the keyboard back (to a permission question) for a while."""
        was_active = self._active
        self.stop()
        try:
            yield
        finally:
            if was_active:
                self.start()

    def _readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            return
        self.handle(data)

    def handle(self, data: bytes) -> None:
        """One read's worth of keys. A lone Esc is a key; Esc followed by more is a sequence."""
        if not data:
            return
        if not data.strip(ESC) or CTRL_C in data:
            self._on_interrupt()
            return
        if CTRL_O in data:
            self._on_show_thinking()
            data = data.replace(CTRL_O, b"")
        for char in _SEQUENCE.sub(b"", data).decode("utf-8", "ignore"):
            if char in "\x7f\x08":
                self.typeahead = self.typeahead[:-1]
            elif char.isprintable():
                self.typeahead += char
