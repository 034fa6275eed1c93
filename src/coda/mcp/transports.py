"""Opening a server's transport on the SDK (stdio, streamable HTTP, SSE), and the stdio
server's stderr, kept in a file so `/mcp` can show how it ended."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from coda.mcp.config import ServerConfig

STDERR_TAIL = 2_000  # bytes read back from the end of the file
TAIL_LINES = 8


class StderrLog:
    """One temporary file for a stdio server's stderr, across its restarts."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._path: Path | None = None
        self._file: TextIO | None = None

    def file(self) -> TextIO:
        if self._file is None:
            fd, path = tempfile.mkstemp(prefix=f"coda-mcp-{self._name}-", suffix=".stderr")
            self._path = Path(path)
            self._file = os.fdopen(fd, "w", encoding="utf-8")
        return self._file

    def tail(self) -> str:
        if self._path is None:
            return ""
        try:
            with open(self._path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - STDERR_TAIL))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def note(self) -> str:
        """ "; its stderr ends with: …" for an error message, or "" when it said nothing."""
        lines = self.tail().splitlines()[-TAIL_LINES:]
        if not lines:
            return ""
        return "; its stderr ends with:\n" + "\n".join(f"  {line}" for line in lines)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                self._path.unlink()


def open_transport(cfg: ServerConfig, env: Mapping[str, str], cwd: Path, stderr: StderrLog) -> Any:
    """The SDK transport (an async context manager of streams) for one server."""
    if cfg.transport == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=cfg.command, args=list(cfg.args), env=dict(cfg.env) or None, cwd=cwd
        )
        return stdio_client(params, errlog=stderr.file())
    from coda.mcp.oauth import http_auth

    # Never a browser while servers start (the startup timeout would cut it short): a
    # server that needs a login says so, and `/mcp login` or `coda mcp login` does it.
    auth = http_auth(cfg, env, interactive=False)
    if cfg.transport == "sse":
        from mcp.client.sse import sse_client

        return sse_client(cfg.url, headers=dict(cfg.headers), auth=auth)
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    http = create_mcp_http_client(headers=dict(cfg.headers), auth=auth)
    return _owned(streamable_http_client(cfg.url, http_client=http), http)


@contextlib.asynccontextmanager
async def _owned(transport: Any, http: Any) -> Any:
    """The streamable HTTP transport with an HTTP client it does not close itself."""
    async with http, transport as streams:
        yield streams
