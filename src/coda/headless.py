"""`coda -p`: one unattended run, wired from flags and environment, reported for scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from coda.agent import TurnResult
from coda.config import SettingsError
from coda.permissions.policy import DecisionRecord
from coda.permissions.prompter import NeverAsk
from coda.providers.base import ConfigurationError
from coda.ui.headless import HeadlessWriter, OutputFormat, RunSummary
from coda.wiring import RunOptions, Wired, wire_session


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
    writer.init(
        model=setup.choice.model_id,
        tools=[t.name for t in wired.tools],
        cwd=str(cwd),
        permission_mode=wired.policy.config.mode,
    )
    result = asyncio.run(_run(wired, opts.prompt))
    for note in session.notices:
        writer.notice(note)
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


async def _run(wired: Wired, prompt: str) -> TurnResult:
    try:
        return await wired.session.submit(prompt)
    finally:
        if wired.session.log is not None:
            wired.session.log.close()
        # Background jobs and the shell end with the session, even on Ctrl-C.
        await wired.session.tool_ctx.aclose()
        await wired.setup.provider.aclose()
