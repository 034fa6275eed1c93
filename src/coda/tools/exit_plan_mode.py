"""ExitPlanMode: the model presents its plan; the policy asks the person to approve it."""

from __future__ import annotations

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolOutput, load_description


class ExitPlanModeTool:
    name = "ExitPlanMode"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "plan": {"type": "string", "description": "The plan, in markdown"},
            },
            "required": ["plan"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        # It changes nothing itself; approving it is what ends plan mode, in the policy.
        return False

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        return ToolOutput(
            ToolOutput.text(
                "The person approved the plan. Plan mode is over: carry it out."
            ).content,
            summary="Plan approved",
            display=str(args["plan"]),
        )
