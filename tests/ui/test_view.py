"""What the terminal shows for the agent's events, rendered in process to a string."""

from __future__ import annotations

import io
import re
from pathlib import Path

from coda.messages import (
    AssistantMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    UserMessage,
)
from coda.providers.base import (
    BlockStart,
    BlockStop,
    Event,
    MessageStart,
    TextDelta,
    ThinkingDelta,
)
from coda.tools.base import ToolContext
from coda.tools.edit import EditTool
from coda.tools.read import ReadTool
from coda.tools.todo import TodoWriteTool
from coda.ui.glyphs import ASCII, UNICODE, Glyphs
from coda.ui.screen import Screen
from coda.ui.view import TerminalView, call_argument

ANY_ESCAPE = re.compile(r"\x1b")


def make_view(
    *, color: bool = False, glyphs: Glyphs = UNICODE, width: int = 80
) -> tuple[TerminalView, io.StringIO]:
    out = io.StringIO()
    screen = Screen(out, color=color, glyphs=glyphs, width=width, force_terminal=color)
    return TerminalView(screen, cwd=Path("/work/repo")), out


def stream_text(view: TerminalView, text: str, index: int = 0, chunk: int = 5) -> None:
    view.stream_event(BlockStart(index, TextBlock("")))
    for i in range(0, len(text), chunk):
        view.stream_event(TextDelta(index, text[i : i + chunk]))
    view.stream_event(BlockStop(index))


def test_streamed_markdown_is_rendered_once_and_plainly_without_colour() -> None:
    view, out = make_view()
    events: list[Event] = [MessageStart("m", "x", Usage())]
    for event in events:
        view.stream_event(event)
    stream_text(view, "## Steps\n\n1. **Read** the `README`\n2. Run [tests](http://t.io)\n")
    text = out.getvalue()
    assert ANY_ESCAPE.search(text) is None
    assert text.count("Steps") == 1
    assert "1. Read the README\n2. Run tests (http://t.io)\n" in text


def test_code_is_highlighted_when_colour_is_on() -> None:
    view, out = make_view(color=True)
    stream_text(view, "```python\ndef f():\n    return 1\n```\n")
    text = out.getvalue()
    assert "\x1b[" in text
    assert re.sub(r"\x1b\[[0-9;]*m", "", text) == "  def f():\n      return 1\n"


def test_lines_fit_a_forty_column_terminal() -> None:
    view, out = make_view(width=40)
    stream_text(
        view,
        "A long paragraph that certainly does not fit in forty columns of text.\n\n"
        "- and a list item that also needs more than forty columns to show\n",
    )
    lines = out.getvalue().splitlines()
    assert lines and all(len(line) <= 40 for line in lines)
    assert lines[-1].startswith("  ")  # the item's second line hangs under its text


def test_thinking_streams_then_collapses_and_ctrl_o_shows_it() -> None:
    view, out = make_view()
    view.begin_turn()
    view.stream_event(BlockStart(0, ThinkingBlock("")))
    view.stream_event(ThinkingDelta(0, "First I compare "))
    view.stream_event(ThinkingDelta(0, "the two options."))
    view.stream_event(BlockStop(0))
    view.end_turn()
    text = out.getvalue()
    assert "Thought for" in text
    assert view.last_thinking == "First I compare the two options."
    view.show_thinking()
    assert out.getvalue().endswith("First I compare the two options.\n")


def test_a_tool_call_is_one_line_with_its_result_summary(tmp_path: Path) -> None:
    view, out = make_view(glyphs=ASCII)
    view.cwd = tmp_path
    call = ToolUseBlock("t1", "Bash", {"command": "pytest -q\nsecond line"})
    view.message(AssistantMessage([call]))
    view.tool_done("Bash", None, True)
    view.message(
        UserMessage([ToolResultBlock("t1", [TextBlock("Permission denied: no")], is_error=True)])
    )
    assert out.getvalue().splitlines()[-2:] == [
        "* Bash(pytest -q …)",
        "  |_ x Permission denied: no",
    ]


async def test_edits_show_a_coloured_diff_and_todos_a_checklist(tmp_path: Path) -> None:
    path = tmp_path / "calc.py"
    path.write_text("def add(a, b):\n    return a - b\n")
    ctx = ToolContext(cwd=tmp_path)
    await ReadTool().run({"file_path": str(path)}, ctx)
    edit = {"file_path": str(path), "old_string": "a - b", "new_string": "a + b"}
    output = await EditTool().run(edit, ctx)
    view, out = make_view(color=True)
    view.cwd = tmp_path
    view.message(AssistantMessage([ToolUseBlock("t1", "Edit", edit)]))
    view.tool_done("Edit", output, False)
    view.message(UserMessage([ToolResultBlock("t1", [TextBlock("ok")])]))
    text = out.getvalue()
    assert "Edit(calc.py)" in text
    assert "\x1b[31m    -    return a - b" in text  # red
    assert "\x1b[32m    +    return a + b" in text  # green

    todos = {
        "todos": [
            {"content": "Write it", "status": "completed", "activeForm": "Writing it"},
            {"content": "Test it", "status": "in_progress", "activeForm": "Testing it"},
            {"content": "Ship it", "status": "pending", "activeForm": "Shipping it"},
        ]
    }
    output = await TodoWriteTool().run(todos, ctx)
    view, out = make_view(glyphs=ASCII)
    view.message(AssistantMessage([ToolUseBlock("t2", "TodoWrite", todos)]))
    view.tool_done("TodoWrite", output, False)
    view.message(UserMessage([ToolResultBlock("t2", [TextBlock("ok")])]))
    assert "    [x] Write it\n    [~] Test it\n    [ ] Ship it\n" in out.getvalue()


def test_an_interrupt_shows_what_was_cut_off_and_says_so() -> None:
    view, out = make_view()
    view.begin_turn()
    view.stream_event(BlockStart(0, TextBlock("")))
    view.stream_event(TextDelta(0, "Finished line.\n\nhalf a sent"))
    view.interrupted()
    text = out.getvalue()
    assert "Finished line." in text and "half a sent" in text
    assert "Interrupted" in text


def test_the_status_line_counts_seconds_and_tokens() -> None:
    view, _ = make_view()
    view.begin_turn()
    view.stream_event(BlockStart(0, TextBlock("")))
    view.stream_event(TextDelta(0, "x" * 400))
    status = view.status_text()
    assert status.endswith("(0s · 100 tokens · esc to interrupt)")
    assert "Writing" in status


def test_call_argument_names_the_main_argument() -> None:
    cwd = Path("/r")
    assert call_argument(ToolUseBlock("1", "Read", {"file_path": "/r/src/a.py"}), cwd) == "src/a.py"
    assert call_argument(ToolUseBlock("1", "Grep", {"pattern": "TODO", "path": "/r/src"}), cwd) == (
        "TODO in src"
    )
    assert call_argument(ToolUseBlock("1", "TodoWrite", {"todos": [{}, {}]}), cwd) == "2 items"
    assert (
        call_argument(ToolUseBlock("1", "mcp__x__y", {"q": "hi", "n": 2}), cwd) == 'q: "hi", n: 2'
    )


def test_control_sequences_from_the_model_never_reach_the_terminal() -> None:
    view, out = make_view()
    view.begin_turn()
    stream_text(view, "clear \x1b[2J\x1b]0;owned\x07 title\x9b1m and bell\x07.\n")
    view.stream_event(BlockStart(1, ThinkingBlock("")))
    view.stream_event(ThinkingDelta(1, "\x1b[31mred thought"))
    view.stream_event(BlockStop(1))
    view.message(AssistantMessage([ToolUseBlock("t", "Bash", {"command": "ls \x1b[2J"})]))
    view.tool_done("Bash", None, True)
    view.message(UserMessage([ToolResultBlock("t", [TextBlock("\x1b[2Jbad")], is_error=True)]))
    view.end_turn()
    # Only coda's own live-area moves (cursor up, erase down) may remain.
    shown = re.sub(r"\x1b\[[AJ]", "", out.getvalue())
    assert "\x1b" not in shown and "\x07" not in shown and "\x9b" not in shown
    assert "clear [2J]0;owned title1m and bell." in shown
    assert view.last_thinking == "[31mred thought"


def test_mcp_calls_name_their_server_and_show_every_argument() -> None:
    view, out = make_view()
    view.begin_turn()
    view.message(
        AssistantMessage([ToolUseBlock("t", "mcp__everything__get-sum", {"a": 2, "b": 3})])
    )
    view.end_turn()
    assert "everything" in out.getvalue() and "get-sum (MCP)(a: 2, b: 3)" in out.getvalue()
