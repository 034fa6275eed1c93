"""MCP through the real CLI: config files and flags, approval, permissions, resources, prompts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env, git_repo, result_text, run_coda, tool_results
from tests.mcp.conftest import everything_bin, faulty_command


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo")


def everything_entry() -> dict[str, Any]:
    return {"command": "node", "args": [str(everything_bin()), "stdio"]}


def faulty_entry(*extra: str) -> dict[str, Any]:
    cmd, args = faulty_command(*extra)
    return {"command": cmd, "args": args}


def config(**servers: dict[str, Any]) -> str:
    return json.dumps({"mcpServers": servers})


def tool_names(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body.get("tools", [])]


def test_tool_call_through_the_cli_with_allow_rule(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("mcp__everything__echo", {"message": "from the model"})]),
        Reply("The server echoed it."),
    )
    run = run_coda(
        [
            "-p",
            "echo something",
            "--mcp-config",
            config(everything=everything_entry()),
            "--allowedTools",
            "mcp__everything",
            "--output-format",
            "stream-json",
            "--verbose",
        ],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    first = model_server.requests[0].body
    names = tool_names(first)
    assert "mcp__everything__echo" in names and names.index("Read") < names.index(
        "mcp__everything__echo"
    )
    echo = next(t for t in first["tools"] if t["name"] == "mcp__everything__echo")
    assert echo["input_schema"]["required"] == ["message"]
    (result,) = tool_results(model_server.requests[1].body)
    assert result_text(result) == "Echo: from the model" and not result.get("is_error")
    init = run.lines()[0]
    assert init["subtype"] == "init"
    assert {"name": "everything", "status": "connected"} in init["mcp_servers"]
    assert "mcp__everything__echo" in init["tools"]


def test_mcp_tools_ask_by_default_and_deny_rules_win(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("mcp__everything__echo", {"message": "x"})]),
        Reply("refused"),
        Reply([ToolUse("mcp__everything__echo", {"message": "y"})]),
        Reply("refused again"),
    )
    cfg = config(everything=everything_entry())
    env = anthropic_env(model_server, home)
    asked = run_coda(["-p", "echo", "--mcp-config", cfg], cwd=repo, env=env)
    assert asked.code == 0, asked.stderr
    (result,) = tool_results(model_server.requests[1].body)
    assert result.get("is_error") and "Permission denied" in result_text(result)
    denied = run_coda(
        [
            "-p",
            "echo",
            "--mcp-config",
            cfg,
            "--allowedTools",
            "mcp__everything",
            "--disallowedTools",
            ["mcp__everything__echo", "x)"][0],
        ],
        cwd=repo,
        env=env,
    )
    # A bare tool name in --disallowedTools removes the tool; the model's call finds nothing.
    (result,) = tool_results(model_server.requests[3].body)
    assert result.get("is_error"), denied.stderr
    assert "mcp__everything__echo" not in tool_names(model_server.requests[2].body)


def test_project_servers_need_approval_and_expand_variables(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    marker = home / "started"
    entry = faulty_entry("--marker", "${MARKER_DIR}/started")
    entry["env"] = {"GREETING": "${GREETING:-hello}"}
    (repo / ".mcp.json").write_text(config(faulty=entry))
    model_server.enqueue(Reply("no tools yet"), Reply("now with tools"))
    env = anthropic_env(model_server, home, MARKER_DIR=str(home))
    first = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert first.code == 0, first.stderr
    assert "coda mcp approve faulty" in first.stderr
    assert not marker.exists()
    assert "mcp__faulty__echo" not in tool_names(model_server.requests[0].body)
    approve = run_coda(["mcp", "approve", "faulty"], cwd=repo, env=env)
    assert approve.code == 0, approve.stderr
    second = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert second.code == 0, second.stderr
    assert marker.exists()  # ${MARKER_DIR} was expanded in args
    assert "mcp__faulty__echo" in tool_names(model_server.requests[1].body)
    # --strict-mcp-config: only the servers given on the command line.
    model_server.enqueue(Reply("strict"))
    strict = run_coda(
        ["-p", "hi", "--strict-mcp-config", "--mcp-config", config(everything=everything_entry())],
        cwd=repo,
        env=env,
    )
    assert strict.code == 0, strict.stderr
    names = tool_names(model_server.requests[2].body)
    assert "mcp__everything__echo" in names and not any(n.startswith("mcp__faulty") for n in names)


def test_resource_mentions_and_prompt_commands(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    cfg = config(everything=everything_entry())
    env = anthropic_env(model_server, home)
    model_server.enqueue(Reply("read it"), Reply("weather done"))
    run = run_coda(
        [
            "-p",
            "summarise @everything:demo://resource/static/document/architecture.md please",
            "--mcp-config",
            cfg,
        ],
        cwd=repo,
        env=env,
    )
    assert run.code == 0, run.stderr
    sent = json.dumps(model_server.requests[0].body["messages"][-1])
    assert 'uri=\\"demo://resource/static/document/architecture.md\\"' in sent
    assert "Architecture" in sent or "architecture" in sent
    run = run_coda(
        ["-p", "/mcp__everything__args-prompt Lisbon", "--mcp-config", cfg], cwd=repo, env=env
    )
    assert run.code == 0, run.stderr
    sent = json.dumps(model_server.requests[1].body["messages"][-1])
    assert "Lisbon" in sent
    bad = run_coda(["-p", "/mcp__everything__args-prompt", "--mcp-config", cfg], cwd=repo, env=env)
    assert bad.code == 2 and "missing city" in bad.stderr


def test_a_server_that_never_answers_does_not_hold_the_run(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    silent = {
        "command": "python3",
        "args": ["-c", "import sys, time; sys.stdin.read(); time.sleep(60)"],
    }
    model_server.enqueue(Reply("answered anyway"))
    env = anthropic_env(model_server, home, MCP_TIMEOUT="1500")
    started = time.monotonic()
    run = run_coda(
        ["-p", "hi", "--mcp-config", config(silent=silent, everything=everything_entry())],
        cwd=repo,
        env=env,
    )
    elapsed = time.monotonic() - started
    assert run.code == 0, run.stderr
    assert "answered anyway" in run.stdout
    assert "silent failed" in run.stderr and "1.5 s" in run.stderr
    assert elapsed < 1.5 + 8, elapsed
    assert "mcp__everything__echo" in tool_names(model_server.requests[0].body)


def test_permission_prompt_tool_answers_for_the_person(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Write", {"file_path": "ok.txt", "content": "allowed\n"})]),
        Reply([ToolUse("Bash", {"command": "touch nope.txt"})]),
        Reply("done"),
    )
    run = run_coda(
        [
            "-p",
            "write and touch",
            "--mcp-config",
            config(faulty=faulty_entry()),
            "--permission-prompt-tool",
            "mcp__faulty__permit",
        ],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert (repo / "ok.txt").read_text() == "stamped: allowed\n"  # its updatedInput ran
    assert not (repo / "nope.txt").exists()
    bash_result = tool_results(model_server.requests[2].body)[-1]
    assert "faulty refuses Bash" in result_text(bash_result)
    no_server = run_coda(
        ["-p", "x", "--permission-prompt-tool", "mcp__x__y"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert no_server.code == 2 and "no MCP server is configured" in no_server.stderr


def test_later_runs_send_the_first_request_while_servers_start(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    """The tool list of a server is remembered: the next run's first request does not wait
    for it, and a call made before it is up waits for it instead."""
    cfg = config(faulty=faulty_entry("--slow-start", "3"))
    env = anthropic_env(model_server, home)
    model_server.enqueue(Reply("first run"))
    started = time.monotonic()
    first = run_coda(["-p", "hi", "--mcp-config", cfg], cwd=repo, env=env)
    assert first.code == 0, first.stderr
    assert model_server.requests[0].at - started >= 3  # waited for the server's list
    model_server.enqueue(
        Reply([ToolUse("mcp__faulty__echo", {"text": "early"})]),
        Reply("done"),
    )
    started = time.monotonic()
    second = run_coda(
        ["-p", "hi", "--mcp-config", cfg, "--allowedTools", "mcp__faulty"], cwd=repo, env=env
    )
    assert second.code == 0, second.stderr
    assert model_server.requests[1].at - started < 2.5  # did not wait
    assert "mcp__faulty__echo" in tool_names(model_server.requests[1].body)
    (result,) = tool_results(model_server.requests[2].body)
    assert result_text(result) == "echo: early"  # the call waited for the server


def test_no_servers_means_no_sdk_import(model_server: ModelServer, repo: Path, home: Path) -> None:
    from tests.ui.test_lazy_imports import imported

    model_server.enqueue(Reply("plain"), Reply("with a server"))
    env = anthropic_env(model_server, home)
    names = imported(["-p", "hi"], env, repo)
    assert "coda.headless" in names
    assert not [n for n in names if n.split(".")[0] in ("mcp", "mcp_types")]
    # Only the config lookup: nothing of the client, the manager or the tools.
    light = {"coda.mcp.config", "coda.mcp.store"}
    assert not [n for n in names if n.startswith("coda.mcp.") and n not in light]
    names = imported(["-p", "hi", "--mcp-config", config(faulty=faulty_entry())], env, repo)
    assert "mcp.client.stdio" in names


def test_mcp_list_checks_health(repo: Path, home: Path, model_server: ModelServer) -> None:
    env = anthropic_env(model_server, home)
    added = run_coda(
        ["mcp", "add", "ev", "--", "node", str(everything_bin()), "stdio"], cwd=repo, env=env
    )
    assert added.code == 0 and "Checking ev… connected (" in added.stdout, added.stdout
    # Checked once on adding: its tool list is remembered for the first run.
    assert list((home / "data" / "mcp-cache").glob("ev-*.json"))
    gone = run_coda(["mcp", "add", "gone", "--", "/nonexistent/server"], cwd=repo, env=env)
    assert gone.code == 0 and "failed: its command was not found" in gone.stdout
    assert "saved all the same" in gone.stdout
    listed = run_coda(["mcp", "list"], cwd=repo, env=env)
    assert listed.code == 0, listed.stderr
    lines = {line.split(":")[0]: line for line in listed.stdout.splitlines() if ": " in line}
    assert "connected (14 tools)" in lines["ev"] or "connected (" in lines["ev"]
    assert "failed: its command was not found" in lines["gone"]


def test_a_list_change_mid_turn_reaches_the_next_request(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("mcp__faulty__grow", {})]),
        Reply([ToolUse("mcp__faulty__extra", {})]),
        Reply("done"),
    )
    run = run_coda(
        [
            "-p",
            "grow",
            "--mcp-config",
            config(faulty=faulty_entry()),
            "--allowedTools",
            "mcp__faulty",
        ],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert "mcp__faulty__extra" not in tool_names(model_server.requests[0].body)
    assert "mcp__faulty__extra" in tool_names(model_server.requests[1].body)
    assert result_text(tool_results(model_server.requests[2].body)[-1]) == "extra here"


def test_claude_code_settings_decide_project_servers(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    (repo / ".mcp.json").write_text(config(faulty=faulty_entry()))
    (repo / ".claude").mkdir()
    (repo / ".claude" / "settings.json").write_text(
        json.dumps({"enableAllProjectMcpServers": True})
    )
    env = anthropic_env(model_server, home)
    model_server.enqueue(Reply("enabled by settings"), Reply("disabled by settings"))
    run = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert "unknown setting" not in run.stderr and "coda mcp approve" not in run.stderr
    assert "mcp__faulty__echo" in tool_names(model_server.requests[0].body)
    # A refusal in settings wins, even over an approval given before.
    assert run_coda(["mcp", "approve", "faulty"], cwd=repo, env=env).code == 0
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.local.json").write_text(
        json.dumps({"disabledMcpjsonServers": ["faulty"]})
    )
    run = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert not any(n.startswith("mcp__faulty") for n in tool_names(model_server.requests[1].body))
