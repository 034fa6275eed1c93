"""The MCP client against real servers: the npm reference server and a misbehaving FastMCP one."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from coda.mcp.config import McpLimits, ServerConfig
from coda.mcp.manager import McpManager
from coda.mcp.tools import McpTool
from coda.messages import ImageBlock, TextBlock
from coda.tools.base import ToolOutput
from tests.mcp.conftest import everything_bin, faulty_command

LIMITS = McpLimits(startup_s=20, call_s=20, max_output_tokens=25_000)


def stdio(name: str, command: str, args: list[str], **env: str) -> ServerConfig:
    return ServerConfig(
        name=name,
        transport="stdio",
        scope="user",
        source=None,
        command=command,
        args=tuple(args),
        env=env,
        raw={},
    )


def remote(name: str, transport: str, url: str) -> ServerConfig:
    return ServerConfig(
        name=name,
        transport=transport,
        scope="user",
        source=None,
        url=url,
        raw={},  # type: ignore[arg-type]
    )


def manager(tmp_path: Path, *servers: ServerConfig, limits: McpLimits = LIMITS) -> McpManager:
    env = {"CODA_CONFIG_DIR": str(tmp_path / "config"), "CODA_DATA_DIR": str(tmp_path / "data")}
    return McpManager(list(servers), cwd=tmp_path, env=env, limits=limits)


def text(output: ToolOutput) -> str:
    return "\n".join(b.text for b in output.content if isinstance(b, TextBlock))


def tool(mgr: McpManager, name: str) -> McpTool:
    found = {t.name: t for t in mgr.tools()}
    assert name in found, sorted(found)
    return found[name]


async def call(mgr: McpManager, name: str, args: dict[str, Any] | None = None) -> ToolOutput:
    t = tool(mgr, name)
    return await t.call(t.remote_name, args or {})


def everything() -> ServerConfig:
    return stdio("everything", "node", [str(everything_bin()), "stdio"])


async def test_everything_over_stdio(tmp_path: Path) -> None:
    mgr = manager(tmp_path, everything())
    try:
        await mgr.wait_ready()
        (status,) = mgr.statuses()
        assert status.status == "connected", status
        # The reference server registers some tools after the handshake and says so with
        # notifications/tools/list_changed: the list is fetched again.
        conn = mgr.connections["everything"]
        await _until(lambda: any("tools list changed" in e.text for e in conn.events))
        echo = tool(mgr, "mcp__everything__echo")
        assert echo.input_schema["properties"]["message"]["type"] == "string"
        assert "$schema" not in echo.input_schema
        out = await call(mgr, "mcp__everything__echo", {"message": "hi there"})
        assert text(out) == "Echo: hi there" and not out.is_error and out.untrusted
        out = await call(mgr, "mcp__everything__get-sum", {"a": 2, "b": 40})
        assert "42" in text(out)
        image = await call(mgr, "mcp__everything__get-tiny-image")
        assert any(isinstance(b, ImageBlock) and b.media_type == "image/png" for b in image.content)
        structured = await call(
            mgr, "mcp__everything__get-structured-content", {"location": "Chicago"}
        )
        # The server sends the structured content as text too: the model gets it once.
        assert '"conditions"' in text(structured) and "Structured content" not in text(structured)
        # A long-running call reports progress while it runs.
        started = time.monotonic()
        out = await call(
            mgr, "mcp__everything__trigger-long-running-operation", {"duration": 1, "steps": 3}
        )
        assert not out.is_error and time.monotonic() - started >= 0.9
        progress = [e for e in mgr.connections["everything"].events if e.kind == "progress"]
        assert len(progress) >= 2, mgr.connections["everything"].events
        # coda advertises sampling only to refuse it, clearly, with the call still answered.
        out = await call(
            mgr, "mcp__everything__trigger-sampling-request", {"prompt": "hi", "maxTokens": 5}
        )
        assert out.is_error or "refused" in text(out).lower(), text(out)
        assert "sampling" in text(out).lower()
        # Resources and prompts.
        uris = [r.uri for r in mgr.resources()]
        assert "demo://resource/static/document/architecture.md" in uris
        contents = await mgr.read_resource(
            "everything", "demo://resource/static/document/architecture.md"
        )
        assert contents and contents[0].text
        names = {p.name: p for p in mgr.prompts()}
        assert {"simple-prompt", "args-prompt"} <= set(names)
        assert ("city", True) in [(a[0], a[1]) for a in names["args-prompt"].arguments]
        messages = await mgr.get_prompt("everything", "args-prompt", {"city": "Lisbon"})
        assert "Lisbon" in str(messages[0].content.text)
    finally:
        await mgr.aclose()


async def test_everything_over_streamable_http_and_sse(
    tmp_path: Path, everything_http: str, everything_sse: str
) -> None:
    mgr = manager(
        tmp_path,
        remote("web", "http", f"{everything_http}/mcp"),
        remote("old", "sse", f"{everything_sse}/sse"),
    )
    try:
        await mgr.wait_ready()
        assert {s.name: s.status for s in mgr.statuses()} == {
            "web": "connected",
            "old": "connected",
        }
        for server in ("web", "old"):
            out = await call(mgr, f"mcp__{server}__echo", {"message": server})
            assert text(out) == f"Echo: {server}"
        out = await call(
            mgr, "mcp__web__trigger-long-running-operation", {"duration": 1, "steps": 2}
        )
        assert not out.is_error
    finally:
        await mgr.aclose()


async def test_invalid_schemas_are_left_out_and_reported(tmp_path: Path) -> None:
    cmd, args = faulty_command()
    mgr = manager(tmp_path, stdio("faulty", cmd, args))
    try:
        await mgr.wait_ready()
        names = {t.name for t in mgr.tools()}
        assert "mcp__faulty__echo" in names
        assert not {"mcp__faulty__bad_root", "mcp__faulty__bad_props"} & names
        (status,) = mgr.statuses()
        assert "bad_root: its input schema has anyOf at the top" in status.detail
        assert "bad_props: its input schema is not valid JSON Schema" in status.detail
        weather = await call(mgr, "mcp__faulty__weather", {"city": "Oslo"})
        assert '"celsius": 21' in text(weather)
    finally:
        await mgr.aclose()


async def test_huge_output_is_cut_with_a_note(tmp_path: Path) -> None:
    cmd, args = faulty_command()
    limits = McpLimits(startup_s=20, call_s=20, max_output_tokens=1_000)
    mgr = manager(tmp_path, stdio("faulty", cmd, args), limits=limits)
    try:
        await mgr.wait_ready()
        out = await call(mgr, "mcp__faulty__huge", {"chars": 200_000})
        body = text(out)
        assert len(body) < 5_000
        assert "output cut" in body and "50,000 tokens" in body and "1,000-token limit" in body
        small = await call(mgr, "mcp__faulty__huge", {"chars": 100})
        assert "output cut" not in text(small)
    finally:
        await mgr.aclose()


async def test_stalled_call_times_out_and_the_server_stays_usable(tmp_path: Path) -> None:
    cmd, args = faulty_command()
    limits = McpLimits(startup_s=20, call_s=1, max_output_tokens=25_000)
    mgr = manager(tmp_path, stdio("faulty", cmd, args), limits=limits)
    try:
        await mgr.wait_ready()
        started = time.monotonic()
        out = await call(mgr, "mcp__faulty__stall", {"seconds": 30})
        assert time.monotonic() - started < 5
        assert out.is_error and "did not answer" in text(out) and "MCP_TOOL_TIMEOUT" in text(out)
        again = await call(mgr, "mcp__faulty__echo", {"text": "still here"})
        assert text(again) == "echo: still here"
    finally:
        await mgr.aclose()


async def test_crash_is_reported_and_restarted_once(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    cmd, args = faulty_command("--marker", str(marker))
    mgr = manager(tmp_path, stdio("faulty", cmd, args))
    try:
        await mgr.wait_ready()
        first_pid = text(await call(mgr, "mcp__faulty__pid"))
        out = await call(mgr, "mcp__faulty__crash")
        assert out.is_error
        assert "stopped while running crash" in text(out)
        assert "crashing on purpose" in text(out)  # the tail of its stderr
        assert "restarting it once" in text(out)
        # Restarting: its tools stay on offer, and a call waits until it is back.
        assert mgr.connections["faulty"].status == "connecting"
        second_pid = text(await call(mgr, "mcp__faulty__pid"))
        assert mgr.connections["faulty"].status == "connected"
        assert second_pid != first_pid
        assert len(marker.read_text().split()) == 2
        assert any(e.kind == "crash" and "crashed" in e.text for e in mgr.events())
        # A second crash: no second restart.
        out = await call(mgr, "mcp__faulty__crash")
        assert "will not be restarted again" in text(out)
        await _until(lambda: mgr.connections["faulty"].status == "failed")
        assert mgr.tools() == []
        assert len(marker.read_text().split()) == 2
        # /mcp reconnect: started afresh, with a new restart allowance.
        await mgr.reconnect("faulty")
        assert mgr.connections["faulty"].status == "connected"
        assert mgr.connections["faulty"].restarts == 0
        assert text(await call(mgr, "mcp__faulty__echo", {"text": "back"})) == "echo: back"
        assert len(marker.read_text().split()) == 3
    finally:
        await mgr.aclose()


async def test_list_changed_refreshes_the_tools(tmp_path: Path) -> None:
    cmd, args = faulty_command()
    mgr = manager(tmp_path, stdio("faulty", cmd, args))
    changes: list[list[str]] = []
    mgr.on_tools_changed = lambda: changes.append([t.name for t in mgr.tools()])
    try:
        await mgr.wait_ready()
        assert "mcp__faulty__extra" not in {t.name for t in mgr.tools()}
        await call(mgr, "mcp__faulty__grow")
        await _until(lambda: "mcp__faulty__extra" in {t.name for t in mgr.tools()})
        assert "mcp__faulty__extra" in changes[-1]
        out = await call(mgr, "mcp__faulty__extra")
        assert text(out) == "extra here"
    finally:
        await mgr.aclose()


async def test_broken_servers_fail_without_blocking(tmp_path: Path) -> None:
    cmd, args = faulty_command("--fail-at-start")
    # Reads its stdin forever and never answers initialize.
    silent = stdio(
        "silent", sys.executable, ["-c", "import sys, time; sys.stdin.read(); time.sleep(60)"]
    )
    limits = McpLimits(startup_s=1.5, call_s=20, max_output_tokens=25_000)
    mgr = manager(
        tmp_path,
        stdio("broken", cmd, args),
        silent,
        stdio("missing", "/nonexistent/mcp-server", []),
        everything(),
        limits=limits,
    )
    try:
        started = time.monotonic()
        await mgr.wait_ready()
        elapsed = time.monotonic() - started
        assert elapsed < 1.5 + 3, elapsed
        status = {s.name: s for s in mgr.statuses()}
        assert status["everything"].status == "connected"
        assert status["broken"].status == "failed"
        assert "FAULTY_TOKEN is not set" in status["broken"].detail
        assert status["silent"].status == "failed"
        assert "within 1.5 s" in status["silent"].detail
        assert status["missing"].status == "failed"
        assert "not found" in status["missing"].detail or "No such file" in status["missing"].detail
        assert {t.server for t in mgr.tools()} == {"everything"}
    finally:
        await mgr.aclose()


async def _until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_server_from_pypi(tmp_path: Path) -> None:
    """mcp-server-time, installed from PyPI with the test extras, over stdio."""
    server = stdio("time", sys.executable, ["-m", "mcp_server_time", "--local-timezone", "UTC"])
    mgr = manager(tmp_path, server)
    try:
        await mgr.wait_ready()
        assert {"mcp__time__get_current_time", "mcp__time__convert_time"} <= {
            t.name for t in mgr.tools()
        }
        assert tool(mgr, "mcp__time__get_current_time").read_only_hint
        out = await call(
            mgr,
            "mcp__time__convert_time",
            {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        )
        assert not out.is_error and "21:00" in text(out), text(out)
        bad = await call(mgr, "mcp__time__get_current_time", {"timezone": "Mars/Olympus"})
        assert bad.is_error and "Mars/Olympus" in text(bad)
    finally:
        await mgr.aclose()
