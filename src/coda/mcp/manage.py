"""`coda mcp`: add, list, show, remove, approve and log in to MCP servers; serve coda's tools."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from coda.config import SettingsError
from coda.mcp.config import (
    SCOPES,
    Scope,
    ServerConfig,
    Transport,
    add_server,
    configured_servers,
    remove_server,
    scope_file,
    transport_of,
)
from coda.mcp.store import approval, reset_approvals, set_approval

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
LOGIN_TIMEOUT_S = 300.0

Check = Callable[[list[ServerConfig], Mapping[str, str], Path], Mapping[str, str]]
"""The health probe `coda mcp list` runs: the servers that may start in, a short status per
server name out ("connected", "failed: …"). Servers missing from the answer show none."""

_SCOPE_NAMES: dict[str, str] = {
    "local": "local (yours, this project only)",
    "project": "project (.mcp.json, shared with everyone in the project)",
    "user": "user (yours, every project)",
}
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASS", "AUTH", "COOKIE", "CREDENTIAL")
_ADD_EXAMPLES = """examples:
  coda mcp add files -- npx -y @modelcontextprotocol/server-filesystem /tmp
  coda mcp add -e GITHUB_TOKEN=... github -- docker run -i --rm ghcr.io/github/github-mcp-server
  coda mcp add -t http sentry https://mcp.sentry.dev/mcp
  coda mcp add -t sse -H 'Authorization: Bearer ...' linear https://mcp.linear.app/sse"""


class _Failed(Exception):
    """The command could not do what was asked (exit 1); the message says why and what to do."""


class _Usage(Exception):
    """The command line does not make sense (exit 2)."""


@dataclass(slots=True)
class _Context:
    env: Mapping[str, str]
    cwd: Path
    out: TextIO
    err: TextIO
    check: Check | None
    open_url: Callable[[str], None] | None


def main(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdout: TextIO,
    stderr: TextIO,
    stdin: TextIO,
    check: Check | None = None,
    open_url: Callable[[str], None] | None = None,
) -> int:
    """Run `coda mcp ARGV`; 0 done, 1 failed, 2 the command line is wrong."""
    del stdin  # no subcommand reads it; `serve` speaks MCP on the process's own stdio
    parser = _build_parser(stdout, stderr)
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, or argparse's usage error (already printed)
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE
    if args.command is None:
        stderr.write(parser.format_help())
        return EXIT_USAGE
    ctx = _Context(env, Path(cwd), stdout, stderr, check, open_url)
    run: Callable[[argparse.Namespace, _Context], int] = args.run
    try:
        return run(args, ctx)
    except _Usage as exc:
        stderr.write(f"coda mcp {args.command}: {exc}\n")
        return EXIT_USAGE
    except (_Failed, SettingsError) as exc:
        stderr.write(f"coda mcp {args.command}: {exc}\n")
        return EXIT_ERROR


# --- the command line ----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse writing to the streams main() was given instead of the process's."""

    def __init__(self, *args: Any, out: TextIO, err: TextIO, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._out, self._err = out, err

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            (self._err if file is sys.stderr else self._out).write(message)


def _build_parser(out: TextIO, err: TextIO) -> _Parser:
    streams: dict[str, Any] = {"out": out, "err": err}
    parser = _Parser(
        prog="coda mcp",
        description="Configure the MCP servers coda starts, or serve coda's own tools over MCP.",
        **streams,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    scope_help = "where to keep it: local (default), project (.mcp.json) or user"

    _adding_commands(sub, streams, scope_help)

    listing = sub.add_parser("list", help="list the configured servers", **streams)
    listing.add_argument("--no-check", action="store_true", help="do not probe the servers")
    listing.set_defaults(run=_list)

    get = sub.add_parser("get", help="show one server's configuration", **streams)
    get.add_argument("name", metavar="NAME")
    get.set_defaults(run=_get)

    remove = sub.add_parser("remove", help="remove a server", **streams)
    remove.add_argument("-s", "--scope", choices=SCOPES, help="the scope to remove it from")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(run=_remove)

    approve = sub.add_parser(
        "approve", help="allow this project's .mcp.json servers to start", **streams
    )
    approve.add_argument("names", nargs="*", metavar="NAME")
    approve.add_argument("--all", action="store_true", help="every server in .mcp.json")
    approve.set_defaults(run=_approve)

    reset = sub.add_parser(
        "reset-project-choices",
        help="forget which .mcp.json servers were approved or rejected here",
        **streams,
    )
    reset.set_defaults(run=_reset)

    login = sub.add_parser("login", help="authorize coda with an http/sse server", **streams)
    login.add_argument("name", metavar="NAME")
    login.set_defaults(run=_login)

    serve = sub.add_parser("serve", help="serve coda's tools over MCP on stdio", **streams)
    serve.set_defaults(run=_serve)
    return parser


def _adding_commands(
    sub: argparse._SubParsersAction[_Parser], streams: dict[str, Any], scope_help: str
) -> None:
    add = sub.add_parser(
        "add",
        help="add a server",
        description="Add an MCP server. The server's own arguments go after the command "
        "(use -- before them when they start with '-').",
        epilog=_ADD_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **streams,
    )
    add.add_argument("-s", "--scope", choices=SCOPES, default="local", help=scope_help)
    add.add_argument(
        "-t",
        "--transport",
        choices=("stdio", "http", "sse"),
        help="stdio (a command; the default) or http/sse (a URL; http if only a URL is given)",
    )
    add.add_argument(
        "-e", "--env", action="append", default=[], metavar="KEY=VALUE", help="stdio: env var"
    )
    add.add_argument(
        "-H", "--header", action="append", default=[], metavar="'KEY: VALUE'", help="http header"
    )
    add.add_argument("--no-check", action="store_true", help=_NO_CHECK_HELP)
    add.add_argument("name", metavar="NAME")
    add.add_argument("target", metavar="COMMAND_OR_URL")
    add.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    add.set_defaults(run=_add)

    add_json = sub.add_parser("add-json", help="add a server from its JSON entry", **streams)
    add_json.add_argument("-s", "--scope", choices=SCOPES, default="local", help=scope_help)
    add_json.add_argument("--no-check", action="store_true", help=_NO_CHECK_HELP)
    add_json.add_argument("name", metavar="NAME")
    add_json.add_argument("json", metavar="JSON", help='e.g. \'{"command": "npx", "args": []}\'')
    add_json.set_defaults(run=_add_json)


# --- add -----------------------------------------------------------------------------

_NO_CHECK_HELP = "do not start the server once to check it (and remember its tools)"


def _add(args: argparse.Namespace, ctx: _Context) -> int:
    rest = list(args.args)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    transport: Transport = args.transport or (
        "http" if _looks_like_url(args.target) and not rest else "stdio"
    )
    entry: dict[str, Any] = {"type": transport}
    if transport == "stdio":
        if args.header:
            raise _Usage("-H/--header is for http and sse servers; a stdio server takes -e")
        entry |= {"command": args.target, "args": rest}
        if args.env:
            entry["env"] = dict(_pair(e, "=", "-e/--env", "KEY=VALUE") for e in args.env)
    else:
        if rest:
            raise _Usage(
                f"an {transport} server is just a URL; unexpected arguments: {shlex.join(rest)}"
            )
        if args.env:
            raise _Usage("-e/--env is for stdio servers; send values to an http server with -H")
        entry["url"] = args.target
        if args.header:
            entry["headers"] = dict(
                _pair(h, ":", "-H/--header", "'KEY: VALUE'") for h in args.header
            )
    return _write(ctx, args.scope, args.name, entry, check=not args.no_check)


def _add_json(args: argparse.Namespace, ctx: _Context) -> int:
    try:
        entry = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise _Failed(
            f"the JSON for {args.name} is not valid: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    if isinstance(entry, dict) and "mcpServers" in entry:
        raise _Failed(
            f'give the entry of {args.name} alone, such as {{"command": "npx", "args": []}}, '
            'not a whole {"mcpServers": …} file'
        )
    return _write(ctx, args.scope, args.name, entry, check=not args.no_check)


def _write(ctx: _Context, scope: Scope, name: str, entry: Any, *, check: bool) -> int:
    if not isinstance(entry, dict):
        raise _Failed(f'the entry of {name} must be a JSON object such as {{"command": "npx"}}')
    path = add_server(ctx.cwd, ctx.env, scope, name, entry)
    ctx.out.write(f"Added {transport_of(entry)} MCP server {name} to {scope} scope ({path}).\n")
    if scope == "project":
        ctx.out.write(
            "Project servers start only once approved in each checkout: "
            f"run `coda mcp approve {name}`, or answer coda's question at the next start.\n"
        )
    if check:
        _check_added(ctx, name)
    return EXIT_OK


def _check_added(ctx: _Context, name: str) -> None:
    """Start the new server once: the person learns now whether it works, and its tool list
    is remembered, so coda's first request need not wait for it."""
    servers, _ = _effective(ctx)
    server = next((s for s in servers if s.name == name), None)
    if ctx.check is None or server is None or server.error is not None:
        return
    ctx.out.write(f"Checking {name}… ")
    ctx.out.flush()
    status = dict(ctx.check([server], ctx.env, ctx.cwd)).get(name, "no answer")
    ctx.out.write(f"{status}\n")
    if not status.startswith("connected"):
        ctx.out.write("It is saved all the same; fix it and check again with `coda mcp list`.\n")


def _looks_like_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _pair(text: str, sep: str, flag: str, form: str) -> tuple[str, str]:
    key, found, value = text.partition(sep)
    if not found or not key.strip():
        raise _Usage(f"{flag} {text!r} must look like {form}")
    return key.strip(), value.strip() if sep == ":" else value


# --- list and get --------------------------------------------------------------------


def _list(args: argparse.Namespace, ctx: _Context) -> int:
    servers, shadowed = _effective(ctx)
    if not servers:
        ctx.out.write(
            "No MCP servers configured. Add one with `coda mcp add NAME -- COMMAND [ARGS...]` "
            "or `coda mcp add -t http NAME URL`.\n"
        )
        return EXIT_OK
    statuses: dict[str, str] = {}
    launchable = [s for s in servers if _blocker(s, ctx) is None]
    if ctx.check is not None and not args.no_check and launchable:
        ctx.out.write("Checking MCP server health…\n\n")
        statuses = dict(ctx.check(launchable, ctx.env, ctx.cwd))
    for server in servers:
        hidden = [s.scope for s in shadowed if s.name == server.name]
        where = f"{server.scope}; overrides {', '.join(hidden)}" if hidden else server.scope
        line = f"{server.name}: {_target(server)} ({server.transport}, {where})"
        status = _blocker(server, ctx) or statuses.get(server.name)
        ctx.out.write(f"{line} - {status}\n" if status else f"{line}\n")
    return EXIT_OK


def _get(args: argparse.Namespace, ctx: _Context) -> int:
    servers, shadowed = _effective(ctx)
    server = _find(servers, args.name)
    raw = server.raw
    lines = [
        f"{server.name}:",
        f"  scope: {_SCOPE_NAMES.get(server.scope, server.scope)}",
        f"  file: {server.source}",
        f"  type: {server.transport}",
    ]
    shown = {"type"}
    for key in ("command", "args", "url"):
        if key in raw:
            shown.add(key)
            value = raw[key]
            text = shlex.join(value) if key == "args" and isinstance(value, list) else value
            lines.append(f"  {key}: {text}")
    for key in ("env", "headers"):
        if isinstance(raw.get(key), dict) and raw[key]:
            shown.add(key)
            lines.append(f"  {key}:")
            lines += [f"    {k}: {_masked(k, v)}" for k, v in raw[key].items()]
    for key, value in raw.items():
        if key not in shown:
            text = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"  {key}: {_masked(key, text)}")
    if server.scope == "project":
        lines.append(f"  approval: {_approval_text(server, ctx)}")
    if server.error is not None:
        lines.append(f"  error: {server.error}")
    for other in (s for s in shadowed if s.name == server.name):
        lines.append(f"  also in: {other.scope} scope ({other.source}), overridden by this one")
    lines += ["", f"To remove it: coda mcp remove {server.name} -s {server.scope}"]
    ctx.out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _effective(ctx: _Context) -> tuple[list[ServerConfig], list[ServerConfig]]:
    """The servers in force (one per name, by precedence) and the ones they override;
    files that cannot be read are reported on stderr."""
    configured, warnings = configured_servers(ctx.cwd, ctx.env)
    for warning in warnings:
        ctx.err.write(f"coda mcp: warning: {warning}\n")
    effective: dict[str, ServerConfig] = {}
    shadowed: list[ServerConfig] = []
    for server in configured:
        if server.name in effective:
            shadowed.append(server)
        else:
            effective[server.name] = server
    return list(effective.values()), shadowed


def _find(servers: list[ServerConfig], name: str) -> ServerConfig:
    for server in servers:
        if server.name == name:
            return server
    known = ", ".join(s.name for s in servers) or "none yet"
    raise _Failed(f"no MCP server named {name} (configured: {known}); see `coda mcp list`")


def _blocker(server: ServerConfig, ctx: _Context) -> str | None:
    """Why the server would not start in this project, or None."""
    if server.error is not None:
        return f"error: {server.error}"
    if server.scope == "project" and approval(ctx.cwd, ctx.env, server.name) is not True:
        return _approval_text(server, ctx)
    return None


def _approval_text(server: ServerConfig, ctx: _Context) -> str:
    decided = approval(ctx.cwd, ctx.env, server.name)
    if decided is None:
        return f"needs approval (`coda mcp approve {server.name}`)"
    if decided is False:
        return f"rejected in this project (`coda mcp approve {server.name}` to allow it)"
    return "approved in this project"


def _target(server: ServerConfig) -> str:
    raw = server.raw
    if server.transport != "stdio":
        return str(raw.get("url", "(no url)"))
    args = raw.get("args")
    words = [str(raw.get("command", "(no command)"))]
    if isinstance(args, list):
        words += [str(a) for a in args]
    return shlex.join(words)


def _masked(key: str, value: str) -> str:
    """A value as written, unless its key looks secret: then all but the last 4 characters
    are hidden. A value that only refers to variables (`Bearer ${TOKEN}`) holds no secret."""
    if not any(word in key.upper() for word in _SECRET_WORDS):
        return value
    literal = re.sub(r"\$\{[^}]*\}", "", value)
    if "${" in value and len(literal.strip()) <= 8:
        return value
    return "********" + (value[-4:] if len(value) > 8 else "")


# --- remove --------------------------------------------------------------------------


def _remove(args: argparse.Namespace, ctx: _Context) -> int:
    name, scope = args.name, args.scope
    configured, warnings = configured_servers(ctx.cwd, ctx.env)
    for warning in warnings:
        ctx.err.write(f"coda mcp: warning: {warning}\n")
    found = [s for s in configured if s.name == name]
    places = " and ".join(f"{s.scope} scope ({s.source})" for s in found)
    if not found:
        known = ", ".join(dict.fromkeys(s.name for s in configured)) or "none"
        raise _Failed(f"no MCP server named {name} in any scope (configured: {known})")
    if scope is not None and scope not in {s.scope for s in found}:
        raise _Failed(
            f"{name} is not in {scope} scope; it is in {places}: "
            f"run `coda mcp remove {name} -s {found[0].scope}`"
        )
    if scope is None and len(found) > 1:
        raise _Failed(
            f"{name} is in {places}; say which with "
            + " or ".join(f"`-s {s.scope}`" for s in found)
        )
    scope = scope or found[0].scope
    for path in remove_server(ctx.cwd, ctx.env, name, scope):
        ctx.out.write(f"Removed MCP server {name} from {scope} scope ({path}).\n")
    return EXIT_OK


# --- approvals -----------------------------------------------------------------------


def _approve(args: argparse.Namespace, ctx: _Context) -> int:
    if args.all == bool(args.names):
        raise _Usage("name the .mcp.json servers to approve, or give --all (not both)")
    configured, warnings = configured_servers(ctx.cwd, ctx.env)
    project_file = scope_file(ctx.cwd, ctx.env, "project")
    for warning in warnings:
        ctx.err.write(f"coda mcp: warning: {warning}\n")
    offered = list(dict.fromkeys(s.name for s in configured if s.scope == "project"))
    if not offered:
        raise _Failed(f"{project_file} lists no MCP servers, so there is nothing to approve")
    unknown = [n for n in args.names if n not in offered]
    if unknown:
        raise _Failed(
            f"{', '.join(unknown)}: not in {project_file} (its servers: {', '.join(offered)})"
        )
    names = offered if args.all else list(dict.fromkeys(args.names))
    set_approval(ctx.cwd, ctx.env, names, approved=True)
    ctx.out.write(
        f"Approved {', '.join(names)} from {project_file}: coda starts "
        f"{'it' if len(names) == 1 else 'them'} in {ctx.cwd.resolve()} from now on.\n"
    )
    return EXIT_OK


def _reset(args: argparse.Namespace, ctx: _Context) -> int:
    reset_approvals(ctx.cwd, ctx.env)
    ctx.out.write(
        f"Forgot every approval and rejection of .mcp.json servers in {ctx.cwd.resolve()}: "
        "coda asks again at the next start (or run `coda mcp approve`).\n"
    )
    return EXIT_OK


# --- login and serve -----------------------------------------------------------------


def _login(args: argparse.Namespace, ctx: _Context) -> int:
    import asyncio

    servers, _ = _effective(ctx)
    server = _find(servers, args.name)
    if server.transport == "stdio":
        raise _Failed(
            f"{server.name} is a stdio server, which coda starts itself: there is no login; "
            "`coda mcp login` is for http and sse servers"
        )
    if server.error is not None:
        raise _Failed(f"{server.name} cannot be used: {server.error}")
    from coda.mcp.oauth import login, url_opener

    open_url = ctx.open_url or url_opener(ctx.out)
    try:
        asyncio.run(login(server, ctx.env, open_url=open_url, timeout=LOGIN_TIMEOUT_S))
    except Exception as exc:  # OAuthError says what went wrong; anything else is reported too
        raise _Failed(str(exc) or type(exc).__name__) from exc
    ctx.out.write(f"Logged in to {server.name}; coda will use the saved authorization.\n")
    return EXIT_OK


def _serve(args: argparse.Namespace, ctx: _Context) -> int:
    from coda.mcp.serve import run_serve

    return run_serve(cwd=ctx.cwd, env=ctx.env)
