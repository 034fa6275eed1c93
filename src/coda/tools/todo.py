"""TodoWrite: the model's task list for the session, replaced whole on every call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from coda.messages import JsonObject
from coda.tools.base import (
    TodoItem,
    TodoStatus,
    ToolContext,
    ToolError,
    ToolOutput,
    load_description,
)

STATUSES: tuple[TodoStatus, ...] = get_args(TodoStatus)
_BY_NAME: dict[str, TodoStatus] = {s: s for s in STATUSES}
MARKS: dict[TodoStatus, str] = {"completed": "☒", "in_progress": "◐", "pending": "☐"}


def render_todos(todos: Sequence[TodoItem]) -> str:
    """The checklist as the person sees it, one item a line; the UI and headless output share it."""
    if not todos:
        return "(no todos)"
    return "\n".join(f"{MARKS[t.status]} {t.content}" for t in todos)


class TodoWriteTool:
    name = "TodoWrite"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "description": "The whole updated todo list",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": list(STATUSES)},
                            "activeForm": {
                                "type": "string",
                                "minLength": 1,
                                "description": 'Shown while in progress, e.g. "Running tests"',
                            },
                        },
                        # Required as in Claude Code, so models send it; a call without
                        # it is still accepted, since it only decorates the display.
                        "required": ["content", "status", "activeForm"],
                    },
                }
            },
            "required": ["todos"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        # It changes only the session's own list, never the workspace, so it needs no
        # permission and may run alongside other read-only calls.
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        todos = parse_todos(args["todos"])
        ctx.todos[:] = todos  # in place: whoever holds the list sees the update
        counts = {s: sum(t.status == s for t in todos) for s in STATUSES}
        if todos:
            text = (
                f"Todo list updated: {counts['completed']} completed, "
                f"{counts['in_progress']} in progress, {counts['pending']} pending. "
                "Keep it current: mark each item completed as soon as it is done, "
                "and have one item in progress while you work."
            )
        else:
            text = "Todo list cleared."
        summary = f"Todos: {counts['completed']}/{len(todos)} completed"
        output = ToolOutput.text(text, summary=summary)
        output.display = render_todos(todos)
        return output


def parse_todos(raw: Any) -> list[TodoItem]:
    """The model's list as TodoItems, or a ToolError naming every problem at once."""
    if not isinstance(raw, list):
        raise ToolError(f"todos must be an array of items, got {type(raw).__name__}")
    items: list[TodoItem] = []
    problems: list[str] = []
    for i, entry in enumerate(raw):
        item = _parse_item(entry, f"todos[{i}]", problems)
        if item is not None:
            items.append(item)
    if problems:
        raise ToolError("Invalid todo list: " + "; ".join(problems))
    in_progress = [t.content for t in items if t.status == "in_progress"]
    if len(in_progress) > 1:
        names = ", ".join(repr(c) for c in in_progress)
        raise ToolError(
            f"{len(in_progress)} todos are in_progress ({names}), but only one may be at a "
            "time. Keep the one you are working on in_progress and mark the others pending "
            "or completed."
        )
    return items


def _parse_item(entry: Any, where: str, problems: list[str]) -> TodoItem | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} must be an object, got {type(entry).__name__}")
        return None
    content, active = entry.get("content"), entry.get("activeForm")
    raw_status = entry.get("status")
    status = _BY_NAME.get(raw_status) if isinstance(raw_status, str) else None
    found = len(problems)
    if not isinstance(content, str) or not content.strip():
        problems.append(f"{where}.content must be a non-empty string")
    if status is None:
        choices = ", ".join(STATUSES)
        problems.append(f"{where}.status must be one of {choices}; got {raw_status!r}")
    if active is not None and not isinstance(active, str):
        problems.append(f"{where}.activeForm must be a string")
    if len(problems) > found or not isinstance(content, str) or status is None:
        return None
    return TodoItem(content.strip(), status, (active or "").strip())
