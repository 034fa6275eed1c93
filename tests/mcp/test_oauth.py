"""OAuth for remote MCP servers, against a real local authorization server (oauth_server.py).

The server approves every authorization at once, so a test's `open_url` plays the browser by
following the authorization URL with httpx2; the redirect lands on coda's callback listener.
The server counts registrations, authorizations and refreshes, which tells a reused token
from a new login.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from coda.mcp.config import ServerConfig, Transport
from coda.mcp.oauth import LoginRequired, OAuthError, http_auth, login, token_path
from tests.mcp.conftest import free_port, wait_for_port

OAUTH_SERVER = Path(__file__).parent / "servers" / "oauth_server.py"
STATIC_TOKEN = "pre-issued-static-token"
NEW_LOGIN = {"register": 1, "authorize": 1, "code_exchange": 1}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """Three servers started side by side: streamable HTTP with tokens for an hour, the same
    with tokens for one second, and legacy SSE."""
    kinds = {
        "long": ["--access-lifetime", "3600", "--static-token", STATIC_TOKEN],
        "short": ["--access-lifetime", "1"],
        "sse": ["--transport", "sse"],
    }
    ports = {kind: free_port() for kind in kinds}
    procs = {
        kind: subprocess.Popen(
            [sys.executable, str(OAUTH_SERVER), "--port", str(ports[kind]), *extra],
            stdout=subprocess.DEVNULL,
        )
        for kind, extra in kinds.items()
    }
    try:
        for kind, port in ports.items():
            wait_for_port(port, procs[kind])
        yield {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=5)


def server_cfg(
    base: str, name: str = "remote", transport: Transport = "http", **headers: str
) -> ServerConfig:
    url = f"{base}/sse" if transport == "sse" else f"{base}/mcp"
    return ServerConfig(
        name=name, transport=transport, scope="user", source=None, url=url, headers=headers
    )


def browser(url: str) -> None:
    """What a person's browser does: open the authorization page and follow its redirect."""
    answer = httpx2.get(url, follow_redirects=True, timeout=5)
    assert answer.status_code == 200, answer.text
    assert "coda is authorized" in answer.text


async def counters(base: str) -> dict[str, int]:
    async with httpx2.AsyncClient() as http:
        answer = await http.get(f"{base}/debug/counters")
    return {"register": 0, "authorize": 0, "refresh": 0, "static_bearer": 0, **answer.json()}


def delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    """What changed, and by how much."""
    changes = {key: after[key] - before.get(key, 0) for key in after}
    return {key: change for key, change in changes.items() if change}


async def whoami(
    cfg: ServerConfig, env: Mapping[str, str], *, interactive: bool = False, calls: int = 1
) -> str:
    """Connect the way coda's client does (headers plus `http_auth`) and call a tool `calls`
    times, a second apart after the first."""
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    from mcp import Client

    auth = http_auth(cfg, env, interactive=interactive)
    async with contextlib.AsyncExitStack() as stack:
        if cfg.transport == "sse":
            transport = sse_client(cfg.url, headers=dict(cfg.headers), auth=auth)
        else:
            http = create_mcp_http_client(headers=dict(cfg.headers), auth=auth)
            await stack.enter_async_context(http)
            transport = streamable_http_client(cfg.url, http_client=http)
        client = await stack.enter_async_context(Client(transport, mode="legacy", cache=None))
        answers = set()
        for call in range(calls):
            if call:
                await asyncio.sleep(1.1)
            result = await client.call_tool("whoami", {})
            text = result.content[0]
            assert text.type == "text"
            answers.add(text.text)
    assert len(answers) == 1
    return answers.pop()


def stored(cfg: ServerConfig, env: Mapping[str, str]) -> dict[str, object]:
    data = json.loads(token_path(cfg, env).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODA_DATA_DIR": str(tmp_path / "data")}


async def test_login_stores_a_private_token_file_that_later_runs_reuse(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    base = servers["long"]
    cfg = server_cfg(base)
    before = await counters(base)

    await login(cfg, env, open_url=browser, timeout=10)

    assert delta(await counters(base), before) == NEW_LOGIN
    path = token_path(cfg, env)
    assert path.parent == Path(env["CODA_DATA_DIR"]) / "mcp-auth"
    assert path.name.startswith("remote-") and path.suffix == ".json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = stored(cfg, env)
    assert data["version"] == 1 and data["server"] == "remote" and data["url"] == cfg.url
    assert isinstance(data["tokens"], dict) and data["tokens"]["refresh_token"]
    assert isinstance(data["client"], dict) and data["client"]["client_id"]
    client_id = data["client"]["client_id"]

    # Later runs, headless: each reads the file and needs no registration, login or refresh.
    after_login = await counters(base)
    assert await whoami(cfg, env) == f"client {client_id}"
    assert await whoami(cfg, env) == f"client {client_id}"
    assert delta(await counters(base), after_login) == {}
    assert stored(cfg, env)["tokens"] == data["tokens"]

    # Logging in again asks anew but keeps the registration (its callback port is free).
    await login(cfg, env, open_url=browser, timeout=10)
    assert delta(await counters(base), after_login) == {"authorize": 1, "code_exchange": 1}
    assert stored(cfg, env)["tokens"] != data["tokens"]


async def test_an_expired_access_token_is_refreshed_without_a_login(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    base = servers["short"]  # access tokens live one second
    cfg = server_cfg(base)
    await login(cfg, env, open_url=browser, timeout=10)
    first = stored(cfg, env)
    before = await counters(base)
    await asyncio.sleep(1.1)  # the server now refuses the access token

    # Refreshed when read back from the file, then by the SDK during the connection.
    assert (await whoami(cfg, env, calls=2)).startswith("client ")

    # At least twice: on reading the file, and during the connection (a slow machine may
    # refresh once more, since coda refreshes before the last half of a token's life).
    changes = delta(await counters(base), before)
    assert set(changes) == {"refresh"} and changes["refresh"] >= 2
    second = stored(cfg, env)
    assert isinstance(first["tokens"], dict) and isinstance(second["tokens"], dict)
    assert second["tokens"]["access_token"] != first["tokens"]["access_token"]
    assert second["tokens"]["refresh_token"] != first["tokens"]["refresh_token"]  # rotated
    assert stat.S_IMODE(token_path(cfg, env).stat().st_mode) == 0o600


async def test_headless_without_tokens_says_to_log_in_at_once(
    servers: dict[str, str], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = server_cfg(servers["long"], name="needs-login")
    started = time.monotonic()
    with pytest.raises(BaseException) as caught:
        await whoami(cfg, env, interactive=False)
    assert time.monotonic() - started < 3
    found = _find_login_required(caught.value)
    assert "run `coda mcp login needs-login`" in str(found)
    assert "Traceback" not in capsys.readouterr().err  # the SDK's log of the failed flow is quiet


async def test_headless_with_refused_tokens_says_to_log_in_again(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    cfg = server_cfg(servers["long"], name="revoked")
    await login(cfg, env, open_url=browser, timeout=10)
    data = stored(cfg, env)
    assert isinstance(data["tokens"], dict)
    data["tokens"]["access_token"] = "no-longer-valid"  # as if the server had revoked it
    token_path(cfg, env).write_text(json.dumps(data))
    with pytest.raises(BaseException) as caught:
        await whoami(cfg, env, interactive=False)
    message = str(_find_login_required(caught.value))
    assert "stored authorization was refused or has expired" in message
    assert "run `coda mcp login revoked`" in message


async def test_a_bearer_header_is_sent_as_is_and_oauth_stays_out(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    base = servers["long"]
    cfg = server_cfg(base, name="bearer", Authorization=f"Bearer {STATIC_TOKEN}")
    assert http_auth(cfg, env, interactive=False) is None
    before = await counters(base)

    assert await whoami(cfg, env) == "client static"

    changes = delta(await counters(base), before)
    assert changes.keys() == {"static_bearer"}
    assert not token_path(cfg, env).exists()
    with pytest.raises(OAuthError, match="sends its own Authorization header"):
        await login(cfg, env, open_url=browser, timeout=5)


async def test_login_times_out_when_the_browser_never_comes_back(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    cfg = server_cfg(servers["long"], name="slow")
    opened: list[str] = []
    started = time.monotonic()
    with pytest.raises(OAuthError, match=r"login to MCP server 'slow' timed out after 0.5 s"):
        await login(cfg, env, open_url=opened.append, timeout=0.5)
    assert time.monotonic() - started < 3
    assert len(opened) == 1 and "/authorize?" in opened[0]
    assert stored(cfg, env)["tokens"] is None  # registered, never authorized

    # A login that fails leaves the tokens of the last one that worked.
    await login(cfg, env, open_url=browser, timeout=10)
    tokens = stored(cfg, env)["tokens"]
    with pytest.raises(OAuthError, match="timed out"):
        await login(cfg, env, open_url=opened.append, timeout=0.3)
    assert stored(cfg, env)["tokens"] == tokens
    assert (await whoami(cfg, env)).startswith("client ")


async def test_a_refused_authorization_is_reported(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    def deny(url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        refusal = {"error": "access_denied", "error_description": "no thanks"}
        back = f"{query['redirect_uri'][0]}?{urlencode({**refusal, 'state': query['state'][0]})}"
        assert httpx2.get(back, timeout=5).status_code == 400

    cfg = server_cfg(servers["long"], name="denied")
    with pytest.raises(OAuthError, match=r"refused the authorization: access_denied \(no thanks\)"):
        await login(cfg, env, open_url=deny, timeout=5)


async def test_a_busy_callback_port_means_a_new_registration(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    base = servers["long"]
    cfg = server_cfg(base, name="busy")
    await login(cfg, env, open_url=browser, timeout=10)
    client = stored(cfg, env)["client"]
    assert isinstance(client, dict)
    old_port = urlsplit(client["redirect_uris"][0]).port
    assert old_port is not None
    before = await counters(base)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        await login(cfg, env, open_url=browser, timeout=10)
    assert delta(await counters(base), before) == NEW_LOGIN
    client = stored(cfg, env)["client"]
    assert isinstance(client, dict)
    assert urlsplit(client["redirect_uris"][0]).port != old_port
    assert (await whoami(cfg, env)) == f"client {client['client_id']}"


async def test_login_and_reuse_over_legacy_sse(
    servers: dict[str, str], env: dict[str, str]
) -> None:
    base = servers["sse"]
    cfg = server_cfg(base, name="old", transport="sse")
    before = await counters(base)
    await login(cfg, env, open_url=browser, timeout=10)
    client = stored(cfg, env)["client"]
    assert isinstance(client, dict)
    assert await whoami(cfg, env) == f"client {client['client_id']}"
    assert delta(await counters(base), before) == NEW_LOGIN


def test_an_unreadable_token_file_is_a_fresh_start(env: dict[str, str]) -> None:
    cfg = server_cfg("http://127.0.0.1:9", name="broken")
    path = token_path(cfg, env)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert http_auth(cfg, env, interactive=False) is not None
    other = ServerConfig(
        name="broken", transport="http", scope="user", source=None, url="http://127.0.0.1:9/other"
    )
    assert token_path(other, env) != path  # another URL, another file


def _find_login_required(exc: BaseException) -> LoginRequired:
    if isinstance(exc, LoginRequired):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            with contextlib.suppress(AssertionError):
                return _find_login_required(inner)
    raise AssertionError(f"no LoginRequired in {exc!r}")


async def test_a_server_that_needs_a_login_shows_as_needs_auth(
    servers: dict[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    from coda.mcp.config import McpLimits
    from coda.mcp.manager import McpManager

    cfg = server_cfg(servers["long"], name="locked")
    limits = McpLimits(startup_s=10, call_s=10, max_output_tokens=1_000)
    manager = McpManager([cfg], cwd=tmp_path, env=env, limits=limits)
    try:
        await manager.wait_ready()
        (status,) = manager.statuses()
        assert status.status == "needs-auth", status
        assert "coda mcp login locked" in status.detail
    finally:
        await manager.aclose()
