"""`--permission-prompt-tool mcp__server__tool`: an MCP tool answers permission questions.

The contract is Claude Code's: the tool gets `{"tool_name", "input", "tool_use_id"}` and
answers with text holding `{"behavior": "allow"}` or `{"behavior": "deny", "message": …}`.
Anything else is a refusal, so a broken prompter never lets a call through.
"""

from __future__ import annotations

import json

from coda.mcp.manager import McpManager
from coda.messages import TextBlock
from coda.permissions.base import PermissionRequest, PromptAnswer


class McpPrompter:
    def __init__(self, manager: McpManager, tool: str) -> None:
        self._manager = manager
        self._tool = tool

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        await self._manager.wait_ready()
        tool = next((t for t in self._manager.tools() if t.name == self._tool), None)
        if tool is None:
            return PromptAnswer(
                "deny",
                note=f"the permission prompt tool {self._tool} is not offered by any connected "
                "MCP server, so the call is refused",
            )
        args = {
            "tool_name": request.tool,
            "input": dict(request.input),
            "tool_use_id": request.tool_use_id,
        }
        output = await tool.call(tool.remote_name, args)
        text = "".join(b.text for b in output.content if isinstance(b, TextBlock)).strip()
        if output.is_error:
            return PromptAnswer("deny", note=f"{self._tool} failed: {text[:500]}")
        try:
            answer = json.loads(text)
        except ValueError:
            return PromptAnswer(
                "deny", note=f"{self._tool} did not answer with JSON: {text[:200]!r}"
            )
        if isinstance(answer, dict) and answer.get("behavior") == "allow":
            updated = answer.get("updatedInput")
            # Claude Code's contract: updatedInput replaces the input (it may be unchanged).
            return PromptAnswer(
                "once", updated_input=updated if isinstance(updated, dict) else None
            )
        message = answer.get("message") if isinstance(answer, dict) else None
        return PromptAnswer("deny", note=str(message or f"{self._tool} refused the call"))
