"""The MCP servers of one session: which may start, starting them together, and what they offer.

Built without the SDK (so wiring stays cheap); the SDK is first imported when `start()`
runs in the event loop, in a thread, while the rest of the first request is prepared.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coda.mcp.client import Connection, EventKind, PromptInfo, ResourceInfo, ServerEvent
from coda.mcp.config import McpLimits, ServerConfig
from coda.mcp.store import approvals, set_approval
from coda.mcp.tools import McpTool


@dataclass(frozen=True, slots=True)
class ServerStatus:
    name: str
    scope: str
    transport: str
    status: str  # connected, connecting, failed, needs-auth, needs-approval, rejected, config-error
    detail: str  # the error, or what the server offers
    tools: int = 0
    prompts: int = 0
    resources: int = 0


def import_sdk() -> None:
    """The SDK's import takes most of a second: done in a thread, off the event loop."""
    import mcp.client.stdio
    import mcp.client.streamable_http  # noqa: F401


def _quiet_import() -> None:
    # A failure shows when the servers start (import_sdk runs again there and raises).
    with contextlib.suppress(Exception):
        import_sdk()


class McpManager:
    def __init__(
        self,
        servers: list[ServerConfig],
        *,
        cwd: Path,
        env: Mapping[str, str],
        limits: McpLimits,
        settings_decide: Callable[[str], bool | None] | None = None,
    ) -> None:
        self._cwd = cwd
        # Settings (enableAllProjectMcpServers, enabled/disabledMcpjsonServers) come first,
        # then this project's answers, read once and kept in step by decide().
        self._settings_decide = settings_decide
        self._approvals = approvals(cwd, env)
        self._env = env
        self.limits = limits
        self.configs = {s.name: s for s in servers}
        self.connections: dict[str, Connection] = {}
        # Called (in the loop) whenever the tools on offer change.
        self.on_tools_changed: Callable[[], None] | None = None
        self._started = False
        self._import: asyncio.Future[None] | None = None
        self._preload: threading.Thread | None = None
        self._starting: set[asyncio.Future[None]] = set()
        for cfg in servers:
            if self._may_start(cfg):
                self._connect(cfg)  # not started yet: it offers its cached tools, if any

    def all_cached(self) -> bool:
        """Whether every server about to start has a tool list from an earlier run, so the
        first request need not wait for any of them."""
        return all(c.cached for c in self.connections.values())

    def preload(self) -> None:
        """Begin importing the SDK now, in a thread, if a server must be waited for."""
        if self._preload is None and self.connections and not self.all_cached():
            self._preload = threading.Thread(target=_quiet_import, name="mcp-import", daemon=True)
            self._preload.start()

    # -- which servers may start ---------------------------------------------------------

    def awaiting_approval(self) -> list[ServerConfig]:
        """Project servers (from .mcp.json) nobody has said yes or no to in this project."""
        return [
            s
            for s in self.configs.values()
            if s.scope == "project"
            and s.error is None
            and s.name not in self.connections
            and self._decision(s.name) is None
        ]

    def _decision(self, name: str) -> bool | None:
        if self._settings_decide is not None:
            decided = self._settings_decide(name)
            if decided is not None:
                return decided
        return self._approvals.get(name)

    def _may_start(self, cfg: ServerConfig) -> bool:
        if cfg.error is not None:
            return False
        if cfg.scope == "project":
            return self._decision(cfg.name) is True
        return True

    def decide(self, names: list[str], approved: bool) -> None:
        """The person's answer for project servers: remembered for this project."""
        set_approval(self._cwd, self._env, names, approved)
        self._approvals.update(dict.fromkeys(names, approved))
        if approved and self._started:
            self._launch([self.configs[n] for n in names if n in self.configs])

    # -- running ---------------------------------------------------------------------

    def launch_all(self) -> None:
        """Start every configured server, approved or not (for `coda mcp list`)."""
        self._started = True
        self._launch([c for c in self.configs.values() if c.error is None])

    def start(self) -> None:
        """Start every server that may start (in the running loop); safe to call again."""
        if self._started:
            return
        self._started = True
        self._launch([c for c in self.configs.values() if self._may_start(c)])

    def _connect(self, cfg: ServerConfig) -> Connection:
        conn = self.connections.get(cfg.name)
        if conn is None:
            conn = Connection(
                cfg,
                cwd=self._cwd,
                env=self._env,
                limits=self.limits,
                on_change=self._changed,
            )
            self.connections[cfg.name] = conn
        return conn

    def _launch(self, configs: list[ServerConfig]) -> None:
        fresh = [c for c in configs if not self._connect(c).started]
        if not fresh:
            return
        if self._import is None:
            preload = self._preload
            job = preload.join if preload is not None else import_sdk
            self._import = asyncio.ensure_future(asyncio.to_thread(job))
        for cfg in fresh:
            conn = self._connect(cfg)
            task = asyncio.ensure_future(self._start_after_import(conn))
            self._starting.add(task)  # a reference, so the task is not collected early
            task.add_done_callback(self._starting.discard)

    async def _start_after_import(self, conn: Connection) -> None:
        asked = asyncio.get_running_loop().time()
        if self._import is not None:
            try:
                await self._import
            except Exception as exc:  # the SDK itself is broken: every server says so
                conn.give_up(f"the mcp SDK could not be imported: {exc}")
                return
        conn.start(spent=asyncio.get_running_loop().time() - asked)

    async def reconnect(self, name: str) -> None:
        """Stop the server (if it runs) and start it afresh, with a new restart allowance:
        after a crash, a login, or a fix to its environment."""
        cfg = self.configs.get(name)
        if cfg is None or not self._may_start(cfg):
            raise KeyError(f"no startable MCP server named {name!r}")
        old = self.connections.pop(name, None)
        if old is not None:
            await old.aclose()
        self._launch([cfg])
        await self.connections[name].wait_ready()
        self._changed(self.connections[name])

    async def wait_ready(self) -> None:
        """Until every started server is connected or has failed (each has its own startup
        timeout, so this ends)."""
        self.start()
        pending = [c.wait_ready() for c in self.connections.values() if not c.ready]
        if pending:
            # A little over the startup timeout: a connection's own timer ends it first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), timeout=self.limits.startup_s + 5)

    @property
    def starting(self) -> list[str]:
        return [n for n, c in self.connections.items() if not c.ready]

    def _changed(self, _conn: Connection) -> None:
        if self.on_tools_changed is not None:
            self.on_tools_changed()

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self.connections.values()))

    # -- what the servers offer ------------------------------------------------------

    def tools(self) -> list[McpTool]:
        """Connected servers' tools, by server then tool name: a stable order keeps the
        request prefix cached."""
        out: list[McpTool] = []
        for name in sorted(self.connections):
            conn = self.connections[name]
            if conn.status == "connected" or conn.cached:
                out.extend(sorted(conn.listing.tools, key=lambda t: t.name))
        return out

    def prompts(self) -> list[PromptInfo]:
        return [p for c in self._connected() for p in c.listing.prompts]

    def resources(self) -> list[ResourceInfo]:
        return [r for c in self._connected() for r in c.listing.resources]

    def _connected(self) -> list[Connection]:
        return [
            self.connections[n]
            for n in sorted(self.connections)
            if self.connections[n].status == "connected"
        ]

    async def read_resource(self, server: str, uri: str) -> list[Any]:
        return await self._connection(server).read_resource(uri)

    async def get_prompt(self, server: str, name: str, arguments: dict[str, str]) -> list[Any]:
        return await self._connection(server).get_prompt(name, arguments)

    def _connection(self, server: str) -> Connection:
        conn = self.connections.get(server)
        if conn is None:
            known = ", ".join(sorted(self.connections)) or "none"
            raise KeyError(f"no MCP server named {server!r} is running (running: {known})")
        return conn

    def events(self, *kinds: EventKind) -> list[ServerEvent]:
        """The servers' events of these kinds (crashes, errors and list changes when none are
        named), taken out so each is told once."""
        wanted = kinds or ("crash", "error", "list")
        out: list[ServerEvent] = []
        for conn in self.connections.values():
            out.extend(e for e in conn.events if e.kind in wanted)
            conn.events[:] = [e for e in conn.events if e.kind not in wanted]
        return out

    def statuses(self) -> list[ServerStatus]:
        return [self._status(self.configs[name]) for name in sorted(self.configs)]

    def _status(self, cfg: ServerConfig) -> ServerStatus:
        name, conn = cfg.name, self.connections.get(cfg.name)
        if cfg.error is not None:
            return ServerStatus(name, cfg.scope, cfg.transport, "config-error", cfg.error)
        if conn is None:
            decided = self._decision(name) if cfg.scope == "project" else True
            if decided is None:
                why = f"a project server (.mcp.json) not approved yet: `coda mcp approve {name}`"
                return ServerStatus(name, cfg.scope, cfg.transport, "needs-approval", why)
            if decided is False:
                why = f"rejected for this project (`coda mcp approve {name}` to use it)"
                return ServerStatus(name, cfg.scope, cfg.transport, "rejected", why)
            return ServerStatus(name, cfg.scope, cfg.transport, "not started", "")
        listing, detail = conn.listing, conn.error
        if conn.status == "connected":
            detail = conn.server_version
            if listing.skipped:
                detail += "; left out: " + "; ".join(listing.skipped)
        return ServerStatus(
            name,
            cfg.scope,
            cfg.transport,
            conn.status,
            detail,
            tools=len(listing.tools),
            prompts=len(listing.prompts),
            resources=len(listing.resources),
        )


def probe(servers: list[ServerConfig], env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """`coda mcp list`'s health check: start each server, list it, stop it."""
    from coda.mcp.config import limits

    async def run() -> dict[str, str]:
        manager = McpManager(servers, cwd=cwd, env=env, limits=limits(env))
        manager.launch_all()  # approval is the caller's business: every server here is probed
        try:
            await manager.wait_ready()
            out: dict[str, str] = {}
            for status in manager.statuses():
                if status.status == "connected":
                    out[status.name] = f"connected ({status.tools} tools)"
                else:
                    first = status.detail.splitlines()[0] if status.detail else ""
                    out[status.name] = f"{status.status}: {first}".rstrip(": ")
            return out
        finally:
            await manager.aclose()

    return asyncio.run(run())
