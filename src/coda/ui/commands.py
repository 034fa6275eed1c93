"""Slash commands: what each does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coda.ui.status import context_tokens, cost_report, money

if TYPE_CHECKING:
    from coda.permissions.base import Behavior
    from coda.ui.repl import Repl

Handler = Callable[["Repl", str], Awaitable[None]]
_BEHAVIORS: dict[str, Behavior] = {"allow": "allow", "ask": "ask", "deny": "deny"}


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler


async def _help(repl: Repl, arg: str) -> None:
    screen = repl.screen
    screen.text("Commands", "bold")
    for command in COMMANDS:
        screen.text(f"  {command.usage:<26} {command.help}")
    screen.text("Input", "bold")
    for keys, what in (
        ("enter", "send"),
        ("alt+enter, ctrl+j", "new line (a pasted block stays one message)"),
        ("esc, ctrl+c", "interrupt the running turn"),
        ("ctrl+c twice, ctrl+d", "exit"),
        ("shift+tab", "cycle the permission mode"),
        ("ctrl+o", "show the last thinking in full"),
        ("ctrl+r", "search the input history"),
        ("!command", "run a shell command; its output joins the conversation"),
        ("#note", "add a note to ./CODA.md"),
        ("@path", "attach a file (or a directory listing) to the message"),
    ):
        screen.text(f"  {keys:<26} {what}")


async def _clear(repl: Repl, arg: str) -> None:
    repl.new_conversation()
    repl.view.last_thinking = ""
    repl.screen.text("Started a new conversation (the cost so far still counts).", "green")


async def _compact(repl: Repl, arg: str) -> None:
    from coda.ui import session_commands

    await session_commands.compact(repl, arg)


async def _init(repl: Repl, arg: str) -> None:
    from coda.ui import session_commands

    await session_commands.init(repl, arg)


async def _memory(repl: Repl, arg: str) -> None:
    from coda.ui import session_commands

    await session_commands.memory(repl, arg)


async def _resume(repl: Repl, arg: str) -> None:
    from coda.ui import session_commands

    await session_commands.resume(repl, arg)


async def _rewind(repl: Repl, arg: str) -> None:
    from coda.ui import session_commands

    await session_commands.rewind(repl, arg)


async def _cost(repl: Repl, arg: str) -> None:
    for line in cost_report(repl.all_totals()):
        repl.screen.text(line)


async def _model(repl: Repl, arg: str) -> None:
    from coda.config import SettingsError
    from coda.providers.base import ConfigurationError

    screen = repl.screen
    if not arg:
        info = repl.wired.setup.choice.info
        screen.text(f"Model: {repl.model_id} ({repl.wired.setup.choice.provider})")
        if info is not None:
            screen.text(
                f"  context {info.context_window:,} tokens, output up to {info.max_output:,}, "
                f"${info.input_price}/${info.output_price} per million in/out"
            )
        screen.text("Switch with /model ID: an alias (sonnet, opus, haiku, fable), a catalog id,")
        screen.text("or provider/id (openai/gpt-4o, openai/qwen2.5-coder:7b).", "")
        return
    try:
        repl.rebuild(arg)
    except (ConfigurationError, SettingsError) as exc:
        screen.text(f"{repl.glyphs.error} {exc}", "red")
        return
    cost = "" if repl.wired.setup.choice.info else " (not in coda's catalog: cost unknown)"
    screen.text(f"{repl.glyphs.ok} Now using {repl.model_id}{cost}", "green")


async def _think(repl: Repl, arg: str) -> None:
    session, screen = repl.session, repl.screen
    word = arg.strip().lower()
    if not word:
        budget = session.thinking_budget
        if budget is None:
            state = 'from your words ("think", "think hard", "ultrathink")'
        elif budget <= 0:
            state = "off"
        else:
            state = f"{budget:,} tokens"
        screen.text(f"Thinking: {state}. Set with /think BUDGET, /think off or /think auto.")
        return
    if word == "off":
        session.thinking_budget = 0
    elif word == "auto":
        session.thinking_budget = None
    else:
        try:
            session.thinking_budget = int(word.replace(",", "").replace("_", ""))
        except ValueError:
            screen.text("usage: /think [BUDGET|off|auto], e.g. /think 8000", "red")
            return
    await _think(repl, "")
    if not session.limits.can_think and session.thinking_budget:
        screen.text(f"{repl.model_id} cannot think; the budget is ignored", "yellow")


async def _permissions(repl: Repl, arg: str) -> None:
    from coda.permissions.rules import RuleError, parse_rule
    from coda.settings import save_local_rule

    config, screen = repl.wired.policy.config, repl.screen
    verb, _, rule_text = arg.strip().partition(" ")
    behavior = _BEHAVIORS.get(verb)
    if behavior is not None and rule_text.strip():
        try:
            rule = parse_rule(rule_text.strip(), source=None, base=repl.cwd)
            path = save_local_rule(repl.cwd, rule.text, behavior)
        except (RuleError, ValueError, OSError) as exc:
            screen.text(f"{repl.glyphs.error} {exc}", "red")
            return
        {"allow": config.allow, "ask": config.ask, "deny": config.deny}[behavior].append(rule)
        screen.text(f"{repl.glyphs.ok} {verb} {rule.text} (saved in {path})", "green")
        return
    if verb == "remove" and rule_text.strip():
        target = rule_text.strip()
        removed = 0
        for rules in (config.allow, config.ask, config.deny):
            before = len(rules)
            rules[:] = [r for r in rules if r.text != target]
            removed += before - len(rules)
        note = "for this session; edit the settings file to remove it for good"
        screen.text(f"removed {removed} rule(s) {note}" if removed else f"no rule {target}")
        return
    if verb:
        screen.text("usage: /permissions [allow|ask|deny RULE | remove RULE]", "red")
        return
    screen.text(f"Mode: {config.mode} (shift+tab cycles)", "bold")
    for label, rules in (("Allow", config.allow), ("Ask", config.ask), ("Deny", config.deny)):
        screen.text(f"{label}:", "bold")
        if not rules:
            screen.text("  (none)", "dim")
        for rule in rules:
            source = f"  ({rule.source})" if rule.source else "  (command line or this session)"
            screen.text(f"  {rule.text}{source}")
    screen.text("Precedence: deny, then ask, then allow. Add: /permissions allow RULE", "dim")


async def _status(repl: Repl, arg: str) -> None:
    wired, screen = repl.wired, repl.screen
    config = wired.policy.config
    screen.text(f"Model:       {repl.model_id} ({wired.setup.choice.provider})")
    screen.text(f"Directory:   {repl.cwd}")
    screen.text(f"Mode:        {config.mode}")
    files = wired.settings.files
    screen.text(f"Settings:    {', '.join(str(f) for f in files) if files else '(none found)'}")
    screen.text(f"Sandbox:     {'on (bubblewrap)' if config.sandboxed else 'off'}")
    screen.text(f"Session:     {repl.session.session_id}")
    screen.text(f"Messages:    {len(repl.session.transcript)}")
    screen.text(f"Context:     {context_tokens(repl.session.transcript):,} tokens")
    screen.text(f"Cost:        {money(_cost_total(repl))}")


def _cost_total(repl: Repl) -> float | None:
    from coda.ui.status import combined_cost

    return combined_cost(repl.all_totals())


async def _mcp(repl: Repl, arg: str) -> None:
    from coda.ui.mcp_commands import show_servers

    await show_servers(repl, arg)


async def _exit(repl: Repl, arg: str) -> None:
    repl.should_exit = True


COMMANDS: tuple[Command, ...] = (
    Command("/help", "/help", "commands and keys", _help),
    Command("/clear", "/clear", "start a new conversation", _clear),
    Command("/cost", "/cost", "tokens by kind and dollars so far", _cost),
    Command("/model", "/model [ID]", "show or switch the model", _model),
    Command("/think", "/think [BUDGET|off|auto]", "the thinking budget", _think),
    Command(
        "/permissions",
        "/permissions [allow|ask|deny RULE]",
        "the rules and mode in effect",
        _permissions,
    ),
    Command("/status", "/status", "model, directory, mode, settings, sandbox", _status),
    Command("/compact", "/compact [FOCUS]", "summarise the conversation so far", _compact),
    Command("/init", "/init", "have the model write a CODA.md for this project", _init),
    Command("/memory", "/memory", "edit a memory file in $EDITOR", _memory),
    Command("/resume", "/resume [ID]", "go back to an earlier session here", _resume),
    Command("/rewind", "/rewind", "undo to before an earlier prompt (esc esc)", _rewind),
    Command("/mcp", "/mcp [tools [SERVER]]", "MCP servers, their state and tools", _mcp),
    Command("/exit", "/exit", "leave coda", _exit),
)
_ALIASES = {"/quit": "/exit", "/q": "/exit", "/?": "/help"}


async def run_shell(repl: Repl, command: str) -> None:
    """`!cmd`: run it as the person asked (no permission needed) and tell the model."""
    from coda.messages import TextBlock, UserMessage
    from coda.tools.base import ToolError, ToolOutput
    from coda.tools.bash import BashTool

    if not command:
        repl.screen.text("usage: !command (runs it in coda's shell)", "dim")
        return

    async def run() -> ToolOutput | str:
        try:
            return await BashTool().run({"command": command}, repl.session.tool_ctx)
        except ToolError as exc:
            return str(exc)

    output = await repl.run_interruptibly(run(), f"Running {command}", repair=False)
    if output is None:
        return
    if isinstance(output, str):
        repl.screen.text(f"{repl.glyphs.error} {output}", "red")
        return
    from coda.ui.view import safe

    text = "\n".join(getattr(b, "text", "") for b in output.content)
    repl.screen.text(f"  {repl.glyphs.result} {output.summary}", "dim")
    lines = text.splitlines()
    shown = lines if len(lines) <= 40 else [*lines[:20], "…", *lines[-19:]]
    if shown:
        from rich.text import Text

        repl.screen.print(Text("\n".join("    " + safe(ln) for ln in shown)))
    message = (
        f"The person ran this command in coda's shell:\n$ {command}\n<output>\n{text}\n</output>"
    )
    repl.session.transcript.append(UserMessage([TextBlock(message)]))


def add_note(repl: Repl, text: str) -> None:
    """`#note`: add a line to the project memory file, CODA.md."""
    if not text:
        repl.screen.text("usage: #note (adds the note to ./CODA.md)", "dim")
        return
    path = repl.cwd / "CODA.md"
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        lead = "" if not existing or existing.endswith("\n") else "\n"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"{lead}- {text}\n")
    except OSError as exc:
        repl.screen.text(f"{repl.glyphs.error} could not write {path}: {exc}", "red")
        return
    created = "" if existing else " (created it)"
    repl.screen.text(f"{repl.glyphs.ok} Noted in ./CODA.md{created}", "green")


def command_menu() -> list[tuple[str, str]]:
    return [(c.name, c.help) for c in COMMANDS]


async def run_command(repl: Repl, line: str) -> None:
    name, _, arg = line.partition(" ")
    if name.startswith("/mcp__"):
        from coda.ui.mcp_commands import run_prompt

        if await run_prompt(repl, name, arg.strip()):
            return
    name = _ALIASES.get(name.lower(), name.lower())
    for command in COMMANDS:
        if command.name == name:
            await command.handler(repl, arg.strip())
            return
    close = [c.name for c in COMMANDS if c.name.startswith(name[:3])]
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    repl.screen.text(f"unknown command {name}.{hint} /help lists them.", "red")
