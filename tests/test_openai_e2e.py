"""`coda -p` against an OpenAI-compatible server: tool calls by index, usage, <think> tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import HTTPFault, Reply, Text, Thinking, ToolUse, Usage
from tests.helpers import clean_env, git_repo, openai_env, run_coda


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo", {"main.py": "print('hello')\n"})


def test_tool_loop_over_chat_completions(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply(
            [
                Text("Reading."),
                ToolUse("Read", {"file_path": "main.py"}),
                ToolUse("Grep", {"pattern": "hello"}),
            ],
            usage=Usage(100, 20, 0, 40),
        ),
        Reply("It prints hello.", usage=Usage(200, 10)),
    )
    run = run_coda(
        ["-p", "what does it do?", "--model", "openai/gpt-4o", "--output-format", "json"],
        cwd=repo,
        env=openai_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    out = run.json()
    assert out["result"] == "It prints hello."
    # prompt_tokens 140 with 40 cached: 100 fresh input plus 40 cache reads.
    assert out["usage"]["input_tokens"] == 300
    assert out["usage"]["cache_read_input_tokens"] == 40
    assert out["usage"]["output_tokens"] == 30
    assert out["total_cost_usd"] is not None
    first, second = (r.body for r in model_server.requests)
    assert first["stream"] is True and first["stream_options"] == {"include_usage": True}
    assert first["messages"][0]["role"] == "system"
    assert [t["function"]["name"] for t in first["tools"]][:2] == ["Read", "Write"]
    assistant = second["messages"][2]
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["Read", "Grep"]
    tools = [m for m in second["messages"] if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools] == [c["id"] for c in assistant["tool_calls"]]
    assert "print('hello')" in tools[0]["content"]
    assert model_server.requests[0].headers["authorization"] == "Bearer test-key"


def test_think_tags_become_thinking(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply([Thinking("user wants a greeting"), Text("Hello!")], openai_thinking="think_tags")
    )
    run = run_coda(
        ["-p", "greet", "--model", "openai/deepseek-r1:8b", "--output-format", "stream-json"],
        cwd=repo,
        env=openai_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    lines = run.lines()
    (assistant,) = [line for line in lines if line["type"] == "assistant"]
    blocks = assistant["message"]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "user wants a greeting", "signature": ""}
    assert blocks[1] == {"type": "text", "text": "Hello!"}
    assert lines[-1]["result"] == "Hello!"
    assert lines[-1]["total_cost_usd"] is None  # a local model coda has no price for


def test_local_server_without_key(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("local answer"))
    env = clean_env(home)
    env["OPENAI_BASE_URL"] = model_server.openai_base_url
    run = run_coda(["-p", "hi", "--model", "openai/qwen2.5-coder:7b"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert run.stdout == "local answer\n"
    assert "authorization" not in model_server.requests[0].headers
    assert model_server.requests[0].body["model"] == "qwen2.5-coder:7b"


def test_base_url_without_model_asks_for_one(repo: Path, home: Path) -> None:
    env = clean_env(home)
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    run = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert run.code == 2
    assert "--model openai/" in run.stderr


def test_reasoning_model_gets_effort(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("ok"))
    run = run_coda(
        ["-p", "think hard: why?", "--model", "openai/o4-mini"],
        cwd=repo,
        env=openai_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    body = model_server.requests[0].body
    assert body["reasoning_effort"] == "medium"
    assert "max_completion_tokens" in body and "max_tokens" not in body
    assert "temperature" not in body


def test_openai_429_is_retried(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(HTTPFault(429, retry_after=0), Reply("after retry"))
    run = run_coda(
        ["-p", "hi", "--model", "openai/gpt-4o"], cwd=repo, env=openai_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    assert run.stdout == "after retry\n"
    assert len(model_server.requests) == 2
