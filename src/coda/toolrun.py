"""Running one message's tool calls: validation, permission, execution, concurrency.

Every call yields exactly one result. Problems the model can fix (unknown tool, bad input,
refusal, a failing tool) come back as is_error results instead of exceptions.
"""

from __future__ import annotations

import asyncio
import logging

from coda.messages import TextBlock, ToolResultBlock, ToolUseBlock
from coda.permissions.base import PermissionPolicy
from coda.tools.base import ToolContext, ToolError, ToolOutput, validate_input
from coda.tools.registry import ToolRegistry

log = logging.getLogger(__name__)


def error_result(call: ToolUseBlock, text: str) -> ToolResultBlock:
    return ToolResultBlock(call.id, [TextBlock(text)], is_error=True)


class ToolRunner:
    def __init__(self, tools: ToolRegistry, policy: PermissionPolicy, ctx: ToolContext) -> None:
        self._tools = tools
        self._policy = policy
        self._ctx = ctx

    async def run_all(
        self, calls: list[ToolUseBlock]
    ) -> list[tuple[ToolResultBlock, ToolOutput | None]]:
        """Run calls in order; consecutive read-only calls run concurrently."""
        results: list[tuple[ToolResultBlock, ToolOutput | None]] = []
        batch: list[ToolUseBlock] = []
        for call in calls:
            tool = self._tools.get(call.name)
            if tool is not None and not call.input_error and not tool.is_mutating(call.input):
                batch.append(call)
                continue
            results.extend(await self._gather(batch))
            batch = []
            results.append(await self.run_one(call))
        results.extend(await self._gather(batch))
        return results

    async def _gather(
        self, calls: list[ToolUseBlock]
    ) -> list[tuple[ToolResultBlock, ToolOutput | None]]:
        return list(await asyncio.gather(*(self.run_one(c) for c in calls)))

    async def run_one(self, call: ToolUseBlock) -> tuple[ToolResultBlock, ToolOutput | None]:
        tool = self._tools.get(call.name)
        if tool is None:
            names = ", ".join(sorted(self._tools.names()))
            return error_result(
                call, f"No tool named {call.name!r}. Available tools: {names}."
            ), None
        if call.input_error:
            return error_result(call, f"Invalid input for {call.name}: {call.input_error}"), None
        problems = validate_input(tool.input_schema, call.input)
        if problems:
            return error_result(
                call, f"Invalid input for {call.name}: " + "; ".join(problems)
            ), None
        try:
            decision = await self._policy.check(tool, call)
        except Exception as exc:  # a bug in a check must refuse the call, never allow it
            log.exception("permission check failed for %s", call.name)
            return error_result(
                call, f"Permission check failed ({type(exc).__name__}: {exc}); not run."
            ), None
        if decision.behavior == "deny":
            return error_result(call, f"Permission denied: {decision.reason}"), None
        args = call.input
        if decision.updated_input is not None:
            args = dict(decision.updated_input)
            problems = validate_input(tool.input_schema, args)
            if problems:
                text = f"The approved input for {call.name} is invalid: " + "; ".join(problems)
                return error_result(call, text), None
        try:
            output = await tool.run(args, self._ctx)
        except ToolError as exc:
            return error_result(call, str(exc)), None
        except (OSError, UnicodeError, ValueError) as exc:
            # A tool that trips over the file system still answers the model.
            return error_result(call, f"{call.name} failed: {type(exc).__name__}: {exc}"), None
        result = ToolResultBlock(call.id, list(output.content), is_error=output.is_error)
        return result, output
