"""A scripted model server on 127.0.0.1 that speaks the Anthropic and OpenAI wire protocols.

    with ModelServer() as server:
        server.enqueue(Reply([Text("hi")]), HTTPFault(429, retry_after=1))
        ...  # point a client at server.anthropic_base_url or server.openai_base_url
        server.assert_clean()

Each POST to /v1/messages or /v1/chat/completions is recorded, checked against the rules
in `invariants`, and answered with the next script item.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
import string
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from tests.fakes import anthropic_wire, invariants, openai_wire
from tests.fakes.script import (
    CutStream,
    Delay,
    HTTPFault,
    Item,
    Reply,
    Respond,
    StreamError,
    Usage,
    output_size,
    resolve,
)

Protocol = Literal["anthropic", "openai"]
DEFAULT_MODELS = ("claude-sonnet-4-6", "gpt-4o-mini")
_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON
    protocol: Protocol
    # When the request arrived (time.monotonic()), for benchmarks of time to first request.
    at: float = field(default_factory=time.monotonic)


@dataclass
class Sent:
    """A reply as the server played it, with the ids and signatures it made up."""

    protocol: Protocol
    reply: Reply
    message_id: str
    usage: Usage


class ModelServer:
    def __init__(
        self,
        *,
        port: int = 0,
        cache: bool = False,
        cache_min_tokens: int = 1024,
        require_key: str | None = None,
        repeat: bool = False,
        strict: bool = False,
        seed: int = 0,
        models: tuple[str, ...] = DEFAULT_MODELS,
    ) -> None:
        """`cache`: emulate prompt-cache accounting (see anthropic_wire.PromptCache), with
        `cache_min_tokens` as the shortest prefix that is cached.
        `repeat`: replay the script forever. `strict`: answer a request that breaks an
        invariant with a 400, as the real API would, instead of playing the script."""
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.sent: list[Sent] = []
        self._port = port
        self._cache = anthropic_wire.PromptCache(cache_min_tokens) if cache else None
        self._require_key = require_key
        self._repeat = repeat
        self._strict = strict
        self._models = models
        self._rng = random.Random(seed)
        self._script: deque[Item] = deque()
        self._thinking = invariants.ThinkingLedger()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"model_server": self})
        self._httpd = _HTTPServer(("127.0.0.1", self._port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the model server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    # -- script and results -------------------------------------------------------------

    def enqueue(self, *items: Item) -> None:
        with self._lock:
            self._script.extend(items)

    @property
    def pending(self) -> int:
        """Script items not played yet."""
        with self._lock:
            return len(self._script)

    def assert_clean(self) -> None:
        if self.violations:
            listing = "\n  ".join(self.violations)
            raise AssertionError(
                f"model server saw {len(self.violations)} violations:\n  {listing}"
            )

    def _next_item(self) -> Item | None:
        with self._lock:
            if not self._script:
                return None
            item = self._script.popleft()
            if self._repeat:
                self._script.append(item)
            return item

    def _new_id(self, kind: str) -> str:
        with self._lock:
            if kind == "signature":
                return base64.b64encode(self._rng.randbytes(96)).decode()
            length = {"toolu": 22, "msg": 22, "call": 24, "chatcmpl": 29}[kind]
            tail = "".join(self._rng.choices(_ALPHABET, k=length))
        prefix = {"toolu": "toolu_01", "msg": "msg_01", "call": "call_", "chatcmpl": "chatcmpl-"}
        return prefix[kind] + tail

    def _violate(self, index: int, protocol: str, problems: list[str]) -> None:
        with self._lock:
            self.violations.extend(f"request {index} ({protocol}): {p}" for p in problems)

    # -- requests -----------------------------------------------------------------------

    def handle_post(self, ex: _Handler, path: str, raw: bytes) -> None:
        route = path.split("?", 1)[0].rstrip("/")
        protocol: Protocol | None = None
        if route.endswith("/messages") or route.endswith("/messages/count_tokens"):
            protocol = "anthropic"
        elif route.endswith("/chat/completions"):
            protocol = "openai"
        if protocol is None:
            ex.send_json(404, anthropic_wire.error_body(404, f"no route for POST {route}"))
            return
        wire = anthropic_wire if protocol == "anthropic" else openai_wire
        headers = {k.lower(): v for k, v in ex.headers.items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(Recorded(path, headers, body, protocol))
            index = len(self.requests) - 1
        if not isinstance(body, dict):
            self._violate(index, protocol, ["the request body is not a JSON object"])
            ex.send_json(400, wire.error_body(400, "The request body is not valid JSON."))
            return
        if self._require_key is not None and not self._authorized(headers):
            ex.send_json(401, wire.error_body(401))
            return
        if route.endswith("/count_tokens"):
            ex.send_json(200, {"input_tokens": max(1, len(raw) // 4)})
            return
        problems = self._check(protocol, body)
        self._violate(index, protocol, problems)
        if problems and self._strict:
            ex.send_json(400, wire.error_body(400, "; ".join(problems)))
            return
        item = self._next_item()
        if item is None:
            message = "model server script exhausted"
            self._violate(index, protocol, [message])
            ex.send_json(500, wire.error_body(500, message))
            return
        self._play(ex, item, protocol, body, len(raw), index)

    def _authorized(self, headers: dict[str, str]) -> bool:
        bearer = headers.get("authorization", "").removeprefix("Bearer ").strip()
        return self._require_key in (headers.get("x-api-key"), bearer)

    def _check(self, protocol: Protocol, body: dict[str, Any]) -> list[str]:
        if protocol == "openai":
            return invariants.check_openai(body)
        problems = invariants.check_anthropic(body)
        with self._lock:
            problems += self._thinking.check(body.get("messages") or [])
        return problems

    def _play(
        self,
        ex: _Handler,
        item: Item,
        protocol: Protocol,
        body: dict[str, Any],
        size: int,
        index: int,
    ) -> None:
        wire = anthropic_wire if protocol == "anthropic" else openai_wire
        while isinstance(item, Delay | Respond):
            if isinstance(item, Respond):
                try:
                    item = item.fn(body)
                except Exception as exc:  # a bug in the test's function: fail loudly, not hang
                    message = f"Respond function raised {type(exc).__name__}: {exc}"
                    self._violate(index, protocol, [message])
                    ex.send_json(500, wire.error_body(500, message))
                    return
                continue
            if self._stopping.wait(item.seconds):
                ex.abort()
                return
            item = item.item
        if isinstance(item, HTTPFault):
            headers = dict(item.headers)
            if item.retry_after is not None:
                headers["retry-after"] = str(item.retry_after)
            fault = item.body if item.body is not None else wire.error_body(item.status)
            ex.send_json(item.status, fault, headers)
            return
        reply = item if isinstance(item, Reply) else item.reply
        sent = self._record_reply(protocol, reply, body, size)
        if body.get("stream"):
            self._stream(ex, item, self._render_stream(sent, body))
        elif isinstance(item, CutStream):
            ex.abort()
        elif isinstance(item, StreamError):
            # Outside a stream the same failure arrives as an HTTP status.
            status = anthropic_wire.STATUS_OF_ERROR.get(item.error_type, 500)
            ex.send_json(status, wire.error_body(status, item.message, item.error_type))
        else:
            ex.send_json(200, self._render_whole(sent, body))

    def _render_whole(self, sent: Sent, body: dict[str, Any]) -> dict[str, Any]:
        model = str(body.get("model", ""))
        if sent.protocol == "anthropic":
            return anthropic_wire.message_json(
                sent.reply, message_id=sent.message_id, model=model, usage=sent.usage
            )
        return openai_wire.completion_json(
            sent.reply,
            completion_id=sent.message_id,
            model=model,
            created=int(time.time()),
            usage=sent.usage,
        )

    def _render_stream(self, sent: Sent, body: dict[str, Any]) -> list[bytes]:
        model = str(body.get("model", ""))
        if sent.protocol == "anthropic":
            return anthropic_wire.stream_events(
                sent.reply, message_id=sent.message_id, model=model, usage=sent.usage
            )
        return openai_wire.stream_chunks(
            sent.reply,
            completion_id=sent.message_id,
            model=model,
            created=int(time.time()),
            usage=sent.usage,
            include_usage=bool((body.get("stream_options") or {}).get("include_usage")),
        )

    def _stream(
        self, ex: _Handler, item: Reply | CutStream | StreamError, events: list[bytes]
    ) -> None:
        """Send the events; a CutStream or StreamError that counts past the end still fires."""
        reply = item if isinstance(item, Reply) else item.reply
        stop_at = len(events) if isinstance(item, Reply) else min(item.after_events, len(events))
        ex.start_stream()
        for i, event in enumerate(events[:stop_at]):
            if i and reply.chunk_delay and self._stopping.wait(reply.chunk_delay):
                ex.abort()
                return
            ex.write_chunk(event)
        if isinstance(item, CutStream):
            ex.abort()
            return
        if isinstance(item, StreamError):
            if events[0].startswith(b"event:"):
                ex.write_chunk(anthropic_wire.error_event(item.error_type, item.message))
            else:
                ex.write_chunk(openai_wire.error_chunk(item.error_type, item.message))
        ex.end_stream()

    def _record_reply(
        self, protocol: Protocol, reply: Reply, body: dict[str, Any], size: int
    ) -> Sent:
        if protocol == "anthropic":
            resolved = resolve(
                reply, lambda kind: self._new_id("toolu" if kind == "tool" else kind)
            )
            message_id = self._new_id("msg")
        else:
            resolved = resolve(reply, lambda kind: self._new_id("call" if kind == "tool" else kind))
            message_id = self._new_id("chatcmpl")
        usage = reply.usage or self._estimate_usage(protocol, resolved, body, size)
        sent = Sent(protocol, resolved, message_id, usage)
        content = [anthropic_wire.block_json(b) for b in resolved.content]
        with self._lock:
            self.sent.append(sent)
            if protocol == "anthropic":
                self._thinking.record(content)
        return sent

    def _estimate_usage(
        self, protocol: Protocol, reply: Reply, body: dict[str, Any], size: int
    ) -> Usage:
        input_tokens = max(1, size // 4)
        output_tokens = max(1, output_size(reply) // 4)
        if self._cache is None or protocol != "anthropic":
            return Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        with self._lock:
            cached = self._cache.account(body, input_tokens)
        return Usage(
            input_tokens=cached.input_tokens,
            output_tokens=output_tokens,
            cache_creation_input_tokens=cached.cache_creation_input_tokens,
            cache_read_input_tokens=cached.cache_read_input_tokens,
        )

    def handle_get(self, ex: _Handler, path: str) -> None:
        route = path.split("?", 1)[0].rstrip("/")
        if route in ("", "/v1"):
            ex.send_json(200, {"status": "ok", "server": "coda fake model server"})
        elif route in ("/v1/models", "/models"):
            ex.send_json(200, self._models_json())
        else:
            ex.send_json(404, anthropic_wire.error_body(404, f"no route for GET {route}"))

    def _models_json(self) -> dict[str, Any]:
        # One listing both SDKs accept: the union of the Anthropic and OpenAI shapes.
        data = [
            {
                "id": model,
                "object": "model",
                "type": "model",
                "display_name": model,
                "created": 1700000000,
                "created_at": "2025-01-01T00:00:00Z",
                "owned_by": "coda-fake",
            }
            for model in self._models
        ]
        first, last = (self._models[0], self._models[-1]) if self._models else (None, None)
        return {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": first,
            "last_id": last,
        }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a Delay or a keep-alive must not block stop()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hang up; fine
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Transport only: reads requests, writes JSON, chunked SSE, or an abrupt close."""

    model_server: ModelServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections go away on their own

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self.model_server.handle_get(self, self.path)
        except ConnectionError:  # the client went away; that is its business
            self.close_connection = True

    def do_POST(self) -> None:
        try:
            self.model_server.handle_post(self, self.path, self._read_body())
        except ConnectionError:
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(parts)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _request_id_header(self) -> None:
        self.send_header("request-id", "req_011" + "".join(random.choices(_ALPHABET, k=21)))
        self.send_header("x-request-id", "req_" + "".join(random.choices(_ALPHABET, k=24)))

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self._request_id_header()
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._request_id_header()
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Close the connection mid-response: no terminating chunk, nothing more."""
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone already
            self.connection.shutdown(socket.SHUT_RDWR)
