"""MCP configuration: scopes and precedence, ${VAR} expansion, the schema, storage, approvals."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from coda.config import SettingsError
from coda.mcp.config import (
    McpLimits,
    ServerConfig,
    add_server,
    configured_servers,
    has_servers,
    limits,
    load_servers,
    remove_server,
)
from coda.mcp.store import approval, reset_approvals, set_approval


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODA_CONFIG_DIR": str(tmp_path / "config")}


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    return project


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), "utf-8")
    return path


def user_file(env: dict[str, str]) -> Path:
    return Path(env["CODA_CONFIG_DIR"]) / "mcp.json"


def write_user(env: dict[str, str], cwd: Path, *, user: Any = None, local: Any = None) -> Path:
    data: dict[str, Any] = {}
    if user is not None:
        data["mcpServers"] = user
    if local is not None:
        data["projects"] = {str(cwd.resolve()): {"mcpServers": local}}
    return write_json(user_file(env), data)


def by_name(servers: list[ServerConfig]) -> dict[str, ServerConfig]:
    return {s.name: s for s in servers}


# --- scopes and precedence -----------------------------------------------------------


def test_cli_beats_local_beats_project_beats_user(env: dict[str, str], cwd: Path) -> None:
    write_user(
        env,
        cwd,
        user={"s": {"command": "user"}, "u": {"command": "u"}, "p": {"command": "user-p"}},
        local={"s": {"command": "local"}, "l": {"command": "l"}},
    )
    write_json(
        cwd / ".mcp.json", {"mcpServers": {"s": {"command": "project"}, "p": {"command": "p"}}}
    )
    cli = json.dumps({"mcpServers": {"s": {"command": "cli"}}})

    found = by_name(load_servers(cwd, env, cli_configs=[cli]).servers)

    assert {n: (s.scope, s.command) for n, s in found.items()} == {
        "s": ("cli", "cli"),
        "l": ("local", "l"),
        "p": ("project", "p"),
        "u": ("user", "u"),
    }
    without_cli = by_name(load_servers(cwd, env).servers)
    assert without_cli["s"].scope == "local"
    assert without_cli["s"].source == user_file(env)
    assert without_cli["p"].source == cwd / ".mcp.json"


def test_strict_keeps_only_cli_servers(env: dict[str, str], cwd: Path) -> None:
    write_user(env, cwd, user={"u": {"command": "u"}})
    write_json(cwd / ".mcp.json", {"mcpServers": {"p": {"command": "p"}}})
    cli = '{"mcpServers": {"c": {"command": "c"}}}'

    found = load_servers(cwd, env, cli_configs=[cli], strict=True)

    assert [s.name for s in found.servers] == ["c"]
    assert found.servers[0].source is None


def test_a_later_mcp_config_wins(env: dict[str, str], cwd: Path) -> None:
    write_json(cwd / "a.json", {"mcpServers": {"s": {"command": "first"}}})
    second = '{"mcpServers": {"s": {"command": "second"}}}'

    found = load_servers(cwd, env, cli_configs=["a.json", second], strict=True)

    assert [(s.name, s.command) for s in found.servers] == [("s", "second")]


def test_mcp_config_file_is_read_relative_to_cwd(env: dict[str, str], cwd: Path) -> None:
    path = write_json(cwd / "conf" / "m.json", {"mcpServers": {"s": {"url": "https://x/mcp"}}})

    (server,) = load_servers(cwd, env, cli_configs=["conf/m.json"]).servers

    assert (server.scope, server.source, server.transport) == ("cli", path, "http")


def test_local_servers_belong_to_one_project(
    env: dict[str, str], cwd: Path, tmp_path: Path
) -> None:
    write_user(env, cwd, local={"mine": {"command": "x"}})
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()

    assert [s.name for s in load_servers(cwd, env).servers] == ["mine"]
    assert load_servers(elsewhere, env).servers == []


def test_configured_servers_keeps_the_shadowed_ones(env: dict[str, str], cwd: Path) -> None:
    write_user(env, cwd, user={"s": {"command": "u"}}, local={"s": {"command": "l"}})

    servers, warnings = configured_servers(cwd, env)

    assert [(s.name, s.scope, s.command) for s in servers] == [
        ("s", "local", "l"),
        ("s", "user", "u"),
    ]
    assert warnings == []


# --- the schema ----------------------------------------------------------------------


def test_entries_in_claude_codes_schema(env: dict[str, str], cwd: Path) -> None:
    write_json(
        cwd / ".mcp.json",
        {
            "mcpServers": {
                "files": {"command": "npx", "args": ["-y", "srv", "/tmp"], "env": {"A": "1"}},
                "plain": {"type": "stdio", "command": "srv"},
                "remote": {"type": "http", "url": "https://a/mcp", "headers": {"X-Key": "k"}},
                "untyped": {"url": "https://b/mcp"},
                "streamable": {"type": "streamable-http", "url": "https://c/mcp"},
                "camel": {"type": "streamableHttp", "url": "https://d/mcp"},
                "events": {"type": "sse", "url": "https://e/sse"},
            }
        },
    )

    found = by_name(load_servers(cwd, env).servers)

    files = found["files"]
    assert (files.transport, files.command, files.args) == ("stdio", "npx", ("-y", "srv", "/tmp"))
    assert dict(files.env) == {"A": "1"}
    assert files.raw == {"command": "npx", "args": ["-y", "srv", "/tmp"], "env": {"A": "1"}}
    assert (found["plain"].transport, found["plain"].args) == ("stdio", ())
    assert (found["remote"].transport, found["remote"].url) == ("http", "https://a/mcp")
    assert dict(found["remote"].headers) == {"X-Key": "k"}
    assert found["untyped"].transport == "http"
    assert found["streamable"].transport == "http"
    assert found["camel"].transport == "http"
    assert found["events"].transport == "sse"
    assert all(s.error is None for s in found.values())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"args": ["x"]}, 'needs "command"'),
        ({"command": ""}, '"command" must be a non-empty string'),
        ({"command": "x", "args": "a b"}, '"args" must be a list of strings'),
        ({"command": "x", "env": {"PORT": 8080}}, '"env.PORT" must be a string, not 8080'),
        ({"type": "websocket", "url": "wss://x"}, '"type" must be "stdio", "http" or "sse"'),
        ({"type": "http"}, '"url" must be a non-empty string'),
        ({"url": "ftp://x"}, "must start with http:// or https://"),
        ({"url": "https://x", "headers": ["a"]}, '"headers" must be an object'),
        ("npx server", "must be an object"),
    ],
)
def test_a_bad_entry_on_disk_is_an_error_naming_file_and_server(
    env: dict[str, str], cwd: Path, entry: Any, message: str
) -> None:
    path = write_json(cwd / ".mcp.json", {"mcpServers": {"bad": entry, "good": {"command": "x"}}})

    found = by_name(load_servers(cwd, env).servers)

    error = found["bad"].error
    assert error is not None
    assert message in error
    assert str(path) in error
    assert found["good"].error is None


@pytest.mark.parametrize("name", ["a__b", "dots.in.name", "with space", ""])
def test_unusable_names_are_errors(env: dict[str, str], cwd: Path, name: str) -> None:
    write_json(cwd / ".mcp.json", {"mcpServers": {name: {"command": "x"}}})

    (server,) = load_servers(cwd, env).servers

    assert server.error is not None
    assert "not a usable server name" in server.error


def test_a_broken_file_on_disk_is_a_warning_and_others_still_load(
    env: dict[str, str], cwd: Path
) -> None:
    (cwd / ".mcp.json").write_text('{"mcpServers": {"p": ', "utf-8")
    write_user(env, cwd, user={"u": {"command": "u"}})

    found = load_servers(cwd, env)

    assert [s.name for s in found.servers] == ["u"]
    assert len(found.warnings) == 1
    assert str(cwd / ".mcp.json") in found.warnings[0]
    assert "invalid JSON" in found.warnings[0]


def test_mcp_servers_that_is_not_an_object_is_a_warning(env: dict[str, str], cwd: Path) -> None:
    write_json(cwd / ".mcp.json", {"mcpServers": ["a"]})

    found = load_servers(cwd, env)

    assert found.servers == []
    assert found.warnings == [
        f"{cwd / '.mcp.json'}: mcpServers must be an object of servers by name; "
        "its MCP servers are skipped"
    ]


def test_a_broken_mcp_config_raises_with_its_position(env: dict[str, str], cwd: Path) -> None:
    with pytest.raises(SettingsError, match=r"--mcp-config \(inline JSON\):1:16: invalid JSON"):
        load_servers(cwd, env, cli_configs=['{"mcpServers": }'])
    (cwd / "m.json").write_text("{\n  oops\n}", "utf-8")
    with pytest.raises(SettingsError, match=rf"{cwd / 'm.json'}:2:3: invalid JSON"):
        load_servers(cwd, env, cli_configs=["m.json"])


def test_mcp_config_errors_name_the_problem(env: dict[str, str], cwd: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        load_servers(cwd, env, cli_configs=["missing.json"])
    with pytest.raises(SettingsError, match='needs an "mcpServers" object'):
        load_servers(cwd, env, cli_configs=['{"servers": {}}'])
    bad = '{"mcpServers": {"gh": {"command": 3}}}'
    with pytest.raises(SettingsError, match='the MCP server gh: "command" must be'):
        load_servers(cwd, env, cli_configs=[bad])


# --- ${VAR} expansion ----------------------------------------------------------------


def test_variables_expand_in_every_field(env: dict[str, str], cwd: Path) -> None:
    write_json(
        cwd / ".mcp.json",
        {
            "mcpServers": {
                "local": {
                    "command": "${BIN}/srv",
                    "args": ["--root", "${ROOT:-/srv}", "$HOME", "${EMPTY:-unused}"],
                    "env": {"TOKEN": "${TOKEN}", "LEVEL": "${LEVEL:-info}"},
                },
                "remote": {
                    "url": "https://${HOST}/mcp",
                    "headers": {"Authorization": "Bearer ${TOKEN}", "X-Team": "${TEAM:-core}"},
                },
            }
        },
    )
    env.update(BIN="/opt/bin", TOKEN="t0k", HOST="example.com", EMPTY="", HOME="/home/me")

    found = by_name(load_servers(cwd, env).servers)

    local = found["local"]
    assert local.command == "/opt/bin/srv"
    # $HOME without braces is left alone; a variable set to "" is used, not its default.
    assert local.args == ("--root", "/srv", "$HOME", "")
    assert dict(local.env) == {"TOKEN": "t0k", "LEVEL": "info"}
    assert local.raw["command"] == "${BIN}/srv"
    remote = found["remote"]
    assert remote.url == "https://example.com/mcp"
    assert dict(remote.headers) == {"Authorization": "Bearer t0k", "X-Team": "core"}
    assert local.error is None and remote.error is None


def test_an_unset_variable_without_default_is_an_error_not_an_exception(
    env: dict[str, str], cwd: Path
) -> None:
    path = write_json(
        cwd / ".mcp.json",
        {
            "mcpServers": {
                "gh": {"command": "gh-mcp", "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}},
                "two": {"url": "https://${HOST}/x", "headers": {"A": "${KEY}"}},
            }
        },
    )

    found = by_name(load_servers(cwd, env).servers)

    assert found["gh"].error == (
        f"${{GITHUB_TOKEN}} (in env.GITHUB_TOKEN) is not set and has no default ({path})"
    )
    assert found["two"].error == (
        f"${{HOST}} (in url), ${{KEY}} (in headers.A) are not set and have no default ({path})"
    )


def test_a_url_that_expands_to_something_else_is_an_error(env: dict[str, str], cwd: Path) -> None:
    write_json(cwd / ".mcp.json", {"mcpServers": {"r": {"url": "${URL}"}}})
    env["URL"] = "localhost:8080/mcp"

    (server,) = load_servers(cwd, env).servers

    assert server.error is not None
    assert "does not start with http:// or https://" in server.error


# --- has_servers ---------------------------------------------------------------------


def test_has_servers(env: dict[str, str], cwd: Path) -> None:
    assert has_servers(cwd, env) is False
    assert has_servers(cwd, env, ['{"mcpServers": {}}']) is True
    write_json(cwd / ".mcp.json", {"mcpServers": {}})
    assert has_servers(cwd, env) is False
    write_json(cwd / ".mcp.json", {"mcpServers": {"p": {"command": "${UNSET}"}}})
    assert has_servers(cwd, env) is True
    (cwd / ".mcp.json").unlink()
    write_user(env, cwd, local={"l": {"command": "x"}})
    assert has_servers(cwd, env) is True


def test_a_broken_file_counts_as_servers_so_its_warning_is_seen(
    env: dict[str, str], cwd: Path
) -> None:
    (cwd / ".mcp.json").write_text("{", "utf-8")

    assert has_servers(cwd, env) is True


# --- writing -------------------------------------------------------------------------


def test_add_server_writes_each_scope_to_its_file(env: dict[str, str], cwd: Path) -> None:
    local = add_server(cwd, env, "local", "l", {"command": "a"})
    user = add_server(cwd, env, "user", "u", {"type": "http", "url": "https://u"})
    project = add_server(cwd, env, "project", "p", {"command": "p", "args": ["${X:-1}"]})

    assert local == user == user_file(env)
    assert project == cwd / ".mcp.json"
    assert json.loads(user.read_text()) == {
        "projects": {str(cwd.resolve()): {"mcpServers": {"l": {"command": "a"}}}},
        "mcpServers": {"u": {"type": "http", "url": "https://u"}},
    }
    text = project.read_text()
    assert json.loads(text) == {"mcpServers": {"p": {"command": "p", "args": ["${X:-1}"]}}}
    assert text.startswith('{\n  "mcpServers": {\n    "p": {')
    assert text.endswith("}\n")
    # Personal servers may hold keys; the project file is meant to be shared.
    assert stat.S_IMODE(user.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.stat().st_mode) == 0o644


def test_add_server_keeps_what_it_does_not_know(env: dict[str, str], cwd: Path) -> None:
    write_json(
        cwd / ".mcp.json",
        {"$schema": "x", "mcpServers": {"old": {"command": "o", "alwaysAllow": ["t"]}}},
    )

    add_server(cwd, env, "project", "new", {"command": "n"})

    assert json.loads((cwd / ".mcp.json").read_text()) == {
        "$schema": "x",
        "mcpServers": {"old": {"command": "o", "alwaysAllow": ["t"]}, "new": {"command": "n"}},
    }


def test_add_server_refuses_a_duplicate_in_the_same_scope(env: dict[str, str], cwd: Path) -> None:
    add_server(cwd, env, "local", "s", {"command": "first"})
    before = user_file(env).read_text()

    with pytest.raises(SettingsError, match="already in local scope") as caught:
        add_server(cwd, env, "local", "s", {"command": "second"})

    assert str(user_file(env)) in str(caught.value)
    assert "coda mcp remove s -s local" in str(caught.value)
    assert user_file(env).read_text() == before
    add_server(cwd, env, "user", "s", {"command": "another scope is fine"})


def test_add_server_validates_before_writing(env: dict[str, str], cwd: Path) -> None:
    with pytest.raises(SettingsError, match='the MCP server s: "url" must be a non-empty'):
        add_server(cwd, env, "project", "s", {"type": "sse"})
    with pytest.raises(SettingsError, match="not a usable server name"):
        add_server(cwd, env, "project", "a__b", {"command": "x"})
    assert not (cwd / ".mcp.json").exists()


def test_add_server_will_not_rewrite_a_broken_file(env: dict[str, str], cwd: Path) -> None:
    user_file(env).parent.mkdir(parents=True)
    user_file(env).write_text('{"mcpServers": ', "utf-8")

    with pytest.raises(SettingsError, match="coda will not rewrite it"):
        add_server(cwd, env, "user", "s", {"command": "x"})

    assert user_file(env).read_text() == '{"mcpServers": '


def test_remove_server_from_one_scope_or_all(env: dict[str, str], cwd: Path) -> None:
    for scope in ("local", "project", "user"):
        add_server(cwd, env, scope, "s", {"command": scope})
    add_server(cwd, env, "user", "keep", {"command": "k"})

    assert remove_server(cwd, env, "s", "project") == [cwd / ".mcp.json"]
    assert json.loads((cwd / ".mcp.json").read_text()) == {"mcpServers": {}}
    assert [s.scope for s in configured_servers(cwd, env)[0] if s.name == "s"] == ["local", "user"]

    assert remove_server(cwd, env, "s") == [user_file(env), user_file(env)]
    assert [s.name for s in configured_servers(cwd, env)[0]] == ["keep"]
    assert remove_server(cwd, env, "s") == []


# --- approvals -----------------------------------------------------------------------


def test_approvals_are_remembered_per_project(
    env: dict[str, str], cwd: Path, tmp_path: Path
) -> None:
    assert approval(cwd, env, "p") is None

    set_approval(cwd, env, ["p", "q"], approved=True)
    assert (approval(cwd, env, "p"), approval(cwd, env, "q")) == (True, True)

    set_approval(cwd, env, ["q"], approved=False)
    assert (approval(cwd, env, "p"), approval(cwd, env, "q")) == (True, False)
    project = json.loads(user_file(env).read_text())["projects"][str(cwd.resolve())]
    assert project == {"approvedServers": ["p"], "rejectedServers": ["q"]}

    other = tmp_path / "other"
    other.mkdir()
    assert approval(other, env, "p") is None


def test_reset_forgets_only_this_projects_choices(
    env: dict[str, str], cwd: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    add_server(cwd, env, "local", "mine", {"command": "x"})
    set_approval(cwd, env, ["p"], approved=True)
    set_approval(cwd, env, ["r"], approved=False)
    set_approval(other, env, ["p"], approved=True)

    reset_approvals(cwd, env)

    assert (approval(cwd, env, "p"), approval(cwd, env, "r")) == (None, None)
    assert approval(other, env, "p") is True
    assert [s.name for s in load_servers(cwd, env).servers] == ["mine"]


def test_reset_without_a_file_does_nothing(env: dict[str, str], cwd: Path) -> None:
    reset_approvals(cwd, env)

    assert not user_file(env).exists()


# --- limits --------------------------------------------------------------------------


def test_limits_default_and_from_env() -> None:
    assert limits({}) == McpLimits(startup_s=15.0, call_s=300.0, max_output_tokens=25_000)
    assert limits(
        {"MCP_TIMEOUT": "2500", "MCP_TOOL_TIMEOUT": "60000", "MAX_MCP_OUTPUT_TOKENS": "900"}
    ) == McpLimits(startup_s=2.5, call_s=60.0, max_output_tokens=900)
    assert limits({"MCP_TIMEOUT": " "}).startup_s == 15.0


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MCP_TIMEOUT", "15s"),
        ("MCP_TIMEOUT", "0"),
        ("MCP_TOOL_TIMEOUT", "-5"),
        ("MCP_TOOL_TIMEOUT", "inf"),
        ("MAX_MCP_OUTPUT_TOKENS", "2.5"),
    ],
)
def test_bad_limits_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{var}='{value}' is not a positive number"):
        limits({var: value})
