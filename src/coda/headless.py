"""`coda -p`: one unattended run, wired from flags and environment, reported for scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from coda.agent import Agent, TurnConfig, TurnResult
from coda.config import SettingsError, co_authored_by, merged_settings, model_setting
from coda.permissions.headless import ToolNamePolicy
from coda.providers.base import ConfigurationError, ToolSpec
from coda.providers.catalog import ModelInfo, cost_usd
from coda.providers.factory import ProviderSetup, build_provider
from coda.session import ModelLimits, Session
from coda.system_prompt import build_system_prompt
from coda.toolrun import ToolRunner
from coda.tools.base import Tool, ToolContext
from coda.tools.registry import builtin_tools
from coda.ui.headless import HeadlessWriter, OutputFormat, RunSummary
from coda.usage import Totals

DEFAULT_MAX_TOKENS = 32_000
UNKNOWN_MODEL_MAX_TOKENS = 8_192


@dataclass(frozen=True, slots=True)
class HeadlessOptions:
    prompt: str
    output_format: OutputFormat = "text"
    model: str | None = None
    max_turns: int | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    thinking_budget: int | None = None
    max_tokens: int | None = None
    allowed: frozenset[str] = frozenset()
    disallowed: frozenset[str] = frozenset()
    verbose: bool = False


def _limits(info: ModelInfo | None, max_tokens: int | None) -> ModelLimits:
    if info is None:
        return ModelLimits(max_tokens or UNKNOWN_MODEL_MAX_TOKENS, None, True, False)
    default = min(info.max_output, DEFAULT_MAX_TOKENS)
    return ModelLimits(
        max_tokens or default,
        info.max_output,
        info.can_think,
        info.interleaved_thinking,
        adaptive=info.thinking_mode == "adaptive",
    )


def _explicit_budget(opts: HeadlessOptions, env: Mapping[str, str]) -> int | None:
    if opts.thinking_budget is not None:
        return opts.thinking_budget
    raw = env.get("MAX_THINKING_TOKENS")
    if raw:
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(f"MAX_THINKING_TOKENS must be a number, got {raw!r}") from None
    return None


def _system_prompt(opts: HeadlessOptions, cwd: Path, settings: dict[str, object]) -> str:
    if opts.system_prompt is not None:
        system = opts.system_prompt
    else:
        system = build_system_prompt(cwd, co_authored_by=co_authored_by(settings))
    if opts.append_system_prompt:
        system = system.rstrip("\n") + "\n\n" + opts.append_system_prompt
    return system


def run_headless(
    opts: HeadlessOptions, *, env: Mapping[str, str], cwd: Path, out: TextIO, err: TextIO
) -> int:
    started = time.perf_counter()
    try:
        settings = merged_settings(cwd, env)
        spec = opts.model or env.get("CODA_MODEL") or model_setting(settings)
        setup = build_provider(spec, env)
        budget = _explicit_budget(opts, env)
        system = _system_prompt(opts, cwd, settings)
    except (ConfigurationError, SettingsError) as exc:
        err.write(f"coda: {exc}\n")
        return 2
    tools = [t for t in builtin_tools() if t.name not in opts.disallowed]
    writer = HeadlessWriter(
        fmt=opts.output_format,
        out=out,
        err=err,
        session_id="",
        tty=out.isatty(),
        color=out.isatty() and "NO_COLOR" not in env,
        verbose=opts.verbose,
    )
    session = _build_session(opts, setup, tools, writer, cwd, budget, system)
    writer.session_id = session.session_id
    if setup.choice.info is None:
        writer.notice(
            f"model {setup.choice.model_id} is not in coda's catalog: its cost is unknown "
            "and will be reported as unknown"
        )
    writer.init(model=setup.choice.model_id, tools=[t.name for t in tools], cwd=str(cwd))
    result = asyncio.run(_run(session, setup, opts.prompt))
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
        usage=session.totals.usage.to_dict(),
        model=setup.choice.model_id,
    )
    writer.finish(summary)
    return 0 if result.subtype == "success" else 1


def _build_session(
    opts: HeadlessOptions,
    setup: ProviderSetup,
    tools: list[Tool],
    writer: HeadlessWriter,
    cwd: Path,
    budget: int | None,
    system: str,
) -> Session:
    info = setup.choice.info
    totals = Totals(pricer=lambda _model, usage: cost_usd(info, usage))
    tool_ctx = ToolContext(cwd=cwd)
    runner = ToolRunner(
        {t.name: t for t in tools},
        ToolNamePolicy(allowed=opts.allowed, disallowed=opts.disallowed),
        tool_ctx,
    )
    base = TurnConfig(
        model=setup.choice.model_id,
        system=system,
        tools=[ToolSpec(t.name, t.description, t.input_schema) for t in tools],
        max_tokens=0,
        max_turns=opts.max_turns,
    )
    agent = Agent(setup.provider, runner, writer, totals)
    limits = _limits(info, opts.max_tokens)
    return Session(agent, base, limits, totals, tool_ctx, thinking_budget=budget)


async def _run(session: Session, setup: ProviderSetup, prompt: str) -> TurnResult:
    try:
        return await session.submit(prompt)
    finally:
        # Background jobs and the shell end with the session, even on Ctrl-C.
        await session.tool_ctx.aclose()
        await setup.provider.aclose()
