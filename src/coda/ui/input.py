"""The input line: prompt_toolkit's prompt with coda's keys, completion, history and status."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from coda.ui.status import status_line

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.key_binding import KeyBindings

    from coda.ui.repl import Repl

# A second Ctrl+C on an empty prompt within this many seconds exits.
EXIT_WINDOW = 2.0


class InputPrompt:
    """Reads one message at a time. Enter sends; Alt+Enter and Ctrl+J add a line; a
    bracketed paste stays one message; Ctrl+R searches this project's history."""

    def __init__(self, repl: Repl) -> None:
        self._repl = repl
        self._ctrl_c_at = 0.0
        self._session = self._build()

    async def read(
        self, default: str = "", *, on_first_draw: Callable[[], object] | None = None
    ) -> str | None:
        """The next message; None when the person leaves (Ctrl+D, or Ctrl+C twice)."""
        loop = asyncio.get_running_loop()

        def pre_run() -> None:
            # pre_run comes before the first draw; call_soon runs after it.
            if on_first_draw is not None:
                loop.call_soon(on_first_draw)

        try:
            return await self._session.prompt_async(
                default=default, handle_sigint=False, pre_run=pre_run
            )
        except EOFError:
            return None
        except KeyboardInterrupt:
            return ""

    def _build(self) -> PromptSession[str]:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.output import ColorDepth
        from prompt_toolkit.styles import Style

        from coda.ui.commands import command_menu
        from coda.ui.mcp_commands import mcp_offers
        from coda.ui.mentions import make_completer

        repl = self._repl
        history: History
        path = history_path(repl.env, repl.cwd)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            history = FileHistory(str(path))
        except OSError:
            history = InMemoryHistory()
        color = repl.screen.color
        style = Style.from_dict(
            {"bottom-toolbar": "noreverse #888888", "prompt": "bold"}
            if color
            else {"bottom-toolbar": "noreverse", "completion-menu": "noreverse"}
        )
        session: PromptSession[str] = PromptSession(
            message=[("class:prompt", f"{repl.glyphs.prompt} ")],
            multiline=True,
            prompt_continuation=lambda width, _line, _wrap: " " * width,
            history=history,
            completer=make_completer(  # type: ignore[arg-type]
                command_menu(), repl.cwd, lambda: mcp_offers(repl)
            ),
            complete_while_typing=True,
            key_bindings=self._bindings(),
            bottom_toolbar=self._toolbar,
            style=style,
            include_default_pygments_style=False,
            color_depth=None if color else ColorDepth.MONOCHROME,
            reserve_space_for_menu=4,
        )
        return session

    def _bindings(self) -> KeyBindings:
        from prompt_toolkit.application import run_in_terminal
        from prompt_toolkit.filters import is_searching
        from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

        repl = self._repl
        kb = KeyBindings()
        typing = ~is_searching  # while Ctrl+R searches, its own keys apply

        @kb.add("enter", filter=typing)
        def _send(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            state = buffer.complete_state
            if state is not None and state.current_completion is not None:
                buffer.apply_completion(state.current_completion)
                if not buffer.text.startswith("/"):
                    return  # a completed @path: keep typing
            buffer.validate_and_handle()

        @kb.add("escape", "enter", filter=typing)
        @kb.add("c-j", filter=typing)
        def _newline(event: KeyPressEvent) -> None:
            event.current_buffer.insert_text("\n")

        @kb.add("escape", "escape", filter=typing)
        def _rewind(event: KeyPressEvent) -> None:
            # Esc Esc on an empty line opens /rewind, as in peers; with text it clears it.
            buffer = event.current_buffer
            if buffer.text:
                buffer.reset()
            else:
                event.app.exit(result="/rewind")

        @kb.add("s-tab")
        def _cycle(event: KeyPressEvent) -> None:
            if repl.toolbar_parts() is not None:
                repl.cycle_mode()
                event.app.invalidate()

        @kb.add("c-o")
        def _thinking(event: KeyPressEvent) -> None:
            run_in_terminal(repl.show_thinking)

        @kb.add("c-c", filter=typing)
        @kb.add("<sigint>")
        def _ctrl_c(event: KeyPressEvent) -> None:
            self._ctrl_c(event)

        return kb

    def _ctrl_c(self, event: object) -> None:
        """Clear the line; on an empty line, arm exit; pressed again soon after, exit."""
        from prompt_toolkit.key_binding import KeyPressEvent

        assert isinstance(event, KeyPressEvent)
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
            self._ctrl_c_at = 0.0
            return
        now = time.monotonic()
        if now - self._ctrl_c_at < EXIT_WINDOW:
            event.app.exit(exception=EOFError())
            return
        self._ctrl_c_at = now
        event.app.invalidate()

        async def _expire() -> None:
            await asyncio.sleep(EXIT_WINDOW)
            event.app.invalidate()

        event.app.create_background_task(_expire())

    def _toolbar(self) -> StyleAndTextTuples:
        repl = self._repl
        hint = ""
        if time.monotonic() - self._ctrl_c_at < EXIT_WINDOW:
            hint = "press ctrl+c again to exit"
        parts = repl.toolbar_parts()
        if parts is None:
            return [("class:bottom-toolbar.text", hint or f"starting{repl.glyphs.ellipsis}")]
        line = status_line(
            model=parts.model,
            mode=parts.mode,
            share=parts.share,
            cost=parts.cost,
            width=repl.screen.width,
            glyphs=repl.glyphs,
            hint=hint,
        )
        return [("class:bottom-toolbar.text", line)]


def history_path(env: Mapping[str, str], cwd: Path) -> Path:
    """One input history per project, in coda's data directory."""
    from coda.config import data_dir

    resolved = cwd.resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in resolved.name)[:40]
    return data_dir(env) / "history" / f"{name or 'root'}-{digest}"
