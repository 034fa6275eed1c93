"""The permission seam: decisions, requests to the person, and the policy Protocol the loop uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from coda.messages import ToolUseBlock
from coda.tools.base import Tool

Mode = Literal["default", "acceptEdits", "plan", "bypassPermissions"]
MODES: tuple[Mode, ...] = ("default", "acceptEdits", "plan", "bypassPermissions")
Behavior = Literal["allow", "ask", "deny"]


@dataclass(frozen=True, slots=True)
class Decision:
    behavior: Literal["allow", "deny"]
    reason: str = ""
    # The rule that decided, as written in settings ("Bash(npm test:*)"), if one did.
    rule: str | None = None
    # An allow that changes the call's input (a --permission-prompt-tool's updatedInput).
    updated_input: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class PermissionRequest:
    """What the person is asked: exactly what will run or change."""

    tool: str
    summary: str  # the command, or a one-line description of the change
    detail: str  # the full command, or the diff of an edit
    reason: str  # why coda asks ("Bash commands ask in default mode")
    # The precise rule "always" would save, e.g. "Bash(npm test:*)" or "Edit(./src/**)".
    suggested_rule: str
    # The call itself, for a prompter that is a program (--permission-prompt-tool).
    input: Mapping[str, object] = field(default_factory=dict)
    tool_use_id: str = ""


@dataclass(frozen=True, slots=True)
class PromptAnswer:
    choice: Literal["once", "always", "deny"]
    # With "deny": what the person wants coda to do instead, passed on to the model.
    note: str = ""
    # With "once": the input to run instead of the model's (checked again before it runs).
    updated_input: Mapping[str, object] | None = None


class Prompter(Protocol):
    """Asks the person. The terminal UI, a plain terminal, and headless runs implement it."""

    async def ask(self, request: PermissionRequest) -> PromptAnswer: ...


class PermissionPolicy(Protocol):
    async def check(self, tool: Tool, call: ToolUseBlock) -> Decision: ...
