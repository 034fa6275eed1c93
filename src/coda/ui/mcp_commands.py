"""MCP in the terminal: `/mcp`, `/mcp__server__prompt`, and approving project servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from coda.mcp.config import ServerConfig
    from coda.mcp.manager import McpManager
    from coda.ui.mentions import Attached
    from coda.ui.repl import Repl

_STATUS_STYLE = {"connected": "green", "connecting": "yellow", "pending": "yellow"}


async def show_servers(repl: Repl, arg: str) -> None:
    """`/mcp` lists servers, their state and what they offer; `/mcp tools [SERVER]` the tools."""
    screen, manager = repl.screen, repl.wired.mcp
    if manager is None:
        screen.text(
            "No MCP servers are configured. Add one with `coda mcp add NAME -- COMMAND ARGS` "
            "(or an .mcp.json in the project), then start coda again.",
            "dim",
        )
        return
    words = arg.split()
    if words[:1] == ["tools"]:
        _show_tools(repl, manager, words[1] if len(words) > 1 else None)
        return
    if words[:1] in (["reconnect"], ["login"]) and len(words) == 2:
        await _restart(repl, manager, words[1], login=words[0] == "login")
        return
    if words:
        screen.text("usage: /mcp [tools [SERVER] | reconnect SERVER | login SERVER]", "red")
        return
    await _approve_waiting(repl, manager)
    g = repl.glyphs
    for status in manager.statuses():
        style = _STATUS_STYLE.get(status.status, "red")
        offers = (
            f" {g.dot} {status.tools} tools, {status.prompts} prompts, {status.resources} resources"
            if status.status == "connected"
            else ""
        )
        screen.text(f"  {status.name} ({status.scope}, {status.transport}): ", "bold")
        screen.text(f"    {status.status}{offers}", style)
        if status.detail:
            for line in status.detail.splitlines():
                screen.text(f"    {line}", "dim" if status.status == "connected" else "red")
    for event in manager.events():
        screen.text(f"  {g.dot} {event.text}", "dim")
    prompts = manager.prompts()
    if prompts:
        from coda.mcp.prompts import prompt_usage

        screen.text("Prompts (run them as commands):", "bold")
        for info in prompts:
            screen.text(f"  {prompt_usage(info)}  {info.description}")
    screen.text(
        "`/mcp tools [SERVER]` lists the tools, `/mcp reconnect SERVER` starts one afresh, "
        "`/mcp login SERVER` authorizes a remote one; `@server:uri` attaches a resource.",
        "dim",
    )


async def _restart(repl: Repl, manager: McpManager, name: str, *, login: bool) -> None:
    g = repl.glyphs
    cfg = manager.configs.get(name)
    if cfg is None:
        repl.screen.text(f"{g.error} no MCP server named {name!r}", "red")
        return
    if login and not await _log_in(repl, cfg):
        return
    try:
        await repl.run_interruptibly(manager.reconnect(name), f"Starting {name}", repair=False)
    except Exception as exc:  # a refusal to start, or the login's failure: say it, go on
        repl.screen.text(f"{g.error} {name}: {exc}", "red")
        return
    status = next(s for s in manager.statuses() if s.name == name)
    style = "green" if status.status == "connected" else "red"
    repl.screen.text(f"  {name}: {status.status} {status.detail}".rstrip(), style)


async def _log_in(repl: Repl, cfg: ServerConfig) -> bool:
    """Authorize coda with a remote server in the browser; False (said why) if it did not."""
    import io

    from coda.mcp.oauth import login, url_opener

    def open_url(url: str) -> None:
        shown = io.StringIO()
        url_opener(shown)(url)
        repl.screen.text(shown.getvalue().rstrip(), "yellow")

    async def authorize() -> bool:
        await login(cfg, repl.env, open_url=open_url, timeout=300)
        return True

    try:
        done = await repl.run_interruptibly(
            authorize(), f"Waiting for the browser ({cfg.name})", repair=False
        )
    except Exception as exc:  # OAuthError says what went wrong
        repl.screen.text(f"{repl.glyphs.error} {cfg.name}: {exc}", "red")
        return False
    return done is not None


def _show_tools(repl: Repl, manager: McpManager, server: str | None) -> None:
    tools = [t for t in manager.tools() if server is None or t.server == server]
    if not tools:
        repl.screen.text("No MCP tools" + (f" from {server}." if server else "."), "dim")
        return
    for tool in tools:
        first = tool.description.splitlines()[0] if tool.description else ""
        hint = " (says it is read-only; still asks)" if tool.read_only_hint else ""
        repl.screen.text(f"  {tool.name}{hint}  {first}")


async def run_prompt(repl: Repl, name: str, arg: str) -> bool:
    """`/mcp__server__prompt ARGS`: send the prompt's text as the next turn. False if no
    server offers a prompt by that name."""
    manager = repl.wired.mcp
    if manager is None:
        return False
    from coda.mcp.prompts import expand_prompt, find_prompt

    await manager.wait_ready()
    info = find_prompt(manager, name)
    if info is None:
        return False
    try:
        text = await expand_prompt(manager, info, arg)
    except Exception as exc:  # a bad argument or a failing server: say which, keep the session
        repl.screen.text(f"{repl.glyphs.error} {name}: {exc}", "red")
        return True
    await repl.turn(text)
    return True


async def approve_project_servers(repl: Repl) -> None:
    """Before the first turn: ask about project servers nobody has approved here yet."""
    manager = repl.wired.mcp
    if manager is not None:
        await _approve_waiting(repl, manager)
        manager.start()


async def _approve_waiting(repl: Repl, manager: McpManager) -> None:
    from coda.ui.choose import choose

    waiting = manager.awaiting_approval()
    for i, cfg in enumerate(waiting):
        what = (
            f"{cfg.command} {' '.join(cfg.args)}".strip() if cfg.transport == "stdio" else cfg.url
        )
        title = (
            f"The project's .mcp.json wants to start the MCP server {cfg.name!r}:\n"
            f"  {what}\nIt runs with your permissions. Use it?"
        )
        options = ["Yes, use this server", "Yes, and every server in this .mcp.json", "No"]
        answer = await choose(repl.screen, title, options, keys={"y": 0, "n": 2}, cancel="no")
        if answer == 1:
            manager.decide([c.name for c in waiting[i:]], True)
            return
        manager.decide([cfg.name], answer == 0)


async def attach_mcp(repl: Repl, attached: Attached) -> None:
    """Before a turn: wait for servers that have no remembered tool list yet, attach the
    `@server:uri` resources, and show what the servers did since the last turn."""
    from coda.mcp.prompts import attach_resources

    manager = repl.wired.mcp
    if manager is None:
        return
    if manager.starting and not manager.all_cached():
        await repl.run_interruptibly(manager.wait_ready(), "Starting MCP servers")
    resources = await attach_resources(attached.prompt, manager)
    attached.prompt = resources.prompt
    attached.files += resources.attached
    attached.problems += resources.problems
    # List changes are routine (many servers send one right after starting): /mcp shows
    # them; crashes and errors are said here.
    for event in manager.events("crash", "error"):
        repl.screen.text(f"  {repl.glyphs.dot} {event.text}", "dim")


def mcp_offers(repl: Repl) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """For completion: the servers' prompts as commands, and their resources as mentions."""
    manager = repl.wired.mcp if repl.has_session else None
    if manager is None:
        return [], []
    from coda.mcp.prompts import prompt_command

    prompts = [(prompt_command(p), p.description) for p in manager.prompts()]
    resources = [(f"@{r.server}:{r.uri}", r.name or r.description) for r in manager.resources()]
    return prompts, resources
