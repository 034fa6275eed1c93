"""TodoWrite: the list replaces the session's, is validated, and renders as a checklist."""

from __future__ import annotations

import pytest

from coda.tools.base import TodoItem, ToolContext, ToolError, validate_input
from coda.tools.todo import TodoWriteTool, render_todos
from tests.tools.conftest import text_of

todo = TodoWriteTool()


def item(content: str, status: str, active: str | None = None) -> dict[str, str]:
    entry = {"content": content, "status": status}
    if active is not None:
        entry["activeForm"] = active
    return entry


async def test_list_replaces_the_sessions_and_counts_by_status(ctx: ToolContext) -> None:
    kept = ctx.todos
    out = await todo.run(
        {
            "todos": [
                item("Read the issue", "completed", "Reading the issue"),
                item("Write the fix", "completed", "Writing the fix"),
                item("Run the tests", "in_progress", "Running the tests"),
                item("Update the docs", "pending", "Updating the docs"),
                item("Open a PR", "pending"),
                item("Reply on the issue", "pending", "Replying"),
            ]
        },
        ctx,
    )
    assert text_of(out).startswith("Todo list updated: 2 completed, 1 in progress, 3 pending.")
    assert "Keep it current" in text_of(out)
    assert ctx.todos is kept  # updated in place, so a UI holding the list sees it
    assert ctx.todos[2] == TodoItem("Run the tests", "in_progress", "Running the tests")
    assert ctx.todos[4] == TodoItem("Open a PR", "pending", "")
    assert out.summary == "Todos: 2/6 completed"
    assert out.display.splitlines() == [
        "☒ Read the issue",
        "☒ Write the fix",
        "◐ Run the tests",
        "☐ Update the docs",
        "☐ Open a PR",
        "☐ Reply on the issue",
    ]
    assert not out.untrusted

    out = await todo.run({"todos": [item("Only this", "pending", "Doing this")]}, ctx)
    assert ctx.todos == [TodoItem("Only this", "pending", "Doing this")]
    assert text_of(out).startswith("Todo list updated: 0 completed, 0 in progress, 1 pending.")


async def test_empty_list_clears(ctx: ToolContext) -> None:
    ctx.todos.append(TodoItem("old", "pending"))
    out = await todo.run({"todos": []}, ctx)
    assert text_of(out) == "Todo list cleared."
    assert ctx.todos == []
    assert out.display == "(no todos)"


async def test_more_than_one_in_progress_is_refused(ctx: ToolContext) -> None:
    ctx.todos.append(TodoItem("before", "pending"))
    with pytest.raises(ToolError, match="only one may be at a time") as err:
        await todo.run(
            {"todos": [item("a", "in_progress", "A-ing"), item("b", "in_progress", "B-ing")]},
            ctx,
        )
    assert "2 todos are in_progress ('a', 'b')" in str(err.value)
    assert ctx.todos == [TodoItem("before", "pending")]  # a refused call changes nothing


async def test_every_bad_item_is_named(ctx: ToolContext) -> None:
    bad = [
        item("fine", "pending", "Doing"),
        item("  ", "pending", "Doing"),
        item("x", "done", "Doing"),
        "just a string",
        {"content": "y", "status": "pending", "activeForm": 3},
    ]
    with pytest.raises(ToolError) as err:
        await todo.run({"todos": bad}, ctx)
    message = str(err.value)
    assert message.startswith("Invalid todo list: ")
    assert "todos[1].content must be a non-empty string" in message
    assert "todos[2].status must be one of pending, in_progress, completed; got 'done'" in message
    assert "todos[3] must be an object, got str" in message
    assert "todos[4].activeForm must be a string" in message
    assert "todos[0]" not in message
    assert ctx.todos == []


def test_schema_matches_claude_code_and_is_not_mutating() -> None:
    assert todo.name == "TodoWrite"
    assert set(todo.input_schema["properties"]) == {"todos"}
    fields = todo.input_schema["properties"]["todos"]["items"]["properties"]
    assert set(fields) == {"content", "status", "activeForm"}
    assert fields["status"]["enum"] == ["pending", "in_progress", "completed"]
    assert validate_input(todo.input_schema, {"todos": [item("a", "pending", "A")]}) == []
    assert validate_input(todo.input_schema, {"todos": "a"}) == [
        "field 'todos' must be array, got str"
    ]
    assert not todo.is_mutating({"todos": []})
    assert 200 < len(todo.description) < 900


def test_render_todos_is_plain_text() -> None:
    assert render_todos([]) == "(no todos)"
    assert render_todos(
        [
            TodoItem("a", "completed"),
            TodoItem("b", "in_progress", "B-ing"),
            TodoItem("c", "pending"),
        ]
    ) == ("☒ a\n◐ b\n☐ c")
