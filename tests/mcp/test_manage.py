"""`coda mcp`: the subcommands run through main() with real files in temporary directories."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from coda.mcp.config import ServerConfig, load_servers
from coda.mcp.manage import Check, main
from coda.mcp.store import approval, set_approval
from tests.helpers import clean_env, run_coda
from tests.mcp.conftest import free_port, wait_for_port

OAUTH_SERVER = Path(__file__).parent / "servers" / "oauth_server.py"


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class Coda:
    """`coda mcp …` in one project directory with its own config directory."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *argv: str, check: Check | None = None, **kw: Any) -> Result:
        out, err = io.StringIO(), io.StringIO()
        code = main(
            list(argv),
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=err,
            stdin=io.StringIO(""),
            check=check,
            **kw,
        )
        return Result(code, out.getvalue(), err.getvalue())

    @property
    def user_file(self) -> Path:
        return Path(self.env["CODA_CONFIG_DIR"]) / "mcp.json"

    def user_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.user_file.read_text())
        return data

    def local_servers(self) -> dict[str, Any]:
        servers: dict[str, Any] = self.user_json()["projects"][str(self.cwd.resolve())][
            "mcpServers"
        ]
        return servers

    def project_json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.cwd / ".mcp.json").read_text())
        return data


@pytest.fixture
def coda(tmp_path: Path) -> Coda:
    project = tmp_path / "project"
    project.mkdir()
    return Coda(
        project,
        {"CODA_CONFIG_DIR": str(tmp_path / "config"), "CODA_DATA_DIR": str(tmp_path / "data")},
    )


# --- add -----------------------------------------------------------------------------


def test_add_a_stdio_server_after_double_dash(coda: Coda) -> None:
    result = coda("add", "-e", "API_KEY=abc=def", "files", "--", "npx", "-y", "server", "/tmp")

    assert result.code == 0, result.err
    assert result.out == f"Added stdio MCP server files to local scope ({coda.user_file}).\n"
    assert coda.local_servers() == {
        "files": {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "server", "/tmp"],
            "env": {"API_KEY": "abc=def"},
        }
    }


def test_the_servers_options_need_no_double_dash_after_the_command(coda: Coda) -> None:
    assert coda("add", "-s", "user", "git", "uvx", "mcp-server-git", "--repo", ".").code == 0

    assert coda.user_json()["mcpServers"]["git"]["args"] == ["mcp-server-git", "--repo", "."]


def test_add_an_http_server_to_the_project(coda: Coda) -> None:
    result = coda(
        "add",
        "-s",
        "project",
        "-t",
        "http",
        "-H",
        "Authorization: Bearer ${SENTRY_TOKEN}",
        "-H",
        "X-Team:core",
        "sentry",
        "https://mcp.sentry.dev/mcp",
    )

    assert result.code == 0, result.err
    assert "coda mcp approve sentry" in result.out
    assert coda.project_json() == {
        "mcpServers": {
            "sentry": {
                "type": "http",
                "url": "https://mcp.sentry.dev/mcp",
                "headers": {"Authorization": "Bearer ${SENTRY_TOKEN}", "X-Team": "core"},
            }
        }
    }
    assert not coda.user_file.exists()


def test_a_url_alone_is_an_http_server_and_sse_is_asked_for(coda: Coda) -> None:
    assert coda("add", "remote", "https://example.com/mcp").code == 0
    assert coda("add", "-t", "sse", "old", "https://example.com/sse").code == 0

    servers = coda.local_servers()
    assert servers["remote"] == {"type": "http", "url": "https://example.com/mcp"}
    assert servers["old"] == {"type": "sse", "url": "https://example.com/sse"}


def test_a_duplicate_in_the_same_scope_is_refused(coda: Coda) -> None:
    coda("add", "files", "--", "first")
    before = coda.user_file.read_text()

    result = coda("add", "files", "--", "second")

    assert result.code == 1
    assert result.err == (
        f"coda mcp add: an MCP server named files is already in local scope ({coda.user_file}): "
        "remove it first with `coda mcp remove files -s local`, or choose another name\n"
    )
    assert coda.user_file.read_text() == before
    assert coda("add", "-s", "user", "files", "--", "second").code == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-H", "A: b", "s", "cmd"], "-H/--header is for http and sse servers"),
        (["-t", "http", "s", "https://x", "extra"], "unexpected arguments: extra"),
        (["-t", "http", "-e", "A=1", "s", "https://x"], "-e/--env is for stdio servers"),
        (["-e", "NOEQUALS", "s", "cmd"], "-e/--env 'NOEQUALS' must look like KEY=VALUE"),
        (["-t", "sse", "-H", "nocolon", "s", "https://x"], "must look like 'KEY: VALUE'"),
    ],
)
def test_add_usage_errors(coda: Coda, argv: list[str], message: str) -> None:
    result = coda("add", *argv)

    assert result.code == 2
    assert message in result.err
    assert not coda.user_file.exists()


def test_argparse_errors_are_usage_errors_on_the_given_stream(coda: Coda) -> None:
    result = coda("add", "-s", "global", "s", "cmd")

    assert result.code == 2
    assert "invalid choice: 'global'" in result.err
    assert result.out == ""


def test_a_bad_name_or_entry_fails_with_the_reason(coda: Coda) -> None:
    result = coda("add", "my__server", "cmd")
    assert result.code == 1
    assert "'__' separates the server from the tool" in result.err

    result = coda("add", "-t", "http", "s", "localhost:8080")
    assert result.code == 1
    assert '"url" must start with http:// or https://' in result.err
    assert not coda.user_file.exists()


def test_add_json(coda: Coda) -> None:
    entry = {"command": "docker", "args": ["run", "-i", "img"], "env": {"T": "${T:-x}"}}

    result = coda("add-json", "-s", "project", "docker", json.dumps(entry))

    assert result.code == 0, result.err
    assert result.out.startswith("Added stdio MCP server docker to project scope")
    assert coda.project_json() == {"mcpServers": {"docker": entry}}

    remote = coda("add-json", "remote", '{"type": "streamable-http", "url": "https://x/mcp"}')
    assert remote.out == f"Added http MCP server remote to local scope ({coda.user_file}).\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{bad", "the JSON for s is not valid: Expecting property name"),
        ('{"mcpServers": {}}', 'not a whole {"mcpServers": …} file'),
        ('["npx"]', "must be a JSON object"),
        ('{"type": "sse"}', '"url" must be a non-empty string'),
    ],
)
def test_add_json_refuses_bad_entries(coda: Coda, text: str, message: str) -> None:
    result = coda("add-json", "s", text)

    assert result.code == 1
    assert message in result.err
    assert not coda.user_file.exists()


# --- list ----------------------------------------------------------------------------


def test_list_shows_every_server_and_why_some_would_not_start(coda: Coda) -> None:
    coda("add", "-s", "user", "files", "--", "old-command")
    coda("add", "files", "--", "npx", "-y", "srv", "/my dir")
    coda("add", "-s", "project", "-t", "http", "remote", "https://x/mcp")
    coda("add", "-s", "project", "shared", "--", "srv")
    coda("add-json", "-s", "project", "gh", '{"command": "gh", "env": {"T": "${GH_TOKEN}"}}')
    set_approval(coda.cwd, coda.env, ["shared"], approved=False)

    result = coda("list")

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "files: npx -y srv '/my dir' (stdio, local; overrides user)",
        "remote: https://x/mcp (http, project) - needs approval (`coda mcp approve remote`)",
        "shared: srv (stdio, project) - rejected in this project "
        "(`coda mcp approve shared` to allow it)",
        "gh: gh (stdio, project) - error: ${GH_TOKEN} (in env.T) is not set and has no "
        f"default ({coda.cwd / '.mcp.json'})",
    ]


def test_list_runs_the_health_check_on_servers_that_may_start(coda: Coda) -> None:
    coda("add", "a", "--", "srv-a")
    coda("add", "-s", "user", "b", "--", "srv-b")
    coda("add", "-s", "project", "p", "--", "srv-p")
    coda("add-json", "broken", '{"command": "${NOPE}"}')
    asked: list[list[str]] = []

    def check(servers: list[ServerConfig], env: Mapping[str, str], cwd: Path) -> dict[str, str]:
        assert cwd == coda.cwd and env is coda.env
        asked.append([s.name for s in servers])
        return {"a": "✓ connected", "b": "✗ failed: exited with status 1"}

    result = coda("list", check=check)

    assert asked == [["a", "b"]]
    lines = result.out.splitlines()
    assert lines[0] == "Checking MCP server health…"
    assert "a: srv-a (stdio, local) - ✓ connected" in lines
    assert "b: srv-b (stdio, user) - ✗ failed: exited with status 1" in lines
    assert "p: srv-p (stdio, project) - needs approval (`coda mcp approve p`)" in lines

    assert "Checking" not in coda("list", "--no-check", check=check).out
    assert asked == [["a", "b"]]


def test_list_with_nothing_configured_says_how_to_add(coda: Coda) -> None:
    result = coda("list")

    assert result.code == 0
    assert result.out.startswith("No MCP servers configured. Add one with `coda mcp add NAME")


def test_list_warns_about_a_file_it_cannot_read(coda: Coda) -> None:
    (coda.cwd / ".mcp.json").write_text("{ nope", "utf-8")
    coda("add", "mine", "--", "srv")

    result = coda("list")

    assert result.code == 0
    assert result.out == "mine: srv (stdio, local)\n"
    assert result.err.startswith(f"coda mcp: warning: {coda.cwd / '.mcp.json'}:1:3: invalid JSON")
    assert result.err.rstrip().endswith("its MCP servers are skipped")


# --- get -----------------------------------------------------------------------------


def test_get_shows_the_entry_as_written_with_secrets_masked(coda: Coda) -> None:
    coda("add", "-s", "user", "svc", "--", "other")
    entry = {
        "command": "svc",
        "args": ["--port", "80 80"],
        "env": {
            "API_KEY": "sk-live-1234567890abcd",
            "GITHUB_TOKEN": "${GITHUB_TOKEN}",
            "SHORT_SECRET": "hunter2",
            "LEVEL": "debug",
        },
        "timeout": 5000,
    }
    coda("add-json", "svc", json.dumps(entry))

    result = coda("get", "svc")

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "svc:",
        "  scope: local (yours, this project only)",
        f"  file: {coda.user_file}",
        "  type: stdio",
        "  command: svc",
        "  args: --port '80 80'",
        "  env:",
        "    API_KEY: ********abcd",
        "    GITHUB_TOKEN: ${GITHUB_TOKEN}",
        "    SHORT_SECRET: ********",
        "    LEVEL: debug",
        "  timeout: 5000",
        "  error: ${GITHUB_TOKEN} (in env.GITHUB_TOKEN) is not set and has no default "
        f"({coda.user_file})",
        f"  also in: user scope ({coda.user_file}), overridden by this one",
        "",
        "To remove it: coda mcp remove svc -s local",
    ]
    assert "sk-live" not in result.out and "hunter2" not in result.out


def test_get_masks_secret_headers_of_a_project_server(coda: Coda) -> None:
    headers = {
        "Authorization": "Bearer abcdefghijklmnopqrstuvwxyz",
        "X-Api-Key": "Bearer ${KEY}",
        "Accept": "application/json",
    }
    entry = {"type": "sse", "url": "https://x/sse", "headers": headers}
    coda("add-json", "-s", "project", "remote", json.dumps(entry))
    set_approval(coda.cwd, coda.env, ["remote"], approved=True)

    out = coda("get", "remote").out

    assert "  type: sse" in out
    assert "  url: https://x/sse" in out
    assert "    Authorization: ********wxyz" in out
    assert "    X-Api-Key: Bearer ${KEY}" in out
    assert "    Accept: application/json" in out
    assert "  approval: approved in this project" in out


def test_get_an_unknown_server(coda: Coda) -> None:
    coda("add", "a", "--", "x")

    result = coda("get", "b")

    assert result.code == 1
    assert (
        result.err == "coda mcp get: no MCP server named b (configured: a); see `coda mcp list`\n"
    )


# --- remove --------------------------------------------------------------------------


def test_remove_asks_which_scope_when_the_name_is_in_several(coda: Coda) -> None:
    coda("add", "s", "--", "local-cmd")
    coda("add", "-s", "project", "s", "--", "project-cmd")

    result = coda("remove", "s")

    assert result.code == 1
    assert result.err == (
        f"coda mcp remove: s is in local scope ({coda.user_file}) and project scope "
        f"({coda.cwd / '.mcp.json'}); say which with `-s local` or `-s project`\n"
    )
    assert "s" in coda.local_servers() and "s" in coda.project_json()["mcpServers"]

    result = coda("remove", "-s", "project", "s")

    assert result.code == 0
    assert result.out == f"Removed MCP server s from project scope ({coda.cwd / '.mcp.json'}).\n"
    assert coda.project_json() == {"mcpServers": {}}
    assert coda.local_servers() == {"s": {"type": "stdio", "command": "local-cmd", "args": []}}

    assert coda("remove", "s").code == 0
    assert coda.local_servers() == {}


def test_remove_from_the_wrong_scope_or_an_unknown_name(coda: Coda) -> None:
    coda("add", "-s", "user", "u", "--", "x")

    wrong = coda("remove", "-s", "local", "u")
    assert wrong.code == 1
    assert "u is not in local scope; it is in user scope" in wrong.err
    assert "`coda mcp remove u -s user`" in wrong.err

    unknown = coda("remove", "nope")
    assert unknown.code == 1
    assert "no MCP server named nope in any scope (configured: u)" in unknown.err
    assert coda.user_json()["mcpServers"] == {"u": {"type": "stdio", "command": "x", "args": []}}


# --- approvals -----------------------------------------------------------------------


def test_approve_by_name_and_all_then_reset(coda: Coda) -> None:
    for name in ("a", "b", "c"):
        coda("add", "-s", "project", name, "--", "srv")

    result = coda("approve", "a")
    assert result.code == 0, result.err
    assert result.out.startswith(f"Approved a from {coda.cwd / '.mcp.json'}")
    assert [approval(coda.cwd, coda.env, n) for n in "abc"] == [True, None, None]
    assert [s.name for s in load_servers(coda.cwd, coda.env).servers] == ["a", "b", "c"]
    assert "a: srv (stdio, project)\n" in coda("list").out

    set_approval(coda.cwd, coda.env, ["c"], approved=False)
    assert coda("approve", "--all").code == 0
    assert [approval(coda.cwd, coda.env, n) for n in "abc"] == [True, True, True]

    result = coda("reset-project-choices")
    assert result.code == 0
    assert "coda asks again" in result.out
    assert [approval(coda.cwd, coda.env, n) for n in "abc"] == [None, None, None]


def test_approve_refuses_what_is_not_in_the_project_file(coda: Coda) -> None:
    nothing = coda("approve", "--all")
    assert nothing.code == 1
    assert "lists no MCP servers, so there is nothing to approve" in nothing.err

    coda("add", "-s", "project", "p", "--", "srv")
    coda("add", "mine", "--", "srv")
    unknown = coda("approve", "p", "mine")
    assert unknown.code == 1
    assert unknown.err == (
        f"coda mcp approve: mine: not in {coda.cwd / '.mcp.json'} (its servers: p)\n"
    )
    assert approval(coda.cwd, coda.env, "p") is None

    assert coda("approve").code == 2
    assert coda("approve", "--all", "p").code == 2


# --- login, help ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(OAUTH_SERVER), "--port", str(port)], stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_login_authorizes_and_saves_tokens(coda: Coda, oauth_server: str) -> None:
    coda("add", "-t", "http", "remote", f"{oauth_server}/mcp")
    opened: list[str] = []

    def browser(url: str) -> None:
        opened.append(url)
        answer = httpx2.get(url, follow_redirects=True, timeout=5)
        assert answer.status_code == 200, answer.text

    result = coda("login", "remote", open_url=browser)

    assert result.code == 0, result.err
    assert result.out == "Logged in to remote; coda will use the saved authorization.\n"
    assert len(opened) == 1 and opened[0].startswith(f"{oauth_server}/authorize?")
    (saved,) = (Path(coda.env["CODA_DATA_DIR"]) / "mcp-auth").glob("remote-*.json")
    assert json.loads(saved.read_text())["tokens"]["access_token"]


def test_login_failures(coda: Coda) -> None:
    coda("add", "local", "--", "srv")
    coda("add", "-t", "http", "closed", f"http://127.0.0.1:{free_port()}/mcp")
    coda("add-json", "unset", '{"url": "https://${NO_HOST}/mcp"}')

    stdio = coda("login", "local")
    assert stdio.code == 1
    assert "local is a stdio server, which coda starts itself: there is no login" in stdio.err

    unset = coda("login", "unset")
    assert unset.code == 1
    assert "unset cannot be used: ${NO_HOST} (in url) is not set" in unset.err

    closed = coda("login", "closed", open_url=lambda url: None)
    assert closed.code == 1
    assert closed.err.startswith("coda mcp login: login to MCP server 'closed' failed")

    assert coda("login", "nobody").code == 1


def test_help_and_no_command(coda: Coda) -> None:
    helped = coda("--help")
    assert helped.code == 0
    assert helped.out.startswith("usage: coda mcp")
    assert "reset-project-choices" in helped.out

    add_help = coda("add", "--help")
    assert add_help.code == 0
    assert "coda mcp add -t http sentry https://mcp.sentry.dev/mcp" in add_help.out

    bare = coda()
    assert bare.code == 2
    assert bare.err.startswith("usage: coda mcp")


def test_coda_mcp_list_from_the_command_line(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".mcp.json").write_text(
        json.dumps({"mcpServers": {"files": {"command": "npx", "args": ["srv", "${DIR:-/tmp}"]}}})
    )
    env = clean_env(tmp_path)

    run = run_coda(["mcp", "list"], cwd=project, env=env)

    assert run.code == 0, run.stderr
    assert run.stdout == (
        "files: npx srv '${DIR:-/tmp}' (stdio, project) - needs approval "
        "(`coda mcp approve files`)\n"
    )
