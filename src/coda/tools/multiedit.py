"""MultiEdit: several Edits to one file, applied in order, all or nothing."""

from __future__ import annotations

from typing import Any

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description
from coda.tools.edit import EditSpec, run_edits


class MultiEditTool:
    name = "MultiEdit"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "file_path": {
                    "type": "string",
                    "description": "Absolute path of the file to change",
                },
                "edits": {
                    "type": "array",
                    "minItems": 1,
                    "description": "Edits to apply in order, each to the result of the one before",
                    "items": {
                        "type": "object",
                        # Edit's rules, as the description says: no need to repeat them here.
                        "properties": {
                            "old_string": {"type": "string"},
                            "new_string": {"type": "string"},
                            "replace_all": {"type": "boolean", "default": False},
                        },
                        "required": ["old_string", "new_string"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["file_path", "edits"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        return await run_edits(args["file_path"], parse_edits(args["edits"]), ctx)


def parse_edits(raw: list[Any]) -> list[EditSpec]:
    """The edits list as EditSpecs; the generic input check does not look inside arrays."""
    if not raw:
        raise ToolError("edits is empty: give at least one {old_string, new_string}.")
    edits: list[EditSpec] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise ToolError(f"Edit {number} must be an object with old_string and new_string.")
        unknown = sorted(set(item) - {"old_string", "new_string", "replace_all"})
        old, new, every = item.get("old_string"), item.get("new_string"), item.get("replace_all")
        if unknown or not isinstance(old, str) or not isinstance(new, str):
            raise ToolError(
                f"Edit {number} must have string fields old_string and new_string"
                + (f" (unknown fields: {', '.join(unknown)})" if unknown else "")
                + "."
            )
        if every is not None and not isinstance(every, bool):
            raise ToolError(f"Edit {number}: replace_all must be true or false.")
        edits.append(EditSpec(old, new, bool(every)))
    return edits
