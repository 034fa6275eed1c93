"""KillShell: stop a background job and everything it started."""

from __future__ import annotations

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolOutput, load_description
from coda.tools.bash import short_command
from coda.tools.jobs import get_jobs


class KillShellTool:
    name = "KillShell"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "shell_id": {
                    "type": "string",
                    "description": "The id of the background shell to stop, e.g. bash_1",
                },
            },
            "required": ["shell_id"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        jobs = get_jobs(ctx)
        job = jobs.get(args["shell_id"])
        if not await jobs.kill(job):
            text = f"{job.id} had already ended ({job.status()}); nothing to stop."
            return ToolOutput.text(text, summary=f"{job.id} had already ended")
        text = f"Killed {job.id} (`{short_command(job.command)}`)."
        return ToolOutput.text(text, summary=f"Killed {job.id}")
