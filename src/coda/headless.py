"""`coda -p`: one unattended run, wired from flags and environment, reported for scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coda.agent import TurnResult
from coda.config import SettingsError
from coda.permissions.policy import DecisionRecord
from coda.permissions.prompter import NeverAsk
from coda.providers.base import ConfigurationError
from coda.ui.headless import HeadlessWriter, OutputFormat, RunSummary
from coda.wiring import RunOptions, Wired, release, wire_session

if TYPE_CHECKING:
    from coda.mcp.manager import McpManager


@dataclass(frozen=True, slots=True)
class HeadlessOptions:
    prompt: str
    run: RunOptions
    output_format: OutputFormat = "text"
    verbose: bool = False


def run_headless(
    opts: HeadlessOptions, *, env: Mapping[str, str], cwd: Path, out: TextIO, err: TextIO
) -> int:
    started = time.perf_counter()
    writer = HeadlessWriter(
        fmt=opts.output_format,
        out=out,
        err=err,
        session_id="",
        tty=out.isatty(),
        color=out.isatty() and "NO_COLOR" not in env,
        verbose=opts.verbose,
    )
    decisions: list[DecisionRecord] = []

    def record(decision: DecisionRecord) -> None:
        decisions.append(decision)
        writer.permission(decision)

    try:
        wired = wire_session(
            opts.run,
            env=env,
            cwd=cwd,
            observer=writer,
            # An unattended run never waits for a person: what would ask is refused.
            prompter=NeverAsk(),
            record=record,
            headless=True,
        )
    except (ConfigurationError, SettingsError) as exc:
        err.write(f"coda: {exc}\n")
        return 2
    session, setup = wired.session, wired.setup
    writer.session_id = session.session_id
    for note in wired.notices:
        writer.notice(note)
    if setup.choice.info is None:
        writer.notice(
            f"model {setup.choice.model_id} is not in coda's catalog: its cost is unknown "
            "and will be reported as unknown"
        )
    try:
        result = asyncio.run(_run(wired, opts.prompt, writer, cwd))
    except ConfigurationError as exc:
        err.write(f"coda: {exc}\n")
        return 2
    for note in session.notices:
        writer.notice(note)
    if wired.mcp is not None:
        for event in wired.mcp.events("crash", "error"):
            writer.notice(event.text)
    summary = RunSummary(
        subtype=result.subtype,
        result=result.text if result.subtype == "success" else (result.error or result.text),
        session_id=session.session_id,
        is_error=result.subtype != "success",
        num_turns=result.num_turns,
        duration_ms=int((time.perf_counter() - started) * 1000),
        duration_api_ms=int(session.totals.api_seconds * 1000),
        total_cost_usd=session.totals.cost_usd,
        cost_by_kind=session.totals.cost_by_kind,
        usage=session.totals.usage.to_dict(),
        model=setup.choice.model_id,
        permission_denials=[
            {"tool_name": d.tool, "tool_input": d.input_summary, "reason": d.reason}
            for d in decisions
            if d.decision == "deny"
        ],
    )
    writer.finish(summary)
    return 0 if result.subtype == "success" else 1


async def _mcp_prompt(mcp: McpManager, prompt: str, writer: HeadlessWriter) -> str:
    """`/mcp__server__prompt ARGS` becomes that prompt's text; `@server:uri` attaches."""
    from coda.mcp.prompts import attach_resources, expand_prompt, find_prompt

    name, _, arg = prompt.strip().partition(" ")
    info = find_prompt(mcp, name) if name.startswith("/mcp__") else None
    if info is not None:
        try:
            prompt = await expand_prompt(mcp, info, arg.strip())
        except Exception as exc:  # a missing argument or a failing server
            raise ConfigurationError(f"{name}: {exc}") from exc
    expanded = await attach_resources(prompt, mcp)
    for problem in expanded.problems:
        writer.notice(problem)
    return expanded.prompt


async def _run(wired: Wired, prompt: str, writer: HeadlessWriter, cwd: Path) -> TurnResult:
    try:
        servers: list[dict[str, str]] = []
        if wired.mcp is not None:
            # The servers start now. The first request waits for them (up to MCP_TIMEOUT)
            # unless each one's tool list is known from an earlier run: then it goes at
            # once, and a call made before its server is up waits for it.
            wired.mcp.start()
            if not wired.mcp.all_cached() or prompt.lstrip().startswith("/mcp__"):
                await wired.mcp.wait_ready()
            for status in wired.mcp.statuses():
                servers.append({"name": status.name, "status": status.status})
                if status.status in ("failed", "needs-auth"):
                    writer.notice(f"MCP server {status.name} {status.status}: {status.detail}")
        writer.init(
            model=wired.setup.choice.model_id,
            tools=wired.registry.names(),
            cwd=str(cwd),
            permission_mode=wired.policy.config.mode,
            mcp_servers=servers,
        )
        if wired.mcp is not None:
            prompt = await _mcp_prompt(wired.mcp, prompt, writer)
        return await wired.session.submit(prompt)
    finally:
        if wired.session.log is not None:
            wired.session.log.close()
        # Background jobs, the shell and MCP servers end with the session, even on Ctrl-C.
        await release(wired)
