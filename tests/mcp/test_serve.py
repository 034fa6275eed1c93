"""`coda mcp serve` driven by the MCP SDK's own client against the real server process."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from mcp.client.client import Client
from mcp.client.stdio import PROCESS_TERMINATION_TIMEOUT, StdioServerParameters, stdio_client
from mcp_types import CallToolResult, ImageContent, TextContent

from coda.tools.registry import builtin_tools
from tests.helpers import clean_env

# Until `coda mcp serve` is wired, the server starts through the function it will call.
SERVE = (
    "import os, sys; from pathlib import Path; from coda.mcp.serve import run_serve; "
    "sys.exit(run_serve(cwd=Path.cwd(), env=os.environ))"
)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)


@asynccontextmanager
async def served(
    tmp_path: Path, argv: list[str] | None = None, errlog: TextIO | None = None
) -> AsyncIterator[Client]:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    params = StdioServerParameters(
        command=sys.executable,
        args=argv or ["-c", SERVE],
        env=clean_env(tmp_path / "home"),
        cwd=work,
    )
    log = errlog or (tmp_path / "stderr.txt").open("a")
    try:
        async with Client(stdio_client(params, errlog=log)) as client:
            yield client
    finally:
        if errlog is None:
            log.close()


def text(result: CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def ok(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert not result.is_error, text(result)
    return text(result)


def alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent that will reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def printed_pid(output: str) -> int:
    """The pid a job printed first, after BashOutput's status line; 0 while it has not."""
    last = output.splitlines()[-1]
    return int(last) if last.isdigit() else 0


def wait_gone(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def test_lists_coda_tools_with_their_own_names_and_schemas(tmp_path: Path) -> None:
    async with served(tmp_path) as client:
        listed = (await client.list_tools()).tools
    coda = builtin_tools()
    assert [t.name for t in listed] == [t.name for t in coda]
    for mine, theirs in zip(coda, listed, strict=True):
        assert theirs.input_schema == mine.input_schema
        assert theirs.description == mine.description
        assert theirs.annotations is not None
        assert theirs.annotations.read_only_hint is not mine.is_mutating({})
    hints = {t.name: t.annotations for t in listed if t.annotations}
    assert hints["Read"].read_only_hint and hints["Grep"].read_only_hint
    assert hints["Write"].destructive_hint and hints["Bash"].destructive_hint


async def test_tools_share_one_session_across_calls(tmp_path: Path) -> None:
    async with served(tmp_path) as client:
        work = tmp_path / "work"
        path = work / "notes.txt"
        await ok(client, "Write", {"file_path": str(path), "content": "hello\nworld\n"})
        assert "hello" in await ok(client, "Read", {"file_path": str(path)})
        # The Read above is what lets this Edit through: the context outlives each call.
        edit = {"file_path": str(path), "old_string": "world", "new_string": "there"}
        await ok(client, "Edit", edit)
        assert path.read_bytes() == b"hello\nthere\n"
        found = await ok(client, "Grep", {"pattern": "there", "path": str(work)})
        assert str(path) in found
        assert await ok(client, "Bash", {"command": "echo hi"}) == "hi"
        # The shell starts in the served directory and keeps its state between calls.
        await ok(client, "Bash", {"command": "mkdir sub && cd sub && export MARK=kept"})
        assert await ok(client, "Bash", {"command": "pwd; echo $MARK"}) == f"{work}/sub\nkept"


async def test_problems_come_back_as_error_results(tmp_path: Path) -> None:
    unread = tmp_path / "work" / "unread.txt"
    unread.parent.mkdir(parents=True)
    unread.write_text("as it was\n")
    async with served(tmp_path) as client:
        bad = await client.call_tool("Edit", {"file_path": str(unread), "old_string": 1})
        assert bad.is_error
        assert "missing required field 'new_string'" in text(bad)
        assert "field 'old_string' must be string" in text(bad)

        edit = {"file_path": str(unread), "old_string": "was", "new_string": "is"}
        refused = await client.call_tool("Edit", edit)
        assert refused.is_error
        assert text(refused) == (
            f"{unread} has not been read in this session. Read it first, then change it."
        )
        assert unread.read_text() == "as it was\n"

        missing = await client.call_tool("Read", {"file_path": str(tmp_path / "nope")})
        assert missing.is_error and "nope" in text(missing)

        unknown = await client.call_tool("Task", {})
        assert unknown.is_error and "No tool named 'Task'" in text(unknown)


async def test_images_come_back_as_image_content(tmp_path: Path) -> None:
    picture = tmp_path / "work" / "dot.png"
    picture.parent.mkdir(parents=True)
    picture.write_bytes(PNG)
    async with served(tmp_path) as client:
        result = await client.call_tool("Read", {"file_path": str(picture)})
    assert not result.is_error
    [image] = [b for b in result.content if isinstance(b, ImageContent)]
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.data) == PNG


async def test_exits_by_itself_when_the_client_disconnects(tmp_path: Path) -> None:
    with (tmp_path / "stderr.txt").open("w+") as errlog:
        async with served(tmp_path, errlog=errlog) as client:
            server_pid = int(await ok(client, "Bash", {"command": "echo $PPID"}))
            start = {"command": "echo $$; exec sleep 30", "run_in_background": True}
            await ok(client, "Bash", start)
            job_pid = 0
            for _ in range(100):
                job_pid = printed_pid(await ok(client, "BashOutput", {"bash_id": "bash_1"}))
                if job_pid:
                    break
                await asyncio.sleep(0.02)
            assert alive(server_pid) and alive(job_pid)
            closing = time.monotonic()
        # Closing stdin ends it well inside the grace period after which the client kills.
        assert time.monotonic() - closing < PROCESS_TERMINATION_TIMEOUT
        assert wait_gone(server_pid)
        assert wait_gone(job_pid), "the background job outlived the server"
        errlog.seek(0)
        assert "Traceback" not in errlog.read()


def test_sigterm_stops_background_jobs_and_stdout_is_only_protocol(tmp_path: Path) -> None:
    """Raw JSON-RPC lines, so every byte the server writes to stdout is seen."""
    (tmp_path / "work").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE],
        cwd=tmp_path / "work",
        env=clean_env(tmp_path / "home"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin and proc.stdout

    def request(ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin and proc.stdout
        message = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        reply: dict[str, Any] = json.loads(proc.stdout.readline())
        assert reply["id"] == ident, reply
        return reply["result"]  # type: ignore[no-any-return]

    try:
        hello = {"name": "test", "version": "1"}
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": hello}
        assert request(1, "initialize", init)["serverInfo"]["name"] == "coda"
        proc.stdin.write('{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        # A command that prints on both streams; neither may reach the protocol stream.
        loud = {"name": "Bash", "arguments": {"command": "echo out; echo err >&2"}}
        assert request(2, "tools/call", loud)["content"][0]["text"] == "out\nerr"
        job = {"command": "echo $$; exec sleep 30", "run_in_background": True}
        request(3, "tools/call", {"name": "Bash", "arguments": job})
        job_pid = 0
        for ident in range(4, 104):
            read = {"name": "BashOutput", "arguments": {"bash_id": "bash_1"}}
            job_pid = printed_pid(request(ident, "tools/call", read)["content"][0]["text"])
            if job_pid:
                break
            time.sleep(0.02)
        assert alive(job_pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == -signal.SIGTERM
        assert proc.stdout.read() == ""
        assert wait_gone(job_pid), "SIGTERM left the background job running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()


async def test_coda_mcp_serve_command(tmp_path: Path) -> None:
    """The same server through the CLI; passes once `coda mcp serve` reaches run_serve."""
    async with served(tmp_path, argv=["-m", "coda", "mcp", "serve"]) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == [t.name for t in builtin_tools()]
        assert await ok(client, "Bash", {"command": "echo hi"}) == "hi"
