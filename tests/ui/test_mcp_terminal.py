"""MCP in the real terminal under tmux: approving a project server, /mcp, prompt commands."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply
from tests.mcp.conftest import everything_bin, faulty_command
from tests.ui.conftest import StartCoda


def _names(body: dict[str, object]) -> list[str]:
    return [t["name"] for t in body.get("tools", [])]  # type: ignore[attr-defined, union-attr]


def test_project_server_is_approved_once_then_listed(
    start_coda: StartCoda, model_server: ModelServer, repo: Path, home: Path
) -> None:
    cmd, args = faulty_command()
    (repo / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"faulty": {"command": cmd, "args": args}}})
    )
    model_server.enqueue(Reply("first"), Reply("second"))
    term = start_coda()
    term.submit("hello")
    term.wait_for("wants to start the MCP server 'faulty'")
    term.send("y")
    term.wait_for("first", timeout=30)
    term.wait_ready()
    assert "mcp__faulty__echo" in _names(model_server.requests[0].body)
    term.submit("/mcp")
    screen = term.wait_for("left out", timeout=15)
    assert "faulty (project, stdio)" in screen and "connected" in screen
    assert "bad_root" in screen
    term.close()
    # Remembered for this project: the next start asks nothing and has the tools.
    again = start_coda()
    again.submit("hi again")
    again.wait_for("second", timeout=30)
    assert "wants to start" not in again.screen()
    assert "mcp__faulty__echo" in _names(model_server.requests[1].body)


def test_prompt_command_and_resource_mention(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    servers = {"everything": {"command": "node", "args": [str(everything_bin()), "stdio"]}}
    model_server.enqueue(Reply("prompted"), Reply("resource read"))
    term = start_coda("--mcp-config", json.dumps({"mcpServers": servers}))
    # The servers' prompts and resources complete as the person types.
    # Completion runs on each key: keep typing the last letter until the server is up.
    term.type("/mcp__everything__a")
    deadline = time.monotonic() + 20
    while "A prompt with two arguments" not in term.screen():
        assert time.monotonic() < deadline, term.screen()
        term.type("r")
        time.sleep(0.3)
        term.send("BSpace")
    term.send("C-u")
    term.type("@everything:demo://resource/static/document/fea")
    term.wait_for("features.md", timeout=10)
    term.send("C-u")
    term.submit("/mcp__everything__args-prompt Lisbon")
    term.wait_for("prompted", timeout=30)
    term.wait_ready()
    assert "Lisbon" in json.dumps(model_server.requests[0].body["messages"][-1])
    term.submit("read @everything:demo://resource/static/document/features.md")
    term.wait_for("attached everything:demo://resource/static/document/features.md", timeout=15)
    term.wait_for("resource read", timeout=15)
    term.wait_ready()
    sent = json.dumps(model_server.requests[1].body["messages"][-1])
    assert "demo://resource/static/document/features.md" in sent
    term.submit("/mcp tools everything")
    term.wait_for("mcp__everything__echo")


async def test_mcp_reconnect_in_the_terminal(tmp_path: Path) -> None:
    """In process: /mcp, a bad subcommand, and /mcp reconnect after the server failed."""
    import io

    from coda.ui.commands import run_command
    from coda.ui.glyphs import ASCII
    from coda.ui.repl import Repl
    from coda.ui.screen import Screen
    from coda.wiring import RunOptions

    cmd, args = faulty_command()
    servers = json.dumps({"mcpServers": {"faulty": {"command": cmd, "args": args}}})
    out = io.StringIO()
    env = {
        "CODA_CONFIG_DIR": str(tmp_path / "config"),
        "CODA_DATA_DIR": str(tmp_path / "data"),
        "ANTHROPIC_API_KEY": "unused",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    }
    repl = Repl(
        RunOptions(mcp_configs=(servers,)),
        env=env,
        cwd=tmp_path,
        screen=Screen(out, color=False, glyphs=ASCII, width=100),
        stdin_fd=None,
    )
    try:
        assert await repl.ready()
        manager = repl.wired.mcp
        assert manager is not None
        await manager.wait_ready()
        for _ in range(2):  # two crashes: the second is not restarted
            tool = next(t for t in manager.tools() if t.name == "mcp__faulty__crash")
            await tool.call("crash", {})
        await run_command(repl, "/mcp")
        assert "failed" in out.getvalue() and "crashing on purpose" in out.getvalue()
        await run_command(repl, "/mcp frobnicate")
        assert "usage: /mcp" in out.getvalue()
        await run_command(repl, "/mcp reconnect faulty")
        assert "faulty: connected" in out.getvalue()
        assert "mcp__faulty__echo" in repl.wired.registry.names()
    finally:
        await repl.close()


def test_esc_interrupts_a_stalled_mcp_call_and_the_server_stays(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    from tests.fakes.script import ToolUse

    cmd, args = faulty_command()
    servers = {"faulty": {"command": cmd, "args": args}}
    model_server.enqueue(
        Reply([ToolUse("mcp__faulty__stall", {"seconds": 60})]),
        Reply([ToolUse("mcp__faulty__echo", {"text": "after"})]),
        Reply("still fine"),
    )
    term = start_coda(
        "--mcp-config", json.dumps({"mcpServers": servers}), "--allowedTools", "mcp__faulty"
    )
    term.submit("stall please")
    term.wait_for("stall (MCP)(seconds: 60)", timeout=30)
    time.sleep(0.5)
    term.send("Escape")
    term.wait_for("Interrupted", timeout=5)
    term.wait_ready()
    term.submit("again")
    term.wait_for("still fine", timeout=20)
    assert "echo: after" in term.screen()
    # The interrupted call was answered in the transcript, so the next request is valid.
    sent = json.dumps(model_server.requests[1].body["messages"][-1])
    assert "Interrupted" in sent
