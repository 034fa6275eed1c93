"""Real MCP servers for the tests: the npm reference server and our misbehaving FastMCP one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EVERYTHING = HERE / "npm" / "node_modules" / ".bin" / "mcp-server-everything"
FAULTY = HERE / "servers" / "faulty.py"


def everything_bin() -> Path:
    if not EVERYTHING.exists():
        pytest.fail(
            f"{EVERYTHING} is missing: install the test MCP servers with "
            "`npm ci --prefix tests/mcp/npm` (the README's test command does)"
        )
    return EVERYTHING


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def everything_http() -> Iterator[str]:
    """The reference server over streamable HTTP (and legacy SSE on the same process? no:
    each transport is its own process), yielding its base URL."""
    yield from _serve_everything("streamableHttp")


@pytest.fixture(scope="module")
def everything_sse() -> Iterator[str]:
    yield from _serve_everything("sse")


def _serve_everything(mode: str) -> Iterator[str]:
    port = free_port()
    node = shutil.which("node") or "node"
    proc = subprocess.Popen(
        [node, str(everything_bin()), mode],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def faulty_command(*extra: str) -> tuple[str, list[str]]:
    return sys.executable, [str(FAULTY), *extra]
