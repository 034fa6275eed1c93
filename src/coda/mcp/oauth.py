"""OAuth 2.1 for remote MCP servers: the SDK's provider, a 0600 token file, a loopback callback.

The SDK (`OAuthClientProvider`) does discovery, dynamic client registration, PKCE, the token
exchange and refreshes. coda adds where tokens live (one JSON file per server under
`<data dir>/mcp-auth/`), the one-shot HTTP listener on 127.0.0.1 that receives the browser's
redirect, and the rule that a run nobody can answer (headless) fails at once with
`coda mcp login <name>` instead of waiting for a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import parse_qsl, urlsplit

from coda.config import data_dir, write_atomically
from coda.mcp.errors import find_error, innermost

if TYPE_CHECKING:
    import httpx2
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthToken

    from coda.mcp.config import ServerConfig

log = logging.getLogger(__name__)

FILE_VERSION = 1
# A token read back from disk counts as expired this long before its stated expiry, so it is
# refreshed before use rather than refused by the server halfway through a request.
EXPIRY_MARGIN_S = 30.0
# How long a connection made during a session waits for the browser; `login` has its own timeout.
BROWSER_WAIT_S = 300.0
CALLBACK_PATH = "/callback"


class OAuthError(Exception):
    """Authorization with an MCP server failed; the message says why and what to do."""


class LoginRequired(OAuthError):
    """The server wants a login and nobody is there to do it (a headless run)."""

    def __init__(self, name: str, *, had_tokens: bool) -> None:
        why = (
            "its stored authorization was refused or has expired and could not be refreshed"
            if had_tokens
            else "it needs authorization and this run cannot open a browser"
        )
        super().__init__(f"MCP server '{name}': {why}; run `coda mcp login {name}`")


def has_authorization_header(headers: Mapping[str, str]) -> bool:
    return any(key.lower() == "authorization" for key in headers)


def token_path(cfg: ServerConfig, env: Mapping[str, str]) -> Path:
    """`<data dir>/mcp-auth/<name>-<hash of url>.json`: a changed URL starts afresh."""
    digest = hashlib.sha256(cfg.url.encode()).hexdigest()[:12]
    return data_dir(env) / "mcp-auth" / f"{cfg.name}-{digest}.json"


def http_auth(
    cfg: ServerConfig,
    env: Mapping[str, str],
    *,
    interactive: bool,
    open_url: Callable[[str], None] | None = None,
) -> httpx2.Auth | None:
    """The httpx2 auth for an http/sse server: None when the config sends its own
    Authorization header (or for stdio), else the SDK's OAuth provider over the token file.

    `interactive` False means a redirect to the browser raises `LoginRequired` at once.
    `open_url` receives the authorization URL (default: print it to stderr and try the browser).
    """
    if cfg.transport == "stdio" or has_authorization_header(cfg.headers):
        return None
    storage = TokenFile(token_path(cfg, env), server=cfg.name, url=cfg.url)
    storage.load()
    return _provider(
        cfg,
        storage,
        interactive=interactive,
        open_url=open_url or url_opener(sys.stderr),
        wait_s=BROWSER_WAIT_S,
    )


async def login(
    cfg: ServerConfig, env: Mapping[str, str], *, open_url: Callable[[str], None], timeout: float
) -> None:
    """Authorize coda with the server now: connect, which makes the SDK discover, register,
    send `open_url` the authorization URL and wait for the redirect; the tokens land in the file.
    A login always asks anew, even when the stored tokens still work."""
    import anyio

    if cfg.transport == "stdio":
        raise OAuthError(f"MCP server '{cfg.name}' is a local (stdio) server: there is no login")
    if has_authorization_header(cfg.headers):
        raise OAuthError(
            f"MCP server '{cfg.name}' sends its own Authorization header; "
            "remove it from the configuration to log in with OAuth instead"
        )
    storage = TokenFile(token_path(cfg, env), server=cfg.name, url=cfg.url)
    storage.load()
    storage.ask_anew = True
    auth = _provider(cfg, storage, interactive=True, open_url=open_url, wait_s=timeout)
    try:
        with anyio.fail_after(timeout):
            await _connect_once(cfg, auth)
    except Exception as exc:  # anyio's groups included; a cancellation passes through
        if find_error(exc, TimeoutError) is not None:
            raise OAuthError(
                f"login to MCP server '{cfg.name}' timed out after {timeout:g} s "
                "(the browser never came back to coda)"
            ) from None
        found = find_error(exc, OAuthError)
        if found is not None:
            raise found from None
        raise OAuthError(f"login to MCP server '{cfg.name}' failed: {_describe(exc)}") from exc
    if storage.ask_anew:  # no new tokens arrived, yet the connection worked
        raise OAuthError(
            f"MCP server '{cfg.name}' did not ask for authorization: there is nothing to log in to"
        )


class TokenFile:
    """The SDK's TokenStorage for one server: tokens and the registered client in one JSON file,
    written atomically with mode 0600 in a 0700 directory."""

    def __init__(self, path: Path, *, server: str, url: str) -> None:
        self.path = path
        self.server = server
        self.url = url
        self.tokens: OAuthToken | None = None
        # A login hides the stored tokens from the SDK, so that it asks anew, yet keeps them in
        # the file until new ones arrive.
        self.ask_anew = False
        self.expires_at: float | None = None
        self.client: OAuthClientInformationFull | None = None
        # The SDK's OAuth state, to move its expiry earlier after each new token (below).
        self.context: Any = None

    def load(self) -> None:
        """Read the file if there is one; an unreadable file is a fresh start, not a failure."""
        from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens, client = data.get("tokens"), data.get("client")
            self.tokens = OAuthToken.model_validate(tokens) if tokens else None
            self.client = OAuthClientInformationFull.model_validate(client) if client else None
            expires_at = data.get("expires_at")
            self.expires_at = float(expires_at) if expires_at is not None else None
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable MCP token file %s: %s", self.path, exc)
            self.tokens, self.client, self.expires_at = None, None, None

    async def get_tokens(self) -> OAuthToken | None:
        return None if self.ask_anew else self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens, self.ask_anew = tokens, False
        lifetime = tokens.expires_in
        self.expires_at = time.time() + lifetime if lifetime is not None else None
        if self.context is not None and lifetime is not None:
            # The SDK counts the lifetime from when the answer arrived, the server from when
            # it issued the token; a request near the end is refused with a 401, on which the
            # SDK starts a whole new login instead of refreshing. Refreshing early avoids that.
            margin = min(EXPIRY_MARGIN_S, lifetime / 2)
            self.context.token_expiry_time = time.time() + lifetime - margin
        self._save()

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info
        self._save()

    def _save(self) -> None:
        tokens, client = self.tokens, self.client
        record: dict[str, Any] = {
            "version": FILE_VERSION,
            "server": self.server,
            "url": self.url,
            "tokens": tokens.model_dump(mode="json", exclude_none=True) if tokens else None,
            "expires_at": self.expires_at,
            "client": client.model_dump(mode="json", exclude_none=True) if client else None,
        }
        write_private(self.path, json.dumps(record, indent=2) + "\n")


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with a file only its owner can read, in a directory likewise."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)  # mkdir's mode is masked by umask, and the dir may predate us
    write_atomically(path, text, private=True)


def _provider(
    cfg: ServerConfig,
    storage: TokenFile,
    *,
    interactive: bool,
    open_url: Callable[[str], None],
    wait_s: float,
) -> OAuthClientProvider:
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata
    from pydantic import AnyUrl

    _quiet_login_required()
    port = _stored_port(storage.client)
    if port is None or (interactive and not _port_free(port)):
        # The registration names its redirect URI exactly, so a new port needs a new one.
        port, storage.client = _free_port(), None
    metadata = OAuthClientMetadata(
        client_name="coda",
        redirect_uris=[AnyUrl(f"http://127.0.0.1:{port}{CALLBACK_PATH}")],
        token_endpoint_auth_method="none",  # a public client: PKCE, no secret
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
    )
    browser = _Browser(
        name=cfg.name,
        port=port,
        interactive=interactive,
        open_url=open_url,
        wait_s=wait_s,
        had_tokens=storage.tokens is not None and not storage.ask_anew,
    )
    provider = OAuthClientProvider(
        server_url=cfg.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )
    storage.context = provider.context
    if storage.tokens is not None and storage.expires_at is not None and not storage.ask_anew:
        # The SDK keeps no expiry for tokens it loads from storage and would send an expired
        # one, get a 401 and start a new login; given the expiry it refreshes instead.
        provider.context.token_expiry_time = storage.expires_at - EXPIRY_MARGIN_S
    return provider


class _Browser:
    """The SDK's redirect and callback handlers: send the person to the authorization URL and
    receive the redirect back on 127.0.0.1, or refuse at once when nobody can."""

    def __init__(
        self,
        *,
        name: str,
        port: int,
        interactive: bool,
        open_url: Callable[[str], None],
        wait_s: float,
        had_tokens: bool,
    ) -> None:
        self.name = name
        self.port = port
        self.interactive = interactive
        self.open_url = open_url
        self.wait_s = wait_s
        self.had_tokens = had_tokens
        self._listener: _Callback | None = None

    async def redirect(self, url: str) -> None:
        if not self.interactive:
            raise LoginRequired(self.name, had_tokens=self.had_tokens)
        listener = _Callback(self.port)
        try:
            await listener.start()
        except OSError as exc:
            raise OAuthError(
                f"cannot receive the authorization for MCP server '{self.name}' on "
                f"127.0.0.1:{self.port} ({exc.strerror or exc}); try again"
            ) from exc
        self._listener = listener
        try:
            # In a thread: opening a browser may block, and must not stop the listener answering.
            await asyncio.to_thread(self.open_url, url)
        except BaseException:
            self._listener = None
            await listener.close()
            raise

    async def callback(self) -> AuthorizationCodeResult:
        listener, self._listener = self._listener, None
        if listener is None:
            raise OAuthError("the authorization callback was awaited before the redirect")
        return await listener.wait(self.name, self.wait_s)


class _Callback:
    """A one-shot HTTP listener on 127.0.0.1 for the browser's redirect to /callback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: asyncio.Server | None = None
        self._params: asyncio.Future[dict[str, str]] | None = None

    async def start(self) -> None:
        self._params = asyncio.get_running_loop().create_future()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait(self, name: str, timeout: float) -> AuthorizationCodeResult:
        from mcp.shared.auth import AuthorizationCodeResult

        assert self._params is not None
        try:
            params = await asyncio.wait_for(asyncio.shield(self._params), timeout)
        except TimeoutError:
            raise OAuthError(
                f"no authorization for MCP server '{name}' arrived within {timeout:g} s"
            ) from None
        finally:
            await self.close()
        if "error" in params:
            detail = params.get("error_description", "")
            raise OAuthError(
                f"MCP server '{name}' refused the authorization: {params['error']}"
                + (f" ({detail})" if detail else "")
            )
        if not params.get("code"):
            raise OAuthError(f"the redirect from MCP server '{name}' carried no authorization code")
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, page = await self._answer(reader)
            body = page.encode()
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (OSError, TimeoutError, ValueError):
            pass  # a browser that hangs up or sends junk gets nothing; the wait goes on
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[str, str]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        method, _, rest = head.decode("latin-1").partition(" ")
        target = urlsplit(rest.partition(" ")[0])
        if method != "GET" or target.path != CALLBACK_PATH:
            return "404 Not Found", "Not found.\n"
        assert self._params is not None
        if self._params.done():
            return "409 Conflict", "coda has already received an authorization; close this tab.\n"
        params = dict(parse_qsl(target.query))
        self._params.set_result(params)
        if "error" in params:
            return "400 Bad Request", f"Authorization failed: {params['error']}. Close this tab.\n"
        return "200 OK", "coda is authorized. You can close this tab and return to the terminal.\n"


async def _connect_once(cfg: ServerConfig, auth: httpx2.Auth) -> None:
    from mcp import Client

    if cfg.transport == "sse":
        from mcp.client.sse import sse_client

        async with Client(
            sse_client(cfg.url, headers=dict(cfg.headers), auth=auth), mode="legacy", cache=None
        ):
            return
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with (
        create_mcp_http_client(headers=dict(cfg.headers), auth=auth) as http,
        Client(streamable_http_client(cfg.url, http_client=http), mode="legacy", cache=None),
    ):
        return


def _stored_port(client: OAuthClientInformationFull | None) -> int | None:
    """The loopback port a stored registration's redirect URI names, if it is ours."""
    if client is None or not client.redirect_uris:
        return None
    uri = urlsplit(str(client.redirect_uris[0]))
    if uri.scheme != "http" or uri.hostname != "127.0.0.1" or uri.path != CALLBACK_PATH:
        return None
    return uri.port


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As asyncio's listener will: the last login's connection may linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_opener(out: TextIO) -> Callable[[str], None]:
    """Show the authorization URL on `out` and try the browser (there may be none)."""

    def open_url(url: str) -> None:
        import webbrowser

        out.write(f"Opening the browser to authorize coda. If it does not open, visit:\n  {url}\n")
        out.flush()
        with contextlib.suppress(Exception):
            webbrowser.open(url)

    return open_url


def _describe(exc: BaseException) -> str:
    exc = innermost(exc)
    return str(exc) or type(exc).__name__


class _LoginRequiredFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, LoginRequired)


def _quiet_login_required() -> None:
    """The SDK logs every failed flow with a traceback; a headless run that needs a login is
    expected and reported with its own message, so that one is left out of the log."""
    logger = logging.getLogger("mcp.client.auth.oauth2")
    if not any(isinstance(f, _LoginRequiredFilter) for f in logger.filters):
        logger.addFilter(_LoginRequiredFilter())
