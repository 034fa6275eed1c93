"""MCP server configuration: the `.mcp.json` schema, scopes, `${VAR}` expansion, limits.

Where servers come from, highest precedence first (one server per name survives):

- cli      `--mcp-config FILE|JSON` (later flags win); `--strict-mcp-config` keeps only these
- local    `<config_dir>/mcp.json` under `projects["<resolved cwd>"].mcpServers`: yours, here only
- project  `<cwd>/.mcp.json`: shared through the repository, so each server needs approval
- user     `<config_dir>/mcp.json` top-level `mcpServers`: yours, in every project

Approvals of project servers live in the same user file, per project (see store.py), under
`approvedServers` and `rejectedServers`.

`${VAR}` and `${VAR:-default}` expand in command, args, env values, url and header values,
as in Claude Code: a variable that is set (even to "") is used, else the default. A variable
that is unset with no default leaves the server with an `error` (shown, never launched).
A bare `$VAR` is left alone.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from coda.config import SettingsError
from coda.mcp.store import (
    parse_json,
    project_entry,
    project_key,
    read_json,
    update_json,
    user_file,
)

Transport = Literal["stdio", "http", "sse"]
Scope = Literal["local", "project", "user", "cli"]

# The scopes `coda mcp add` can write, highest precedence first.
SCOPES: tuple[Scope, ...] = ("local", "project", "user")
PROJECT_FILE = ".mcp.json"

_TRANSPORTS: dict[str, Transport] = {
    "stdio": "stdio",
    "http": "http",
    "streamable-http": "http",
    "streamableHttp": "http",
    "sse": "sse",
}
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_VAR = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    name: str
    transport: Transport
    scope: Scope
    source: Path | None  # the file it came from; None for inline JSON given to --mcp-config
    command: str = ""  # stdio, expanded
    args: tuple[str, ...] = ()  # expanded
    env: Mapping[str, str] = field(default_factory=dict)  # expanded
    url: str = ""  # http and sse, expanded
    headers: Mapping[str, str] = field(default_factory=dict)  # expanded
    raw: Mapping[str, Any] = field(default_factory=dict)  # the entry as written
    error: str | None = None  # why it cannot launch; shown, never launched


@dataclass(slots=True)
class ServerSet:
    servers: list[ServerConfig]
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class McpLimits:
    startup_s: float = 15.0
    call_s: float = 300.0
    max_output_tokens: int = 25_000


# --- reading -------------------------------------------------------------------------


def load_servers(
    cwd: Path,
    env: Mapping[str, str],
    *,
    cli_configs: Sequence[str] = (),
    strict: bool = False,
) -> ServerSet:
    """The servers this session may use, one per name: cli > local > project > user.

    A broken `--mcp-config` raises SettingsError; a broken file on disk is a warning and
    its servers are skipped.
    """
    cli: dict[str, ServerConfig] = {}
    for value in cli_configs:
        for server in _cli_servers(value, Path(cwd), env):
            cli.pop(server.name, None)  # a later flag wins, and takes its place in the order
            cli[server.name] = server
    found = ServerSet(list(cli.values()), [])
    if strict:
        return found
    configured, warnings = configured_servers(cwd, env)
    found.warnings += warnings
    seen = set(cli)
    for server in configured:
        if server.name not in seen:
            seen.add(server.name)
            found.servers.append(server)
    return found


def configured_servers(cwd: Path, env: Mapping[str, str]) -> tuple[list[ServerConfig], list[str]]:
    """Every server written in a scope on disk, shadowed ones included, local scope first;
    and warnings about files that could not be read."""
    servers: list[ServerConfig] = []
    warnings: list[str] = []
    for scope, path, entries in _read_scopes(cwd, env):
        if isinstance(entries, SettingsError):
            warnings.append(f"{entries}; its MCP servers are skipped")
            continue
        for name, entry in entries.items():
            servers.append(_disk_server(name, entry, scope, path, env))
    return servers, warnings


def has_servers(cwd: Path, env: Mapping[str, str], cli_configs: Sequence[str] = ()) -> bool:
    """Whether any server may be configured, without expanding anything. A file that cannot
    be read counts, so that load_servers gets to warn about it."""
    if cli_configs:
        return True
    return any(entries for _, _, entries in _read_scopes(cwd, env))


def scope_file(cwd: Path, env: Mapping[str, str], scope: Scope) -> Path:
    """The file a scope's servers are written in."""
    if scope == "project":
        return Path(cwd) / PROJECT_FILE
    if scope == "cli":
        raise ValueError("servers given with --mcp-config are not stored in a file coda owns")
    return user_file(env)


def _read_scopes(
    cwd: Path, env: Mapping[str, str]
) -> Iterator[tuple[Scope, Path, dict[str, Any] | SettingsError]]:
    """Each scope's server entries, or the error that kept them out. The local and user
    scopes share one file, which is read once."""
    files: dict[Path, dict[str, Any] | SettingsError | None] = {}
    for scope in SCOPES:
        path = scope_file(cwd, env, scope)
        if path not in files:
            try:
                files[path] = read_json(path)
            except SettingsError as exc:
                files[path] = exc
        data = files[path]
        try:
            if isinstance(data, SettingsError):
                raise data
            yield scope, path, _scope_entries(data, path, cwd, scope)
        except SettingsError as exc:
            yield scope, path, exc


def _scope_entries(
    data: dict[str, Any] | None, path: Path, cwd: Path, scope: Scope
) -> dict[str, Any]:
    if data is None:
        return {}
    where = "mcpServers"
    if scope == "local":
        try:
            project = project_entry(data, cwd)
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        if project is None:
            return {}
        data, where = project, f'projects["{project_key(cwd)}"].mcpServers'
    servers = data.get("mcpServers")
    if servers is None:
        return {}
    if not isinstance(servers, dict):
        raise SettingsError(f"{path}: {where} must be an object of servers by name")
    return servers


def _cli_servers(value: str, cwd: Path, env: Mapping[str, str]) -> list[ServerConfig]:
    source: Path | None = None
    label, text = "--mcp-config (inline JSON)", value
    if not value.lstrip().startswith("{"):
        source = cwd / Path(value).expanduser()
        label = str(source)
        try:
            text = source.read_text("utf-8-sig")
        except FileNotFoundError:
            raise SettingsError(f"--mcp-config {value}: no such file ({source})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"--mcp-config {value}: cannot read {source}: {exc}") from exc
    data = parse_json(text, label)
    servers = data.get("mcpServers")
    if not isinstance(servers, dict):
        raise SettingsError(
            f'{label}: needs an "mcpServers" object, as in '
            '{"mcpServers": {"NAME": {"command": "...", "args": []}}}'
        )
    out = []
    for name, entry in servers.items():
        try:
            out.append(_server(name, entry, "cli", source, label, env))
        except _Invalid as exc:
            raise SettingsError(f"{label}: the MCP server {name}: {exc}") from None
    return out


def _disk_server(
    name: str, entry: Any, scope: Scope, path: Path, env: Mapping[str, str]
) -> ServerConfig:
    try:
        return _server(name, entry, scope, path, str(path), env)
    except _Invalid as exc:
        raw = entry if isinstance(entry, dict) else {}
        return ServerConfig(
            name=name,
            transport=transport_of(raw),
            scope=scope,
            source=path,
            raw=raw,
            error=f"{path}: the MCP server {name}: {exc}",
        )


# --- one entry -----------------------------------------------------------------------


class _Invalid(Exception):
    """An entry that does not fit the schema; the message says which key and why."""


def check_name(name: str) -> str | None:
    """Why `name` cannot be a server's name, or None if it can."""
    if not _NAME.fullmatch(name):
        return f"{name!r} is not a usable server name: use letters, digits, '-' and '_'"
    if "__" in name:
        return (
            f"{name!r} is not a usable server name: '__' separates the server from the tool "
            "in mcp__server__tool names"
        )
    return None


def _check_entry(entry: Any) -> Transport:
    """The entry's transport; _Invalid if the entry does not fit the schema."""
    if not isinstance(entry, dict):
        raise _Invalid('must be an object such as {"command": "...", "args": []}')
    transport = _entry_transport(entry)
    if transport == "stdio":
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise _Invalid('"command" must be a non-empty string (the program to start)')
        _str_list(entry, "args")
        _str_map(entry, "env")
    else:
        url = entry.get("url")
        if not isinstance(url, str) or not url.strip():
            raise _Invalid(f'"url" must be a non-empty string (a {transport} server has a url)')
        if "${" not in url and not url.startswith(("http://", "https://")):
            raise _Invalid(f'"url" must start with http:// or https://, not {url!r}')
        _str_map(entry, "headers")
    return transport


def _entry_transport(entry: Mapping[str, Any]) -> Transport:
    kind = entry.get("type")
    if kind is None:
        if "command" in entry:
            return "stdio"
        if "url" in entry:
            return "http"
        raise _Invalid('needs "command" (a stdio server) or "url" (an http or sse server)')
    if not isinstance(kind, str) or kind not in _TRANSPORTS:
        raise _Invalid(f'"type" must be "stdio", "http" or "sse", not {kind!r}')
    return _TRANSPORTS[kind]


def transport_of(entry: Mapping[str, Any]) -> Transport:
    """The transport an entry asks for (by "type", else command or url); stdio if unclear."""
    try:
        return _entry_transport(entry)
    except _Invalid:
        return "stdio"


def _str_list(entry: Mapping[str, Any], key: str) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f'"{key}" must be a list of strings')
    return value


def _str_map(entry: Mapping[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict):
        raise _Invalid(f'"{key}" must be an object of strings')
    for k, v in value.items():
        if not isinstance(v, str):
            raise _Invalid(f'"{key}.{k}" must be a string, not {json.dumps(v)}')
    return value


def _server(
    name: str, entry: Any, scope: Scope, source: Path | None, label: str, env: Mapping[str, str]
) -> ServerConfig:
    problem = check_name(name)
    if problem:
        raise _Invalid(problem)
    transport = _check_entry(entry)
    missing: list[str] = []

    def expand(text: str, where: str) -> str:
        return _expand(text, env, lambda var: missing.append(f"${{{var}}} (in {where})"))

    if transport == "stdio":
        command = expand(entry["command"], "command")
        args = tuple(expand(a, f"args[{i}]") for i, a in enumerate(_str_list(entry, "args")))
        values = {k: expand(v, f"env.{k}") for k, v in _str_map(entry, "env").items()}
        return ServerConfig(
            name,
            transport,
            scope,
            source,
            command=command,
            args=args,
            env=values,
            raw=dict(entry),
            error=_missing_error(missing, label),
        )
    url = expand(entry["url"], "url")
    headers = {k: expand(v, f"headers.{k}") for k, v in _str_map(entry, "headers").items()}
    error = _missing_error(missing, label)
    if error is None and not url.startswith(("http://", "https://")):
        error = f"its url {url!r} does not start with http:// or https:// ({label})"
    return ServerConfig(
        name, transport, scope, source, url=url, headers=headers, raw=dict(entry), error=error
    )


def _missing_error(missing: list[str], label: str) -> str | None:
    if not missing:
        return None
    verb = "is not set and has" if len(missing) == 1 else "are not set and have"
    return f"{', '.join(missing)} {verb} no default ({label})"


def _expand(text: str, env: Mapping[str, str], missing: Callable[[str], None]) -> str:
    def one(match: re.Match[str]) -> str:
        name, has_default, default = match.group(1).partition(":-")
        if name in env:
            return env[name]
        if has_default:
            return default
        missing(name)
        return match.group(0)

    return _VAR.sub(one, text)


# --- writing -------------------------------------------------------------------------


def add_server(
    cwd: Path, env: Mapping[str, str], scope: Scope, name: str, entry: Mapping[str, Any]
) -> Path:
    """Write one server into a scope's file; SettingsError if the name or entry is not
    usable or the scope already has a server by that name. Returns the file written."""
    problem = check_name(name)
    if problem:
        raise SettingsError(problem)
    try:
        _check_entry(dict(entry))
    except _Invalid as exc:
        raise SettingsError(f"the MCP server {name}: {exc}") from None
    path = scope_file(cwd, env, scope)

    def add(data: dict[str, Any]) -> None:
        servers = _servers_for_writing(data, cwd, scope, path)
        if name in servers:
            raise SettingsError(
                f"an MCP server named {name} is already in {scope} scope ({path}): remove it "
                f"first with `coda mcp remove {name} -s {scope}`, or choose another name"
            )
        servers[name] = dict(entry)

    update_json(path, add, private=scope != "project")
    return path


def remove_server(
    cwd: Path, env: Mapping[str, str], name: str, scope: Scope | None = None
) -> list[Path]:
    """Remove the server from one scope, or from every scope that has it; the files written."""
    written: list[Path] = []
    for each in (scope,) if scope is not None else SCOPES:
        path = scope_file(cwd, env, each)
        if name not in _scope_entries(read_json(path), path, cwd, each):
            continue

        def drop(data: dict[str, Any], each: Scope = each, path: Path = path) -> None:
            del _servers_for_writing(data, cwd, each, path)[name]

        update_json(path, drop, private=each != "project")
        written.append(path)
    return written


def _servers_for_writing(
    data: dict[str, Any], cwd: Path, scope: Scope, path: Path
) -> dict[str, Any]:
    holder = project_entry(data, cwd, create=True) if scope == "local" else data
    assert holder is not None
    servers = holder.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise SettingsError(f"{path}: mcpServers must be an object; fix it by hand first")
    return servers


# --- limits --------------------------------------------------------------------------


def limits(env: Mapping[str, str]) -> McpLimits:
    """Timeouts and the output cap from MCP_TIMEOUT, MCP_TOOL_TIMEOUT (both milliseconds)
    and MAX_MCP_OUTPUT_TOKENS; SettingsError naming the variable if one is not a number."""
    return McpLimits(
        startup_s=_positive(env, "MCP_TIMEOUT", 15_000, "milliseconds") / 1000,
        call_s=_positive(env, "MCP_TOOL_TIMEOUT", 300_000, "milliseconds") / 1000,
        max_output_tokens=int(_positive(env, "MAX_MCP_OUTPUT_TOKENS", 25_000, "tokens")),
    )


def _positive(env: Mapping[str, str], var: str, default: int, unit: str) -> float:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw) if unit == "milliseconds" else int(raw)
    except ValueError:
        value = -1
    if not (value > 0 and math.isfinite(value)):
        raise SettingsError(
            f"{var}={raw!r} is not a positive number of {unit}: set it to a number such as "
            f"{default}, or unset it for the default ({default})"
        )
    return value
