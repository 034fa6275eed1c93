"""The sandbox's way out: an HTTP proxy on a unix socket that lets through only allowed hosts.

A sandboxed command has no network of its own. When `sandbox.network.allowedDomains` lists
hosts, coda serves this proxy in its own process and the sandbox reaches it through a unix
socket bound into it (see netbridge.py). HTTPS goes through CONNECT, so the proxy sees the host
and port but nothing inside the tunnel; plain HTTP is limited to GET and HEAD. Everything else,
and every host not on the list, gets a 403 that says what to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORTS = frozenset({80, 443})
# A request head larger than this is refused; nothing legitimate needs more.
_HEAD_LIMIT = 64 * 1024
_HEAD_SECONDS = 30.0
_CONNECT_SECONDS = 15.0
_CHUNK = 64 * 1024
# Hop-by-hop headers, and those meant for the proxy: not passed on to the server.
_DROP_HEADERS = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade"}
)


@dataclass(frozen=True, slots=True)
class DomainRule:
    """One allowedDomains entry: `example.com`, `*.example.com`, or either with `:port`."""

    host: str
    wildcard: bool = False
    # None: the usual web ports (80 and 443); otherwise only this port.
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> DomainRule:
        text = entry.strip().lower()
        for scheme in ("http://", "https://"):
            text = text.removeprefix(scheme)
        text = text.split("/", 1)[0]
        host, port = split_host_port(text)
        if not host:
            raise ValueError(f"not a host name: {entry!r}")
        wildcard = host.startswith("*.")
        return cls(host.removeprefix("*."), wildcard, port)

    def allows(self, host: str, port: int) -> bool:
        if port not in (DEFAULT_PORTS if self.port is None else {self.port}):
            return False
        if self.wildcard:
            # `*.example.com` is the subdomains; list `example.com` too for the domain itself.
            return host.endswith("." + self.host)
        return host == self.host


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` or a bare IPv6 address, into a normal host and a port."""
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError(f"not a port number: {number!r}")
        port = int(number)
    else:
        host = text
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return host.lower().rstrip("."), port


class DomainProxy:
    """Serves the filtering proxy on a unix socket; a SessionResource, stopped with the session."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.entries = [e.strip() for e in allowed if e.strip()]
        self.rules = [DomainRule.parse(e) for e in self.entries]
        self.path: Path | None = None
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".").removeprefix("[").removesuffix("]")
        return any(rule.allows(host, port) for rule in self.rules)

    def start(self, path: Path) -> None:
        """Listen on `path` now; connections wait in the backlog until the loop serves them.

        Synchronous so that a caller which cannot await (a sandbox building a command line)
        can start it; it needs a running event loop.
        """
        loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(os.fspath(path))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.path = path
        self._starting = loop.create_task(self._serve(sock))

    async def _serve(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_unix_server(self._handle, sock=sock, limit=_HEAD_LIMIT)

    async def aclose(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(BaseException):
                await self._starting
            self._starting = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._exchange(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_SECONDS)
        except (asyncio.LimitOverrunError, ValueError):
            await _reply(writer, 431, "The request head is too large.")
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await _reply(writer, 400, "Malformed request line.")
            return
        method, target, _ = parts
        headers = [line for line in lines[1:] if line]
        try:
            host, port, path = _destination(method, target)
        except ValueError as e:
            await _reply(writer, 400, str(e))
            return
        if method not in ("CONNECT", "GET", "HEAD"):
            await _reply(
                writer,
                403,
                f"{method} is not allowed through the sandbox: plain HTTP allows GET and HEAD "
                "only (HTTPS goes through CONNECT).",
            )
            return
        if not self.allows(host, port):
            allowed = ", ".join(self.entries) or "none"
            await _reply(
                writer,
                403,
                f"Network access to {host}:{port} is blocked by the sandbox. Allowed: {allowed}. "
                "To allow it, add it to sandbox.network.allowedDomains in the settings "
                "(a host, *.domain, or host:port for a port other than 80 and 443).",
            )
            return
        if method != "CONNECT" and any(_is_body_header(h) for h in headers):
            await _reply(writer, 400, f"A {method} request with a body is not supported.")
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), _CONNECT_SECONDS
            )
        except (OSError, TimeoutError) as e:
            await _reply(writer, 502, f"Could not connect to {host}:{port}: {e}")
            return
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            else:
                up_writer.write(_origin_request(method, path, host, port, headers))
                await up_writer.drain()
                # Only the response flows back: a second request on this connection would
                # reach the server unchecked, so the client side is not read again.
                await _pipe(up_reader, writer)
        finally:
            up_writer.close()
            with contextlib.suppress(OSError):
                await up_writer.wait_closed()


def _destination(method: str, target: str) -> tuple[str, int, str]:
    """Host, port and origin-form path of a proxy request."""
    if method == "CONNECT":
        host, port = split_host_port(target)
        if not host or port is None:
            raise ValueError(f"CONNECT needs host:port, got {target!r}.")
        return host, port, ""
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(
            f"Expected an absolute http:// URL, got {target!r} (HTTPS goes through CONNECT)."
        )
    try:
        port = url.port or 80
    except ValueError as e:
        raise ValueError(f"Bad port in {target!r}.") from e
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    return url.hostname, port, path


def _is_body_header(line: str) -> bool:
    name, _, value = line.partition(":")
    name = name.strip().lower()
    if name == "transfer-encoding":
        return True
    return name == "content-length" and value.strip() not in ("", "0")


def _origin_request(method: str, path: str, host: str, port: int, headers: list[str]) -> bytes:
    kept = [h for h in headers if h.partition(":")[0].strip().lower() not in _DROP_HEADERS]
    if not any(h.partition(":")[0].strip().lower() == "host" for h in kept):
        kept.insert(0, f"Host: {host}" + ("" if port == 80 else f":{port}"))
    lines = [f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
}


async def _reply(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    body = f"coda sandbox: {message}\n".encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "X-Coda-Sandbox: refused\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
