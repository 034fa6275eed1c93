"""BashOutput: what a background job printed since the last read, and whether it still runs."""

from __future__ import annotations

import re

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description, plural
from coda.tools.jobs import get_jobs


class BashOutputTool:
    name = "BashOutput"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "bash_id": {
                    "type": "string",
                    "description": "The id of the background shell, e.g. bash_1",
                },
                "filter": {
                    "type": "string",
                    "description": "Optional regular expression: only matching lines are shown; "
                    "the others are discarded",
                },
            },
            "required": ["bash_id"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        job = get_jobs(ctx).get(args["bash_id"])
        pattern = None
        if args.get("filter"):
            try:
                pattern = re.compile(args["filter"])
            except re.error as exc:
                raise ToolError(f"Invalid filter regex {args['filter']!r}: {exc}") from exc
        text, lines = job.read(pattern)
        status = job.status()
        if not text:
            text = "(no new output matching the filter)" if pattern else "(no new output)"
        summary = f"Read {plural(lines, 'line')} from {job.id} ({status})"
        return ToolOutput.text(f"{job.id}: {status}\n{text.removesuffix(chr(10))}", summary=summary)
