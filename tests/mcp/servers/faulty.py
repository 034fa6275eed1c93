"""A FastMCP-style server (the SDK's MCPServer) that misbehaves on request, for coda's tests.

    python faulty.py [--fail-at-start] [--marker FILE]

Tools: echo, crash (exits mid-call), stall (sleeps), huge (returns N characters),
grow (adds a tool and sends tools/list_changed), structured, and two tools whose
declared input schemas are invalid. Each start appends a line to --marker, so a test can
count restarts.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import Tool


class FaultyServer(MCPServer):
    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        # Schemas no model API accepts: the client must leave these tools out, not fail.
        either = {"type": "object", "anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
        tools.append(Tool(name="bad_root", description="anyOf at the root", input_schema=either))
        typo = {"type": "object", "properties": {"a": {"type": "strnig"}}}
        tools.append(Tool(name="bad_props", description="an unknown type", input_schema=typo))
        return tools


def build() -> FaultyServer:
    server = FaultyServer("faulty")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return f"echo: {text}"

    @server.tool()
    def crash() -> str:
        """Exit the whole server process in the middle of the call."""
        sys.stderr.write("faulty: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)

    @server.tool()
    async def stall(seconds: float) -> str:
        """Sleep before answering."""
        import anyio

        await anyio.sleep(seconds)
        return "woke up"

    @server.tool()
    def huge(chars: int) -> str:
        """Return that many characters."""
        return "".join(chr(ord("a") + i % 26) for i in range(chars))

    @server.tool()
    def pid() -> str:
        """The server's process id."""
        return str(os.getpid())

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Add a tool named `extra` and tell the client the list changed."""

        def extra() -> str:
            return "extra here"

        server.add_tool(extra, name="extra", description="Added later.")
        # The handshake-era notification (notify_tools_changed is for 2026 subscribers).
        await ctx.session.send_tool_list_changed()
        return "grown"

    @server.tool()
    def permit(tool_name: str, input: dict[str, Any], tool_use_id: str = "") -> str:
        """A --permission-prompt-tool: allows Write, refuses everything else."""
        import json

        if tool_name == "Write":
            # Allowed, with the content stamped: proves updatedInput is what runs.
            changed = {**input, "content": "stamped: " + str(input.get("content", ""))}
            return json.dumps({"behavior": "allow", "updatedInput": changed})
        return json.dumps({"behavior": "deny", "message": f"faulty refuses {tool_name}"})

    @server.tool(structured_output=True)
    def weather(city: str) -> dict[str, Any]:
        """Structured content."""
        return {"city": city, "celsius": 21}

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-at-start", action="store_true")
    parser.add_argument("--marker")
    parser.add_argument("--slow-start", type=float, default=0.0)
    args = parser.parse_args()
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(f"{os.getpid()}\n")
    if args.slow_start:
        import time

        time.sleep(args.slow_start)
    if args.fail_at_start:
        sys.stderr.write("faulty: FAULTY_TOKEN is not set; cannot start\n")
        sys.exit(1)
    build().run("stdio")


if __name__ == "__main__":
    main()
