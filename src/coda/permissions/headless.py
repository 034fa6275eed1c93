"""The policy for unattended runs until full rules arrive: read-only tools, plus named ones."""

from __future__ import annotations

from dataclasses import dataclass

from coda.messages import ToolUseBlock
from coda.permissions.base import Decision
from coda.tools.base import Tool


@dataclass(frozen=True, slots=True)
class ToolNamePolicy:
    allowed: frozenset[str] = frozenset()
    disallowed: frozenset[str] = frozenset()

    async def check(self, tool: Tool, call: ToolUseBlock) -> Decision:
        if call.name in self.disallowed:
            return Decision("deny", f"{call.name} is disallowed by --disallowedTools")
        if call.name in self.allowed:
            return Decision("allow")
        if not tool.is_mutating(call.input):
            return Decision("allow")
        return Decision(
            "deny",
            f"{call.name} may change files or run commands, and this unattended run has no "
            f"permission for it. The person can allow it with --allowedTools {call.name}.",
        )
