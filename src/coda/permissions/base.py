"""The permission seam: a policy object the loop consults, never a subclass of the loop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from coda.messages import ToolUseBlock
from coda.tools.base import Tool


@dataclass(frozen=True, slots=True)
class Decision:
    behavior: Literal["allow", "deny"]
    reason: str = ""


class PermissionPolicy(Protocol):
    async def check(self, tool: Tool, call: ToolUseBlock) -> Decision: ...
