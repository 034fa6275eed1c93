"""`coda mcp serve`: coda's own tools offered to another program as an MCP server over stdio.

The tools keep their names and input schemas (Read, Write, Edit, Bash, …), and every call
runs in one ToolContext that lives as long as the connection, so a file must be read before
it is edited, and the shell's directory and exported variables carry from call to call, just
as in a coda session.

There are no permission prompts here: like `claude mcp serve`, the client that connects is
responsible for confirming each call with its user. Tool annotations (readOnlyHint,
destructiveHint) tell it which calls change things.

stdout carries the protocol and nothing else; logs go to stderr. The MCP SDK is imported only
when the server starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coda.messages import JsonObject, TextBlock, ToolResultBlock, ToolUseBlock
from coda.permissions.base import Decision
from coda.toolrun import ToolRunner
from coda.tools.base import Tool, ToolContext
from coda.tools.registry import ToolRegistry, builtin_tools
from coda.tools.shell import ShellSession

if TYPE_CHECKING:
    import mcp_types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server

log = logging.getLogger(__name__)
# How long a signal waits for background jobs to stop: past their SIGKILL (shell.GRACE_SECONDS).
STOP_SECONDS = 5.0


class ClientConfirms:
    """The permission policy of a served tool: the connecting client has already asked."""

    async def check(self, tool: Tool, call: ToolUseBlock) -> Decision:
        return Decision("allow", "the MCP client confirms calls")


class ServedTools:
    """coda's built-in tools and the one context they share; nothing here knows MCP."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.tools = builtin_tools()
        self.registry = ToolRegistry(self.tools)
        self.ctx = ToolContext(cwd=cwd)
        # The shell takes the environment coda was given, not whatever os.environ holds.
        self.ctx.resources["shell"] = ShellSession(cwd, env)
        self._runner = ToolRunner(self.registry, ClientConfirms(), self.ctx)
        # Requests are served concurrently; calls that change things go one at a time, as
        # in a coda turn (two shell commands at once would race on the shell's state).
        self._writing = asyncio.Lock()
        self._calls = 0

    async def call(self, name: str, args: JsonObject) -> ToolResultBlock:
        self._calls += 1
        call = ToolUseBlock(f"mcp_{self._calls}", name, args)
        tool = self.registry.get(name)
        if tool is None or not is_read_only(tool, args):
            async with self._writing:
                result, _ = await self._runner.run_one(call)
        else:
            result, _ = await self._runner.run_one(call)
        return result

    async def aclose(self) -> None:
        await self.ctx.aclose()


def is_read_only(tool: Tool, args: JsonObject) -> bool:
    """Defensive, like the declaration itself: a check that fails means "it mutates"."""
    try:
        return not tool.is_mutating(args)
    except Exception:
        return False


def run_serve(*, cwd: Path, env: Mapping[str, str]) -> int:
    """Serve until the client closes stdin; 0 then. SIGTERM or SIGINT stops the tools'
    processes and ends coda by that signal."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="coda mcp: %(message)s")
    asyncio.run(_serve(cwd, env))
    return 0


async def _serve(cwd: Path, env: Mapping[str, str]) -> None:
    from mcp.server.stdio import stdio_server

    served = ServedTools(cwd, env)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []  # held, or the loop could drop a running task

    def on_signal(signum: int) -> None:
        stopping.append(loop.create_task(_die(served, signum)))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        server = build_server(served)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await served.aclose()


async def _die(served: ServedTools, signum: int) -> None:
    """Stop what the tools started, then die of the signal.

    Background jobs run in process groups of their own and would outlive us. Cancelling the
    serve loop instead would not do: it waits for the SDK's stdin reader, a thread that
    returns only at the end of input."""
    try:
        await asyncio.wait_for(served.aclose(), STOP_SECONDS)
    except Exception:
        log.exception("stopping the tools' processes failed")
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def build_server(served: ServedTools) -> Server[Any]:
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from coda import __version__

    listing = types.ListToolsResult(tools=[mcp_tool(t) for t in served.tools])

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return listing

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        return call_result(await served.call(params.name, params.arguments or {}))

    return Server("coda", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


def mcp_tool(tool: Tool) -> mcp_types.Tool:
    import mcp_types as types

    if is_read_only(tool, {}):
        hints = types.ToolAnnotations(read_only_hint=True)
    else:
        hints = types.ToolAnnotations(read_only_hint=False, destructive_hint=True)
    return types.Tool(
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema,
        annotations=hints,
    )


def call_result(result: ToolResultBlock) -> mcp_types.CallToolResult:
    import mcp_types as types

    content: list[mcp_types.ContentBlock] = [
        types.TextContent(text=block.text)
        if isinstance(block, TextBlock)
        else types.ImageContent(data=block.data, mime_type=block.media_type)
        for block in result.content
    ]
    return types.CallToolResult(content=content, is_error=result.is_error)
