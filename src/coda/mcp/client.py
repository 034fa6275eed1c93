"""One MCP server connection on the official SDK: start, list, call, restart once, stop.

A connection lives in its own task, which enters and leaves the SDK's context managers
(anyio requires the same task to do both). Other tasks call through it. A server that
fails never raises into the session: its state says what happened, for `/mcp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from coda.mcp.config import McpLimits, ServerConfig
from coda.mcp.errors import find_error, innermost
from coda.mcp.tools import McpTool, clean_schema, convert_result, describe, tool_name
from coda.mcp.transports import StderrLog, open_transport
from coda.messages import JsonObject
from coda.tools.base import ToolOutput

log = logging.getLogger(__name__)

Status = Literal["pending", "connecting", "connected", "failed", "needs-auth", "stopped"]
_UNSETTLED: tuple[Status, ...] = ("pending", "connecting")
EventKind = Literal["progress", "list", "crash", "error"]
MAX_EVENTS = 100
SAMPLING_REFUSAL = (
    "coda does not let MCP servers use its model (sampling is refused): the person's model "
    "and budget serve their own prompts only"
)


@dataclass(frozen=True, slots=True)
class PromptInfo:
    server: str
    name: str
    description: str
    arguments: tuple[tuple[str, bool, str], ...]  # (name, required, description)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    server: str
    uri: str
    name: str
    description: str
    mime_type: str


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """Something a server did that the person may want to know (progress is for tests and
    logs; /mcp shows list changes; a turn shows crashes and errors)."""

    kind: EventKind
    text: str


@dataclass(slots=True)
class Listing:
    tools: list[McpTool] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "tool: why it is left out"
    prompts: list[PromptInfo] = field(default_factory=list)
    resources: list[ResourceInfo] = field(default_factory=list)


class Connection:
    def __init__(
        self,
        cfg: ServerConfig,
        *,
        cwd: Path,
        env: Mapping[str, str],
        limits: McpLimits,
        on_change: Callable[[Connection], None],
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._cwd = cwd
        self._env = env
        self._limits = limits
        self._on_change = on_change
        # Set while the server is up or has failed; clear while it starts or restarts. The
        # status setter keeps it in step, so a waiter never polls.
        self._settled = asyncio.Event()
        self._status: Status = "pending"
        self.error = ""
        self.listing = Listing()
        self.server_version = ""
        self.restarts = 0
        self.events: list[ServerEvent] = []
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lifetime_over = asyncio.Event()
        self._stderr = StderrLog(cfg.name)
        self._spent = 0.0
        self._relisting: set[asyncio.Task[None]] = set()
        from coda.mcp.cache import cache_path, load_tools

        self._cache_path = cache_path(cfg, env, cwd)
        self._cached = load_tools(self._cache_path)
        if self._cached is not None:
            self.listing.tools = [self._tool(raw) for raw in self._cached]

    @property
    def status(self) -> Status:
        return self._status

    @status.setter
    def status(self, value: Status) -> None:
        self._status = value
        if value in _UNSETTLED:
            self._settled.clear()
        else:
            self._settled.set()

    @property
    def cached(self) -> bool:
        """Whether the tools on offer come from the last run's list (not yet confirmed)."""
        return self._cached is not None and self.status in ("pending", "connecting")

    # -- lifecycle -----------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self, *, spent: float = 0.0) -> None:
        """`spent`: seconds of the startup budget already used (importing the SDK), so
        MCP_TIMEOUT counts from when the session asked for the server."""
        if self._task is None:
            self._spent = spent
            self._task = asyncio.create_task(self._run(), name=f"mcp:{self.name}")

    async def wait_ready(self) -> None:
        """Until the server is up or has failed (a restart counts as starting)."""
        await self._settled.wait()

    @property
    def ready(self) -> bool:
        return self._settled.is_set()

    async def aclose(self) -> None:
        self._stop.set()
        self._lifetime_over.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except (TimeoutError, asyncio.CancelledError, Exception):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        self.status = "stopped" if self.status == "connected" else self.status
        self._stderr.close()

    async def _run(self) -> None:
        while not self._stop.is_set():
            crashed = await self._lifetime()
            if self._stop.is_set() or not crashed:
                break
            if self.restarts >= 1:
                self.status, self.error = (
                    "failed",
                    f"crashed again after a restart{self._tail_note()}",
                )
                self._event("crash", f"{self.name} crashed again; it is not restarted again")
                break
            self.restarts += 1
            self._event("crash", f"{self.name} crashed{self._tail_note()}; restarting it once")
        if self.status in _UNSETTLED:
            self.status = "stopped"  # stopped while starting
        self._client = None
        self._on_change(self)

    def _event(self, kind: EventKind, text: str) -> None:
        self.events.append(ServerEvent(kind, text))
        del self.events[:-MAX_EVENTS]  # progress arrives often; only the recent ones matter

    async def _lifetime(self) -> bool:
        """One run of the server, in its own task so a startup timer can cancel it.
        True if it crashed after connecting."""
        self.status = "connecting"
        self._lifetime_over = asyncio.Event()
        life = asyncio.create_task(self._connected_life())
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if self.status == "connecting":
                timed_out = True
                # Said now: stopping the process may take the SDK a few seconds more.
                self._fail(self._timeout_text())
                self._on_change(self)
                life.cancel()

        budget = max(0.1, self._limits.startup_s - self._spent)
        self._spent = 0.0  # a restart gets the whole budget
        timer = asyncio.get_running_loop().call_later(budget, expire)
        try:
            return await life
        except asyncio.CancelledError:
            if not timed_out:
                raise
            self._fail(self._timeout_text())
            return False
        finally:
            timer.cancel()
            self._client = None

    async def _connected_life(self) -> bool:
        # anyio needs the SDK's contexts entered and left in this one task, with no cancel
        # scope of ours around only part of them: the startup timer cancels the task instead.
        connected = False
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await self._connect(stack)
                self._client = client
                await self._refresh(client)
                self.status, self.error = "connected", ""
                connected = True
                info = getattr(client, "server_info", None)
                self.server_version = f"{info.name} {info.version}" if info else ""
                self._on_change(self)
                await self._lifetime_over.wait()
                self._client = None
        except Exception as exc:  # any failure of a server is its own, never the session's
            if not connected:
                self._fail(_describe_error(exc), needs_login=self._needs_login(exc))
        except BaseExceptionGroup as group:
            if not connected:
                self._fail(_describe_error(group), needs_login=self._needs_login(group))
        return connected and not self._stop.is_set()

    def _needs_login(self, exc: BaseException) -> bool:
        if self.cfg.transport == "stdio":
            return False
        from coda.mcp.oauth import LoginRequired

        return find_error(exc, LoginRequired) is not None

    def _timeout_text(self) -> str:
        return f"did not finish starting within {self._limits.startup_s:g} s (MCP_TIMEOUT)"

    def give_up(self, why: str) -> None:
        """Fail before starting (the SDK itself is missing)."""
        self.status, self.error = "failed", why

    def _fail(self, why: str, *, needs_login: bool = False) -> None:
        self.status = "needs-auth" if needs_login else "failed"
        self.error = why + self._tail_note()
        self.listing = Listing()

    async def _connect(self, stack: contextlib.AsyncExitStack) -> Any:
        from mcp.client import ClientRequestContext

        from mcp import Client, types

        async def refuse_sampling(
            context: ClientRequestContext, params: types.CreateMessageRequestParams
        ) -> types.ErrorData:
            return types.ErrorData(code=types.INVALID_REQUEST, message=SAMPLING_REFUSAL)

        client = Client(
            open_transport(self.cfg, self._env, self._cwd, self._stderr),
            mode="legacy",  # every server released so far speaks the initialize handshake
            message_handler=self._on_message,
            sampling_callback=refuse_sampling,
            client_info=types.Implementation(name="coda", version=_version()),
            # Startup has its own timer and each tool call its own limit (MCP_TOOL_TIMEOUT).
            read_timeout_seconds=None,
            cache=None,  # lists are refreshed on list_changed, never served stale
        )
        return await stack.enter_async_context(client)

    async def _refresh(self, client: Any) -> None:
        """List tools, prompts and resources (each only if the server offers it)."""
        caps = client.server_capabilities
        listing = Listing()
        if caps.tools is not None:
            await self._list_tools(client, listing)
        if caps.prompts is not None:
            await self._list_prompts(client, listing)
        if caps.resources is not None:
            await self._list_resources(client, listing)
        self.listing = listing

    async def _list_tools(self, client: Any, listing: Listing) -> None:
        raws: list[dict[str, Any]] = []
        cursor = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                schema, why = clean_schema(tool.input_schema)
                if schema is None:
                    listing.skipped.append(f"{tool.name}: {why}")
                    continue
                hints = tool.annotations
                raws.append(
                    {
                        "name": tool.name,
                        "description": describe(self.name, tool.description, tool.title),
                        "input_schema": schema,
                        "read_only": bool(hints and hints.read_only_hint),
                    }
                )
            cursor = page.next_cursor
            if cursor is None:
                break
        listing.tools = [self._tool(raw) for raw in raws]
        if raws != self._cached:
            from coda.mcp.cache import save_tools

            save_tools(self._cache_path, raws)
        self._cached = raws

    def _tool(self, raw: dict[str, Any]) -> McpTool:
        return McpTool(
            name=tool_name(self.name, str(raw["name"])),
            description=str(raw.get("description", "")),
            input_schema=dict(raw.get("input_schema") or {"type": "object", "properties": {}}),
            server=self.name,
            remote_name=str(raw["name"]),
            call=self.call_tool,
            read_only_hint=bool(raw.get("read_only")),
        )

    async def _list_prompts(self, client: Any, listing: Listing) -> None:
        with contextlib.suppress(Exception):  # a server may advertise what it cannot list
            page = await client.list_prompts()
            for p in page.prompts:
                args = tuple(
                    (a.name, bool(a.required), a.description or "") for a in p.arguments or ()
                )
                listing.prompts.append(PromptInfo(self.name, p.name, p.description or "", args))

    async def _list_resources(self, client: Any, listing: Listing) -> None:
        with contextlib.suppress(Exception):
            page = await client.list_resources()
            for r in page.resources:
                listing.resources.append(
                    ResourceInfo(
                        self.name, str(r.uri), r.name, r.description or "", r.mime_type or ""
                    )
                )

    async def _on_message(self, message: Any) -> None:
        method = getattr(message, "method", "")
        if method.endswith("/list_changed") and self._client is not None:
            # In a task of its own: the listing is a request whose answer this very
            # receive loop must deliver. A call that is running waits for it (see below).
            task = asyncio.create_task(self._relist(self._client, method))
            self._relisting.add(task)
            task.add_done_callback(self._relisting.discard)

    async def _relist(self, client: Any, method: str) -> None:
        try:
            await self._refresh(client)
        except Exception as exc:
            self._event("error", f"{self.name}: refreshing its lists failed: {exc}")
            return
        self._event("list", f"{self.name}: {method.split('/')[1]} list changed")
        self._on_change(self)

    async def _relisted(self) -> None:
        """A call that changed the server's lists returns once they are fetched again, so
        the next request already offers the new tools."""
        if self._relisting:
            await asyncio.wait(set(self._relisting), timeout=self._limits.startup_s)

    # -- calls -----------------------------------------------------------------------

    async def call_tool(self, remote: str, args: JsonObject) -> ToolOutput:
        await self._until_settled()
        client = self._client
        if client is None:
            return ToolOutput.text(self._unavailable(), is_error=True)
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        from mcp import MCPError

        try:
            result = await client.call_tool(
                remote,
                args,
                read_timeout_seconds=self._limits.call_s,
                progress_callback=self._progress,
            )
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                return ToolOutput.text(
                    f"{self.name} did not answer {remote} within {self._limits.call_s:g} s "
                    "(MCP_TOOL_TIMEOUT); the call was cancelled. Try a smaller request, or "
                    "raise MCP_TOOL_TIMEOUT.",
                    is_error=True,
                )
            if exc.code == CONNECTION_CLOSED:
                return await self._crashed(remote)
            return ToolOutput.text(f"{self.name} refused {remote}: {exc}", is_error=True)
        except Exception as exc:
            if self.cfg.transport == "stdio" and not self._alive():
                return await self._crashed(remote)
            return ToolOutput.text(
                f"{self.name} failed on {remote}: {_describe_error(exc)}", is_error=True
            )
        await self._relisted()
        return convert_result(result, server=self.name, max_tokens=self._limits.max_output_tokens)

    async def _until_settled(self) -> None:
        """A call made while the server starts (or restarts) waits for it, up to MCP_TIMEOUT."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), self._limits.startup_s + 1)

    async def _progress(self, progress: float, total: float | None, message: str | None) -> None:
        done = f"{progress:g}/{total:g}" if total else f"{progress:g}"
        self._event(
            "progress", f"{self.name}: progress {done}" + (f" {message}" if message else "")
        )

    async def _crashed(self, remote: str) -> ToolOutput:
        tail = self._tail_note()
        # A stdio server is started again; a remote one is connected to again, once either way.
        restart = self.restarts == 0
        # Said at once: a call made meanwhile waits for the restart instead of failing.
        self.status = "connecting" if restart else "failed"
        self._lifetime_over.set()
        then = (
            "coda is restarting it once; call the tool again if repeating it is safe."
            if restart
            else "It will not be restarted again: carry on without it."
        )
        return ToolOutput.text(
            f"The MCP server {self.name} stopped while running {remote}{tail}. {then}",
            is_error=True,
        )

    def _alive(self) -> bool:
        return self._client is not None and not self._lifetime_over.is_set()

    def _unavailable(self) -> str:
        if self.status in ("pending", "connecting"):
            return f"the MCP server {self.name} is still starting; try again in a moment"
        return f"the MCP server {self.name} is not connected ({self.status}: {self.error})"

    async def read_resource(self, uri: str) -> list[Any]:
        await self._until_settled()
        client = self._client
        if client is None:
            raise RuntimeError(self._unavailable())
        result = await client.read_resource(uri)
        return list(result.contents)

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> list[Any]:
        await self._until_settled()
        client = self._client
        if client is None:
            raise RuntimeError(self._unavailable())
        result = await client.get_prompt(name, arguments)
        return list(result.messages)

    def _tail_note(self) -> str:
        return self._stderr.note()


def _describe_error(exc: BaseException) -> str:
    """The innermost useful message: anyio wraps failures in exception groups."""
    exc = innermost(exc)
    if isinstance(exc, FileNotFoundError):
        return f"its command was not found ({exc.filename or exc})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, RuntimeError) else text


def _version() -> str:
    from coda import __version__

    return __version__
