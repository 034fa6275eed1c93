"""The tools a session offers, by name: built-in ones and MCP ones, registered alike."""

from __future__ import annotations

from collections.abc import Iterable

from coda.providers.base import ToolSpec
from coda.tools.base import Tool


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def set_group(self, prefix: str, tools: Iterable[Tool]) -> None:
        """Replace every tool whose name starts with `prefix` (one MCP server's, or all of
        them) with `tools`, which come after the built-in ones."""
        self._tools = {n: t for n, t in self._tools.items() if not n.startswith(prefix)}
        for tool in tools:
            self.register(tool)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        """In registration order, which keeps the request prefix stable for prompt caching."""
        return [ToolSpec(t.name, t.description, t.input_schema) for t in self._tools.values()]


def builtin_tools() -> list[Tool]:
    from coda.tools.bash import BashTool
    from coda.tools.bash_output import BashOutputTool
    from coda.tools.edit import EditTool
    from coda.tools.glob import GlobTool
    from coda.tools.grep import GrepTool
    from coda.tools.kill_shell import KillShellTool
    from coda.tools.ls import LSTool
    from coda.tools.multiedit import MultiEditTool
    from coda.tools.read import ReadTool
    from coda.tools.todo import TodoWriteTool
    from coda.tools.webfetch import WebFetchTool
    from coda.tools.write import WriteTool

    return [
        ReadTool(),
        WriteTool(),
        EditTool(),
        MultiEditTool(),
        GlobTool(),
        GrepTool(),
        LSTool(),
        BashTool(),
        BashOutputTool(),
        KillShellTool(),
        TodoWriteTool(),
        WebFetchTool(),
    ]
