"""HTTP plumbing for the wire clients: one POST that yields SSE records or raises typed errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from coda.providers.base import ConnectionFailed, StreamBroken, status_error
from coda.providers.sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx2


def make_client(base_url: str, timeout: float = 600.0) -> httpx2.AsyncClient:
    import httpx2  # imported here so `coda --version` never pays for it

    # A plain-http endpoint (a local server) never does TLS, so skip loading the CA store,
    # which costs tens of milliseconds at start-up. https endpoints verify as usual.
    verify = not base_url.startswith("http://")
    # Connecting should be quick; reading a long stream may legitimately take minutes.
    return httpx2.AsyncClient(verify=verify, timeout=httpx2.Timeout(timeout, connect=10.0))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait, from retry-after-ms or retry-after."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue  # an HTTP date; rare enough to fall back to our own backoff
    return None


async def post_sse(
    client: httpx2.AsyncClient, url: str, headers: dict[str, str], body: bytes
) -> AsyncIterator[ServerSentEvent]:
    import httpx2

    try:
        async with client.stream("POST", url, headers=headers, content=body) as response:
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                raise status_error(response.status_code, text, retry_after(response.headers))
            decoder = SSEDecoder()
            async for line in response.aiter_lines():
                record = decoder.feed(line)
                if record is not None:
                    yield record
            tail = decoder.flush()
            if tail is not None:
                yield tail
    except httpx2.ConnectError as exc:
        raise ConnectionFailed(f"cannot connect to {url}: {exc}") from exc
    except httpx2.TimeoutException as exc:
        raise StreamBroken(f"request to {url} timed out: {exc}") from exc
    except (httpx2.RemoteProtocolError, httpx2.ReadError) as exc:
        raise StreamBroken(f"connection to {url} broke mid-stream: {exc}") from exc


def dumps(payload: Any) -> bytes:
    import json

    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
