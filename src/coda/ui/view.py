"""The agent's Observer on a terminal: streamed answers, thinking, tool calls and their results."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

from coda.messages import (
    AssistantMessage,
    Message,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    compact_input,
)
from coda.providers.base import (
    BlockStart,
    BlockStop,
    Event,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    StreamRetry,
    TextDelta,
    ThinkingDelta,
)
from coda.tools.base import ToolOutput
from coda.ui.blocks import BlockSplitter
from coda.ui.markdown import MarkdownPrinter
from coda.ui.screen import Screen, fit

# Lines of streaming thinking shown above the status line before it is collapsed.
THINKING_TAIL_LINES = 4
# The live area is redrawn at most this often while tokens stream (seconds).
LIVE_INTERVAL = 0.05
MAX_DISPLAY_LINES = 60
_MAIN_ARG = {
    "Bash": "command",
    "Read": "file_path",
    "Write": "file_path",
    "Edit": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
    "Glob": "pattern",
    "Grep": "pattern",
    "LS": "path",
    "WebFetch": "url",
    "Task": "description",
    "BashOutput": "bash_id",
    "KillShell": "shell_id",
}
_PATH_ARGS = frozenset({"file_path", "notebook_path", "path"})
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class TerminalView:
    def __init__(self, screen: Screen, *, cwd: Path) -> None:
        self.screen = screen
        self.cwd = cwd
        self.glyphs = screen.glyphs
        self.last_thinking = ""
        self._printer = MarkdownPrinter(screen)
        self._splitters: dict[int, BlockSplitter] = {}
        self._thinking: dict[int, list[str]] = {}
        self._thinking_started = 0.0
        self._pending: list[ToolUseBlock] = []
        self._outputs: list[ToolOutput | None] = []
        self._turn_started: float | None = None
        self._phase = "Waiting for the model"
        self._tokens_done = 0
        self._stream_chars = 0
        self._frame = 0
        self._live_drawn_at = 0.0
        self._gap_needed = False

    # -- turn lifecycle, driven by the REPL

    def begin_turn(self, phase: str = "Waiting for the model") -> None:
        self._turn_started = time.monotonic()
        self._phase = phase
        self._tokens_done = 0
        self._stream_chars = 0
        self._gap_needed = True
        self._refresh(force=True)

    def end_turn(self) -> None:
        for index in list(self._splitters):
            self._finish_text(index)
        self._turn_started = None
        self.screen.stop_live()

    def interrupted(self, *, ask: bool = True) -> None:
        """Show what was cut off, plainly, and say that the turn stopped."""
        for splitter in self._splitters.values():
            pending = splitter.pending
            if pending:
                self.screen.text(pending)
        self._splitters.clear()
        for index in list(self._thinking):
            self._finish_thinking(index)
        g = self.glyphs
        for call in self._pending:
            self.screen.text(f"  {g.result} {call.name}: interrupted", "dim")
        self._pending.clear()
        self._outputs.clear()
        self._turn_started = None
        self.screen.stop_live()
        question = " What should coda do instead?" if ask else ""
        self.screen.text(f"{g.error} Interrupted.{question}", "yellow")

    def show_history(self, transcript: list[Message], *, exchanges: int = 3) -> None:
        """The end of a resumed conversation, so the person sees where it stands."""
        from coda.messages import UserMessage

        shown: list[tuple[str, str]] = []
        for message in reversed(transcript):
            if len([s for s in shown if s[0] == "user"]) >= exchanges:
                break
            if isinstance(message, UserMessage):
                if any(isinstance(b, ToolResultBlock) for b in message.content):
                    continue
                text = " ".join(b.text for b in message.content if isinstance(b, TextBlock))
                shown.append(("user", text))
            elif message.text.strip():
                shown.append(("assistant", message.text))
        if not shown:
            return
        self.screen.text("Earlier in this conversation:", "dim")
        for role, text in reversed(shown):
            lines = text.strip().splitlines() or [""]
            cut = lines[:6] + (["…"] if len(lines) > 6 else [])
            if role == "user":
                self.screen.text(f"{self.glyphs.prompt} {safe(cut[0])}", "bold")
                for line in cut[1:]:
                    self.screen.text(f"  {safe(line)}", "bold")
            else:
                for line in cut:
                    self.screen.text(f"  {safe(line)}", "dim")

    def tick(self) -> None:
        """Advance the spinner; called a few times a second while a turn runs."""
        self._frame += 1
        self._refresh(force=True)

    # -- Observer

    def stream_event(self, event: Event) -> None:
        if isinstance(event, MessageStart):
            self._stream_chars = 0
        elif isinstance(event, BlockStart):
            self._block_start(event)
        elif isinstance(event, TextDelta):
            self._stream_chars += len(event.text)
            splitter = self._splitters.get(event.index)
            if splitter is None:
                splitter = self._splitters[event.index] = BlockSplitter()
            pieces = splitter.feed(safe(event.text))
            if pieces:
                self._printer.pieces(pieces)
            self._refresh()
        elif isinstance(event, ThinkingDelta):
            self._stream_chars += len(event.thinking)
            self._thinking.setdefault(event.index, []).append(safe(event.thinking))
            self._refresh()
        elif isinstance(event, InputJsonDelta):
            self._stream_chars += len(event.partial_json)
            self._refresh()
        elif isinstance(event, BlockStop):
            if event.index in self._splitters:
                self._finish_text(event.index)
            elif event.index in self._thinking:
                self._finish_thinking(event.index)
        elif isinstance(event, MessageDelta):
            if event.usage.output_tokens is not None:
                self._tokens_done += event.usage.output_tokens
                self._stream_chars = 0
        elif isinstance(event, StreamRetry):
            self._splitters.clear()
            self._thinking.clear()
            self.screen.text(
                f"retrying in {event.delay:.1f}s (attempt {event.attempt}): {event.reason}; "
                "the answer starts again",
                "yellow",
            )

    def message(self, message: Message) -> None:
        if isinstance(message, AssistantMessage):
            calls = message.tool_calls
            if calls:
                self._section()
                for call in calls:
                    self.screen.text(self._fit(self._call_line(call)), "bold")
                self._pending = list(calls)
                self._outputs = []
                names = ", ".join(dict.fromkeys(c.name for c in calls))
                self._phase = f"Running {names}"
            else:
                self._phase = "Waiting for the model"
            self._refresh(force=True)
            return
        results = [b for b in message.content if isinstance(b, ToolResultBlock)]
        if not results:
            return
        by_id = {b.tool_use_id: b for b in results}
        for i, call in enumerate(self._pending):
            output = self._outputs[i] if i < len(self._outputs) else None
            result = by_id.get(call.id)
            if result is not None:
                self._show_result(call, result, output)
        self._pending, self._outputs = [], []
        self._phase = "Waiting for the model"
        self._gap_needed = True
        self._refresh(force=True)

    def tool_done(self, name: str, output: ToolOutput | None, is_error: bool) -> None:
        self._outputs.append(output)

    # -- pieces

    def _block_start(self, event: BlockStart) -> None:
        block = event.block
        if isinstance(block, TextBlock):
            self._section()
            self._splitters[event.index] = BlockSplitter()
            self._phase = "Writing"
        elif isinstance(block, ThinkingBlock):
            self._section()
            self._thinking[event.index] = []
            self._thinking_started = time.monotonic()
            self._phase = "Thinking"
        elif isinstance(block, RedactedThinkingBlock):
            self._section()
            self.screen.text(f"{self.glyphs.thought} Thinking (hidden by the provider)", "dim")
        elif isinstance(block, ToolUseBlock):
            self._phase = f"Preparing {block.name}"
        self._refresh(force=True)

    def _finish_text(self, index: int) -> None:
        splitter = self._splitters.pop(index)
        self._printer.pieces(splitter.finish())
        self._gap_needed = True

    def _finish_thinking(self, index: int) -> None:
        text = "".join(self._thinking.pop(index, [])).strip()
        if text:
            self.last_thinking = text
        seconds = max(0.0, time.monotonic() - self._thinking_started)
        self.screen.text(
            f"{self.glyphs.thought} Thought for {seconds:.0f}s (ctrl+o to show)",
            "dim italic",
        )
        self._gap_needed = True
        self._phase = "Waiting for the model"
        self._refresh(force=True)

    def show_thinking(self) -> None:
        """Ctrl+O: the last thinking in full."""
        if not self.last_thinking:
            self.screen.text("(no thinking in this session yet)", "dim")
            return
        from rich.text import Text

        self.screen.text(f"{self.glyphs.thought} Thinking", "dim bold")
        self.screen.print(Text(self.last_thinking, style="dim italic" if self.screen.color else ""))

    def _fit(self, line: str) -> str:
        return fit(line, self.screen.width - 1, self.glyphs.ellipsis)

    def _call_line(self, call: ToolUseBlock) -> str:
        name = call.name
        if name.startswith("mcp__") and "__" in name[5:]:
            server, _, tool = name[5:].partition("__")
            name = f"{server} {self.glyphs.dot} {tool} (MCP)"
        return f"{self.glyphs.tool} {name}({safe(call_argument(call, self.cwd))})"

    def _show_result(
        self, call: ToolUseBlock, result: ToolResultBlock, output: ToolOutput | None
    ) -> None:
        g, screen = self.glyphs, self.screen
        if result.is_error:
            first = next((ln for ln in safe(result.text).splitlines() if ln.strip()), "failed")
            screen.text(self._fit(f"  {g.result} {g.error} {first}"), "red")
            return
        summary = safe(output.summary) if output is not None and output.summary else ""
        if not summary:
            lines = result.text.splitlines()
            summary = f"{len(lines)} lines of output" if len(lines) > 1 else safe(result.text)
        screen.text(self._fit(f"  {g.result} {summary}"), "dim")
        if output is not None and output.display:
            if call.name == "TodoWrite":
                self._checklist(output.display)
            else:
                self._diff(output.display)

    def _diff(self, display: str) -> None:
        from rich.text import Text

        lines = display.rstrip("\n").splitlines()
        shown = lines[:MAX_DISPLAY_LINES]
        color = self.screen.color
        text = Text()
        for line in shown:
            style = ""
            if color:
                if line.startswith(("+++", "---")):
                    style = "bold"
                elif line.startswith("+"):
                    style = "green"
                elif line.startswith("-"):
                    style = "red"
                elif line.startswith("@@"):
                    style = "cyan"
                else:
                    style = "dim"
            text.append("    " + safe(line).expandtabs(4) + "\n", style=style)
        if len(lines) > len(shown):
            more = f"    ({len(lines) - len(shown)} more lines)\n"
            text.append(more, style="dim" if color else "")
        text.rstrip()
        self.screen.print(text)

    def _checklist(self, display: str) -> None:
        from rich.text import Text

        g, color = self.glyphs, self.screen.color
        marks = {"☒": (g.todo_done, "dim strike"), "◐": (g.todo_active, "bold")}
        text = Text()
        for line in display.splitlines():
            mark, _, rest = line.partition(" ")
            glyph, style = marks.get(mark, (g.todo_pending, ""))
            if mark not in ("☒", "◐", "☐"):
                glyph, rest = "", line
            text.append(f"    {glyph} {rest}\n", style=style if color else "")
        text.rstrip()
        self.screen.print(text)

    # -- status

    def _section(self) -> None:
        if self._gap_needed:
            self.screen.blank()
            self._gap_needed = False

    def _refresh(self, *, force: bool = False) -> None:
        if self._turn_started is None:
            return
        now = time.monotonic()
        if not force and now - self._live_drawn_at < LIVE_INTERVAL:
            return
        self._live_drawn_at = now
        lines: list[str] = []
        if self._thinking:
            current = "".join(next(reversed(self._thinking.values())))
            width = max(10, self.screen.width - 3)
            tail = textwrap.wrap(current[-2000:], width) or [""]
            lines = ["  " + line for line in tail[-THINKING_TAIL_LINES:]]
        lines.append(self.status_text(now))
        self.screen.set_live(lines)

    def status_text(self, now: float | None = None) -> str:
        g = self.glyphs
        now = time.monotonic() if now is None else now
        started = self._turn_started if self._turn_started is not None else now
        elapsed = int(now - started)
        tokens = self._tokens_done + self._stream_chars // 4
        spin = g.spinner[self._frame % len(g.spinner)]
        parts = [f"{elapsed}s"]
        if tokens:
            parts.append(f"{tokens:,} tokens")
        parts.append("esc to interrupt")
        return f"{spin} {self._phase}{g.ellipsis} ({f' {g.dot} '.join(parts)})"


def safe(text: str) -> str:
    """Model and tool text without the control characters that would drive the terminal
    (escape sequences that clear it, retitle it, or move the cursor); tabs and newlines stay."""
    return _UNSAFE.sub("", text) if _UNSAFE.search(text) else text


def call_argument(call: ToolUseBlock, cwd: Path) -> str:
    """The one argument that says what a call does: the command, the file, the pattern."""
    args = call.input
    if call.name == "TodoWrite":
        todos = args.get("todos")
        return f"{len(todos)} items" if isinstance(todos, list) else ""
    if call.name.startswith("mcp__"):
        return compact_input(args)
    key = _MAIN_ARG.get(call.name)
    value = args.get(key) if key else None
    if not isinstance(value, str):
        value = next((v for v in args.values() if isinstance(v, str)), "")
    if key in _PATH_ARGS and value:
        value = _relative(value, cwd)
    if call.name == "Grep" and isinstance(args.get("path"), str):
        value = f"{value} in {_relative(str(args['path']), cwd)}"
    first = value.strip().splitlines()[0] if value.strip() else ""
    return first + (" …" if "\n" in value.strip() else "")


def _relative(path: str, cwd: Path) -> str:
    try:
        return str(Path(path).relative_to(cwd)) if Path(path).is_absolute() else path
    except ValueError:
        return path
