"""Building a session from flags, settings and environment; shared by `-p` and the terminal UI."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from coda.agent import Agent, Observer, TurnConfig
from coda.permissions.base import Mode, Prompter
from coda.permissions.paths import Workspace
from coda.permissions.policy import DecisionRecord, PolicyConfig, RulePolicy
from coda.permissions.rules import Rule, RuleError, parse_rule
from coda.providers.base import ConfigurationError
from coda.providers.catalog import ModelInfo, cost_breakdown, cost_usd
from coda.providers.factory import ProviderSetup, build_provider
from coda.resume import ResumeRequest, attach_transcript
from coda.session import CompactSettings, ModelLimits, Session
from coda.settings import Settings, load_settings, save_local_rule
from coda.system_prompt import build_system_prompt
from coda.toolrun import ToolRunner
from coda.tools.base import Tool, ToolContext
from coda.tools.registry import ToolRegistry, builtin_tools
from coda.usage import Totals

if TYPE_CHECKING:
    from coda.mcp.manager import McpManager
    from coda.memory import Memory

DEFAULT_MAX_TOKENS = 32_000
UNKNOWN_MODEL_MAX_TOKENS = 8_192


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the command line says about a run, before settings are applied."""

    model: str | None = None
    max_turns: int | None = None
    system_prompt: str | None = None
    append_system_prompt: str | None = None
    thinking_budget: int | None = None
    max_tokens: int | None = None
    allowed: tuple[str, ...] = ()
    disallowed: tuple[str, ...] = ()
    permission_mode: Mode | None = None
    settings: str | None = None
    sandbox: bool = False
    permission_prompt_tool: str | None = None
    # --continue / --resume ID / --fork-session
    resume: ResumeRequest = field(default_factory=ResumeRequest)
    max_budget_usd: float | None = None
    # --mcp-config (files or JSON text), --strict-mcp-config
    mcp_configs: tuple[str, ...] = ()
    strict_mcp_config: bool = False


@dataclass(slots=True)
class Wired:
    session: Session
    setup: ProviderSetup
    settings: Settings
    policy: RulePolicy
    tools: list[Tool]
    notices: list[str] = field(default_factory=list)
    memory: Memory | None = None
    registry: ToolRegistry = field(default_factory=ToolRegistry)
    mcp: McpManager | None = None
    # Tool names --disallowedTools removes (an `mcp__server` name removes all its tools).
    removed: frozenset[str] = frozenset()


def wire_session(
    opts: RunOptions,
    *,
    env: Mapping[str, str],
    cwd: Path,
    observer: Observer,
    prompter: Prompter,
    record: Callable[[DecisionRecord], None],
    headless: bool,
) -> Wired:
    """Everything a session needs. Raises ConfigurationError or SettingsError before any
    work starts, so coda never runs with a half-read policy."""
    settings = load_settings(cwd, env, cli_settings=opts.settings)
    merged_env = {**env, **settings.env}
    spec = opts.model or merged_env.get("CODA_MODEL") or settings.model
    setup = build_provider(spec, merged_env)
    notices = list(settings.warnings)
    mode = _mode(opts, settings)
    ctx = ToolContext(cwd=cwd)
    workspace = Workspace([cwd, *settings.permissions.additional_directories])
    sandboxed = _sandbox(opts, settings, ctx, workspace, notices)
    if mode == "bypassPermissions":
        _check_bypass(settings, sandboxed)
    mcp = _mcp(opts, cwd, merged_env, settings, notices, headless=headless)
    from coda.memory import NestedMemory, load_memory

    memory = load_memory(cwd, merged_env)
    notices.extend(memory.warnings)
    info = setup.choice.info
    if opts.max_budget_usd is not None and info is None:
        raise ConfigurationError(
            f"--max-budget-usd needs known prices, and {setup.choice.model_id} is not in "
            "coda's catalog: choose a catalogued model or drop the budget"
        )
    policy_config = PolicyConfig(
        mode=mode,
        memory_imports=list(memory.import_paths),
        workspace=workspace,
        allow=[*settings.permissions.allow, *_cli_rules(opts.allowed, cwd)],
        ask=list(settings.permissions.ask),
        deny=[*settings.permissions.deny, *_cli_rules(opts.disallowed, cwd)],
        sandboxed=sandboxed,
        auto_allow_sandboxed_bash=settings.sandbox.auto_allow_bash_if_sandboxed,
    )
    policy = RulePolicy(
        policy_config,
        ctx,
        prompter,
        record=record,
        save_rule=lambda rule: _save(cwd, rule, notices),
        headless=headless,
    )
    tools = _tools(opts, mode)
    registry = ToolRegistry(tools)
    totals = Totals(
        pricer=lambda _model, usage: cost_usd(info, usage),
        breakdown=lambda _model, usage: cost_breakdown(info, usage),
    )
    base = TurnConfig(
        model=setup.choice.model_id,
        system=_system_prompt(opts, cwd, settings, memory.render()),
        tools=registry.specs(),
        max_tokens=0,
        max_turns=opts.max_turns,
    )
    runner = ToolRunner(registry, policy, ctx)
    agent = Agent(setup.provider, runner, observer, totals)
    session = Session(
        agent,
        base,
        _limits(info, opts.max_tokens),
        totals,
        ctx,
        thinking_budget=_explicit_budget(opts, merged_env),
        compact_settings=CompactSettings(settings.auto_compact, settings.auto_compact_threshold),
        nested_memory=NestedMemory(cwd, merged_env, [f.path for f in memory.files]),
        max_budget_usd=opts.max_budget_usd,
    )
    notices += attach_transcript(
        session, opts.resume, env=env, cwd=cwd, model=setup.choice.model_id
    )
    _checkpoints(session, settings, merged_env, cwd, notices)
    wired = Wired(session, setup, settings, policy, tools, notices, memory, registry, mcp)
    wired.removed = _removed(opts)
    if mcp is not None:
        ctx.resources["mcp"] = mcp  # its servers stop with the session
        bind_mcp(wired, mcp)
        if opts.permission_prompt_tool:
            from coda.mcp.prompter import McpPrompter

            policy.prompter = McpPrompter(mcp, opts.permission_prompt_tool)
    elif opts.permission_prompt_tool:
        raise ConfigurationError(
            f"--permission-prompt-tool {opts.permission_prompt_tool} names an MCP tool, and no "
            "MCP server is configured: add one with --mcp-config or `coda mcp add`"
        )
    return wired


def _mcp(
    opts: RunOptions,
    cwd: Path,
    env: Mapping[str, str],
    settings: Settings,
    notices: list[str],
    *,
    headless: bool,
) -> McpManager | None:
    """The session's MCP servers, or None (and no SDK import) when none is configured."""
    from coda.mcp.config import has_servers

    if not has_servers(cwd, env, opts.mcp_configs):
        return None
    from coda.mcp.config import limits, load_servers
    from coda.mcp.manager import McpManager

    found = load_servers(cwd, env, cli_configs=opts.mcp_configs, strict=opts.strict_mcp_config)
    notices.extend(found.warnings)
    manager = McpManager(
        found.servers,
        cwd=cwd,
        env=env,
        limits=limits(env),
        settings_decide=settings.mcp_approval.decide,
    )
    manager.preload()  # the SDK imports in a thread while the rest of the session is built
    if headless:
        for cfg in manager.awaiting_approval():
            notices.append(
                f"the MCP server {cfg.name} from {cfg.source} is not started: project servers "
                f"need approval first. Run `coda mcp approve {cfg.name}` (or start coda "
                "interactively and choose), or pass the file with --mcp-config"
            )
    for cfg in found.servers:
        if cfg.error is not None:
            notices.append(f"the MCP server {cfg.name} is not started: {cfg.error}")
    return manager


def carry_over(old: Wired, new: Wired) -> None:
    """A rebuilt session (another model, plan mode, /resume) keeps the rules added so far,
    what the tools know (files read, todos, fetched pages) and what they run (the shell,
    background jobs, the MCP servers)."""
    config, old_config = new.policy.config, old.policy.config
    config.allow, config.ask, config.deny = old_config.allow, old_config.ask, old_config.deny
    ctx, old_ctx = new.session.tool_ctx, old.session.tool_ctx
    ctx.read_files = old_ctx.read_files
    ctx.todos[:] = old_ctx.todos
    ctx.web_cache = old_ctx.web_cache
    for name in ("shell", "jobs", "mcp"):
        if name in old_ctx.resources:
            ctx.resources[name] = old_ctx.resources.pop(name)
    if old.mcp is not None:
        bind_mcp(new, old.mcp)  # the running servers carry over; new's unstarted ones go


async def release(wired: Wired) -> None:
    """End what a session started: its tools' processes (shell, jobs, MCP servers) and the
    provider's connections. Safe to call twice; a failure while closing is not raised."""
    with contextlib.suppress(Exception):
        await wired.session.tool_ctx.aclose()
    with contextlib.suppress(Exception):
        await wired.setup.provider.aclose()


def bind_mcp(wired: Wired, manager: McpManager) -> None:
    """Offer the servers' tools in this session, now and whenever they change."""
    from dataclasses import replace

    def kept(name: str) -> bool:
        return not any(name == r or name.startswith(f"{r}__") for r in wired.removed)

    def changed() -> None:
        wired.registry.set_group("mcp__", [t for t in manager.tools() if kept(t.name)])
        wired.session.base = replace(wired.session.base, tools=wired.registry.specs())

    wired.mcp = manager
    manager.on_tools_changed = changed
    changed()


def _checkpoints(
    session: Session, settings: Settings, env: Mapping[str, str], cwd: Path, notices: list[str]
) -> None:
    if not settings.checkpoints or env.get("CODA_CHECKPOINTS") == "0":
        return
    home = Path(env.get("HOME") or Path.home())
    if cwd.resolve() in (home.resolve(), Path("/")):
        notices.append(
            f"checkpoints are off in {cwd}: snapshotting a whole home or root directory is "
            "too slow. Start coda in a project directory to be able to rewind file changes"
        )
        return
    from coda.checkpoints import Checkpoints
    from coda.transcript.store import project_dir

    session.checkpoints = Checkpoints(
        cwd, project_dir(env, cwd) / "shadow.git", session_id=session.session_id, timeout=15.0
    )
    session.tool_ctx.before_write = session.preserve_outside


def _mode(opts: RunOptions, settings: Settings) -> Mode:
    return opts.permission_mode or settings.permissions.default_mode or "default"


def _check_bypass(settings: Settings, sandboxed: bool) -> None:
    if settings.permissions.disable_bypass_mode:
        raise ConfigurationError("bypassPermissions mode is disabled by settings")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not sandboxed:
        raise ConfigurationError(
            "--dangerously-skip-permissions is refused as root unless the sandbox is on: "
            "add --sandbox (bubblewrap) or run as an ordinary user"
        )


def _sandbox(
    opts: RunOptions, settings: Settings, ctx: ToolContext, workspace: Workspace, notices: list[str]
) -> bool:
    if not (opts.sandbox or settings.sandbox.enabled):
        return False
    from coda.permissions.sandbox import BubblewrapSandbox

    problem = BubblewrapSandbox.check()
    if problem is not None:
        notices.append(f"the sandbox is unavailable ({problem}); every Bash command will ask")
        return False
    deny_read = [
        Path(rule.spec[1:])
        for rule in settings.permissions.deny
        if rule.tool == "Read" and rule.spec and rule.spec.startswith("//") and "*" not in rule.spec
    ]
    sandbox = BubblewrapSandbox(
        workspace=list(workspace.roots),
        protected=[],
        deny_read=deny_read,
        allowed_domains=list(settings.sandbox.allowed_domains),
    )
    ctx.sandbox = sandbox
    # Registered before the shell and jobs exist, so it is closed after them (LIFO).
    ctx.resources["sandbox"] = sandbox
    return True


def _cli_rules(texts: tuple[str, ...], cwd: Path) -> list[Rule]:
    try:
        return [parse_rule(text, source=None, base=cwd) for text in texts]
    except RuleError as exc:
        raise ConfigurationError(f"bad rule on the command line: {exc}") from exc


def _save(cwd: Path, rule: str, notices: list[str]) -> None:
    path = save_local_rule(cwd, rule)
    notices.append(f"saved {rule} to {path}")


def _removed(opts: RunOptions) -> frozenset[str]:
    # A bare tool name in --disallowedTools removes the tool; a narrower rule only denies.
    return frozenset(text for text in opts.disallowed if "(" not in text)


def _tools(opts: RunOptions, mode: Mode) -> list[Tool]:
    removed = _removed(opts)
    tools = [t for t in builtin_tools() if t.name not in removed]
    if mode == "plan":
        from coda.tools.exit_plan_mode import ExitPlanModeTool

        tools.append(ExitPlanModeTool())
    return tools


def _limits(info: ModelInfo | None, max_tokens: int | None) -> ModelLimits:
    if info is None:
        return ModelLimits(max_tokens or UNKNOWN_MODEL_MAX_TOKENS, None, True, False)
    return ModelLimits(
        max_tokens or min(info.max_output, DEFAULT_MAX_TOKENS),
        info.max_output,
        info.can_think,
        info.interleaved_thinking,
        adaptive=info.thinking_mode == "adaptive",
        context_window=info.context_window,
    )


def _explicit_budget(opts: RunOptions, env: Mapping[str, str]) -> int | None:
    if opts.thinking_budget is not None:
        return opts.thinking_budget
    raw = env.get("MAX_THINKING_TOKENS")
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"MAX_THINKING_TOKENS must be a number, got {raw!r}") from None


def _system_prompt(opts: RunOptions, cwd: Path, settings: Settings, memory: str) -> str:
    """The base prompt, then the memory files, then appended text. All of it is fixed for
    the session, so the whole system prompt stays one cached prefix."""
    if opts.system_prompt is not None:
        system = opts.system_prompt
    else:
        system = build_system_prompt(cwd, co_authored_by=settings.include_co_authored_by)
    for extra in (memory, opts.append_system_prompt):
        if extra:
            system = system.rstrip("\n") + "\n\n" + extra
    return system


def refresh_memory(wired: Wired, opts: RunOptions, *, env: Mapping[str, str], cwd: Path) -> None:
    """Read the memory files again (after /memory edited one): the system prompt changes,
    so the next request writes a new cache entry once."""
    from dataclasses import replace

    from coda.memory import load_memory

    memory = load_memory(cwd, {**env, **wired.settings.env})
    wired.memory = memory
    session = wired.session
    system = _system_prompt(opts, cwd, wired.settings, memory.render())
    session.base = replace(session.base, system=system)
    wired.policy.config.memory_imports = list(memory.import_paths)
