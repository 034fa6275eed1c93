"""`coda -p` end to end: the real CLI, tools and files; a fake model at the network edge."""

from __future__ import annotations

import datetime
import json
import platform
import uuid
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import (
    CutStream,
    HTTPFault,
    RawToolUse,
    RedactedThinking,
    Reply,
    StreamError,
    Text,
    Thinking,
    ToolUse,
    Usage,
)
from tests.helpers import anthropic_env, clean_env, git_repo, result_text, run_coda, tool_results

OLD_SONNET = "claude-3-7-sonnet-20250219"
ALL_TOOLS = [
    "Read", "Write", "Edit", "MultiEdit", "Glob", "Grep", "LS",
    "Bash", "BashOutput", "KillShell", "TodoWrite", "WebFetch",
]  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(
        tmp_path / "repo",
        {
            "README.md": "# demo\nA tiny calculator.\n",
            "calc.py": "def add(a, b):\n    return a + b\n",
        },
    )


def test_two_turn_read_then_answer(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply([Text("Let me look."), ToolUse("Read", {"file_path": "calc.py"})]),
        Reply("It is a calculator with an add function."),
    )
    run = run_coda(
        ["-p", "What does this repository do?"], cwd=repo, env=anthropic_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    assert run.stdout == "It is a calculator with an add function.\n"
    first, second = (r.body for r in model_server.requests)
    assert first["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "What does this repository do?",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        }
    ]
    assert [t["name"] for t in first["tools"]] == ALL_TOOLS
    assert str(repo) in first["system"][0]["text"]
    system = first["system"][0]["text"]
    assert "Git repository: yes" in system
    assert f"Date: {datetime.date.today().isoformat()}" in system
    assert f"Platform: {platform.system()}" in system
    assert "## No commits yet on" in system or "## master" in system or "## main" in system
    (result,) = tool_results(second)
    assert not result.get("is_error")
    assert "def add(a, b):" in result_text(result)
    assert "1\tdef add(a, b):" in result_text(result)  # numbered like cat -n


def test_json_result_fields_and_cost(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply([ToolUse("Glob", {"pattern": "*.py"})], usage=Usage(1000, 100, 2000, 0)),
        Reply("calc.py", usage=Usage(500, 50, 0, 3000)),
    )
    run = run_coda(
        ["-p", "list python files", "--output-format", "json", "--model", OLD_SONNET],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    out = run.json()
    assert out["type"] == "result" and out["subtype"] == "success" and out["is_error"] is False
    assert out["result"] == "calc.py"
    assert out["num_turns"] == 2
    uuid.UUID(out["session_id"])
    assert out["duration_ms"] >= out["duration_api_ms"] >= 0
    assert out["usage"] == {
        "input_tokens": 1500,
        "output_tokens": 150,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 3000,
        "thinking_tokens": 0,
    }
    # $3 in, $15 out, $3.75 cache write, $0.30 cache read per million tokens.
    expected = (1500 * 3 + 150 * 15 + 2000 * 3.75 + 3000 * 0.30) / 1e6
    assert out["total_cost_usd"] == pytest.approx(expected)


def test_unknown_model_reports_unknown_cost(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply("hi", usage=Usage(10, 5)))
    run = run_coda(
        ["-p", "hi", "--output-format", "json", "--model", "anthropic/claude-future-9"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert run.json()["total_cost_usd"] is None
    assert "cost is unknown" in run.stderr
    assert model_server.requests[0].body["model"] == "claude-future-9"


def test_stream_json_shape_with_thinking(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply([Thinking("I should read the README."), ToolUse("Read", {"file_path": "README.md"})]),
        Reply([Thinking("Now I know."), Text("A tiny calculator.")]),
    )
    run = run_coda(
        [
            "-p",
            "what is this?",
            "--output-format",
            "stream-json",
            "--model",
            OLD_SONNET,
            "--thinking-budget",
            "2048",
        ],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    lines = run.lines()
    init = lines[0]
    assert (init["type"], init["subtype"]) == ("system", "init")
    assert init["model"] == OLD_SONNET and init["cwd"] == str(repo)
    assert init["tools"] == ALL_TOOLS
    session = init["session_id"]
    assert all(line["session_id"] == session for line in lines)
    kinds = [line["type"] for line in lines]
    assert kinds[-1] == "result" and lines[-1]["result"] == "A tiny calculator."
    messages = [line for line in lines if line["type"] in ("assistant", "user")]
    assert [m["type"] for m in messages] == ["assistant", "user", "assistant"]
    assert messages[0]["message"]["content"][0]["type"] == "thinking"
    assert messages[1]["message"]["content"][0]["type"] == "tool_result"
    thinking = "".join(
        line["event"]["delta"]["thinking"] for line in lines if line["type"] == "stream_event"
    )
    assert thinking == "I should read the README.Now I know."


def test_thinking_budget_and_blocks_returned_verbatim(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply(
            [
                Thinking("plan: read both"),
                ToolUse("Read", {"file_path": "calc.py"}),
                RedactedThinking("EncryptedOpaque=="),
                Thinking("then the readme"),
                ToolUse("Read", {"file_path": "README.md"}),
            ]
        ),
        Reply([Thinking("done"), Text("ok")]),
    )
    run = run_coda(
        ["-p", "explain", "--model", "claude-sonnet-4-5-20250929", "--thinking-budget", "5000"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    first, second = model_server.requests
    assert first.body["thinking"] == {"type": "enabled", "budget_tokens": 5000}
    assert "temperature" not in first.body
    assert first.headers.get("anthropic-beta") == "interleaved-thinking-2025-05-14"
    sent = model_server.sent[0]
    assistant = second.body["messages"][1]
    assert assistant["role"] == "assistant"
    played = [b for b in sent.reply.content if isinstance(b, Thinking)]
    returned = [b for b in assistant["content"] if b["type"] == "thinking"]
    assert [(b["thinking"], b["signature"]) for b in returned] == [
        (b.thinking, b.signature) for b in played
    ]
    assert {"type": "redacted_thinking", "data": "EncryptedOpaque=="} in assistant["content"]
    assert [b["type"] for b in assistant["content"]] == [
        "thinking",
        "tool_use",
        "redacted_thinking",
        "thinking",
        "tool_use",
    ]


@pytest.mark.parametrize(
    ("prompt", "budget"),
    [("think about it", 4_000), ("think hard about it", 10_000), ("ultrathink: why?", 31_999)],
)
def test_prompt_keywords_set_budget(
    model_server: ModelServer, repo: Path, home: Path, prompt: str, budget: int
) -> None:
    model_server.enqueue(Reply("ok"))
    run = run_coda(
        ["-p", prompt, "--model", OLD_SONNET], cwd=repo, env=anthropic_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    body = model_server.requests[0].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert budget < body["max_tokens"] <= 64_000


def test_budget_above_max_tokens_raises_it_and_says_so(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply("ok"))
    env = anthropic_env(model_server, home, MAX_THINKING_TOKENS="20000")
    run = run_coda(["-p", "hi", "--model", OLD_SONNET, "--max-tokens", "16000"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    body = model_server.requests[0].body
    assert body["thinking"]["budget_tokens"] == 20_000
    assert body["max_tokens"] > 20_000
    assert "max_tokens raised" in run.stderr


def test_adaptive_model_gets_effort(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("ok"))
    run = run_coda(
        ["-p", "think hard: hi", "--model", "sonnet"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    body = model_server.requests[0].body
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "medium"}


def test_thinking_off_by_default(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("ok"))
    run = run_coda(
        ["-p", "hello", "--model", OLD_SONNET], cwd=repo, env=anthropic_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    assert "thinking" not in model_server.requests[0].body


def test_bad_tool_calls_become_error_results(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply(
            [
                RawToolUse("Read", '{"file_path": "calc.py"'),
                ToolUse("Teleport", {"to": "mars"}),
                ToolUse("Read", {"path": "calc.py"}),
                ToolUse("Read", {"file_path": "missing.py"}),
                ToolUse("Read", {"file_path": "calc.py"}),
            ]
        ),
        Reply("recovered"),
    )
    run = run_coda(
        ["-p", "go", "--output-format", "json"], cwd=repo, env=anthropic_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    assert run.json()["result"] == "recovered"
    results = tool_results(model_server.requests[1].body)
    assert [bool(r.get("is_error")) for r in results] == [True, True, True, True, False]
    texts = [result_text(r) for r in results]
    assert "not valid JSON" in texts[0]
    assert "No tool named 'Teleport'" in texts[1]
    assert "missing required field 'file_path'" in texts[2]
    assert "missing.py" in texts[3]
    assert "return a + b" in texts[4]


def test_disallowed_tool_is_removed_and_refused(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply([ToolUse("Grep", {"pattern": "add"})]), Reply("fine"))
    run = run_coda(
        ["-p", "search", "--disallowedTools", "Grep"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    first, second = model_server.requests
    assert "Grep" not in [t["name"] for t in first.body["tools"]]
    (result,) = tool_results(second.body)
    assert result["is_error"] is True


def test_max_turns_stops_with_valid_transcript(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply([ToolUse("LS", {"path": str(repo)})]))
    run = run_coda(
        ["-p", "look", "--max-turns", "1", "--output-format", "json"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 1
    out = run.json()
    assert out["subtype"] == "error_max_turns" and out["is_error"] is True and out["num_turns"] == 1
    assert len(model_server.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [
        HTTPFault(429, retry_after=0),
        HTTPFault(529),
        HTTPFault(500),
        CutStream(Reply("partial answer that will be cut"), after_events=3),
        StreamError(Reply("partial"), after_events=2, error_type="overloaded_error"),
    ],
    ids=["429", "529", "500", "cut-stream", "mid-stream-error"],
)
def test_faults_are_retried_without_rerunning_tools(
    model_server: ModelServer, repo: Path, home: Path, fault: object
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Read", {"file_path": "calc.py"})]),
        fault,  # type: ignore[arg-type]
        Reply("answer"),
    )
    run = run_coda(
        ["-p", "go", "--output-format", "json"], cwd=repo, env=anthropic_env(model_server, home)
    )
    assert run.code == 0, run.stderr
    assert run.json()["result"] == "answer"
    assert "retrying" in run.stderr
    second, third = model_server.requests[1].body, model_server.requests[2].body
    # The retried request is the same request: the tool ran once, its result is reused.
    assert second["messages"] == third["messages"]
    assert len(tool_results(third)) == 1


def test_retries_exhausted_gives_clear_error(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(*[HTTPFault(529)] * 3)
    env = anthropic_env(model_server, home, CODA_MAX_RETRIES="2")
    run = run_coda(["-p", "go", "--output-format", "json"], cwd=repo, env=env)
    assert run.code == 1
    out = run.json()
    assert out["subtype"] == "error_during_execution" and out["is_error"] is True
    assert "529" in out["result"] and "3 attempts" in out["result"]
    assert len(model_server.requests) == 3


def test_auth_headers(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("a"), Reply("b"))
    env = anthropic_env(model_server, home)
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    env.pop("ANTHROPIC_API_KEY")
    env["ANTHROPIC_AUTH_TOKEN"] = "bearer-token"
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    first, second = model_server.requests
    assert first.headers["x-api-key"] == "test-key" and "authorization" not in first.headers
    assert (
        second.headers["authorization"] == "Bearer bearer-token"
        and "x-api-key" not in second.headers
    )
    assert first.headers["anthropic-version"] == "2023-06-01"


def test_cache_breakpoints(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(
        Reply([ToolUse("Read", {"file_path": "calc.py"})]),
        Reply([ToolUse("Read", {"file_path": "README.md"})]),
        Reply("done"),
    )
    assert run_coda(["-p", "go"], cwd=repo, env=anthropic_env(model_server, home)).code == 0
    third = model_server.requests[2].body
    assert third["system"][0]["cache_control"] == {"type": "ephemeral"}
    marked = [i for i, m in enumerate(third["messages"]) if "cache_control" in m["content"][-1]]
    assert marked == [2, 4]  # the previous tool results and the newest ones


def test_prompt_from_stdin(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("from stdin"))
    run = run_coda(["-p"], cwd=repo, env=anthropic_env(model_server, home), stdin="what is this?\n")
    assert run.code == 0, run.stderr
    assert run.stdout == "from stdin\n"
    assert model_server.requests[0].body["messages"][0]["content"][0]["text"] == "what is this?\n"


def test_system_prompt_flags(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("a"), Reply("b"))
    env = anthropic_env(model_server, home)
    assert run_coda(["-p", "x", "--system-prompt", "You are terse."], cwd=repo, env=env).code == 0
    assert (
        run_coda(["-p", "x", "--append-system-prompt", "Answer in French."], cwd=repo, env=env).code
        == 0
    )
    first, second = (r.body["system"][0]["text"] for r in model_server.requests)
    assert first == "You are terse."
    assert second.startswith("You are coda") and second.endswith("Answer in French.")


def test_no_provider_configured(repo: Path, home: Path) -> None:
    run = run_coda(["-p", "hello"], cwd=repo, env=clean_env(home))
    assert run.code == 2
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        assert name in run.stderr
    assert "Traceback" not in run.stderr


def test_model_from_settings_and_env(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("a"), Reply("b"))
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text(json.dumps({"model": OLD_SONNET}))
    env = anthropic_env(model_server, home)
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    env["CODA_MODEL"] = "haiku"
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    first, second = (r.body["model"] for r in model_server.requests)
    assert first == OLD_SONNET
    assert second.startswith("claude-haiku")


def test_broken_settings_file_is_named(repo: Path, home: Path) -> None:
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text('{"model": ')
    env = clean_env(home)
    env["ANTHROPIC_API_KEY"] = "k"
    run = run_coda(["-p", "x"], cwd=repo, env=env)
    assert run.code == 2
    assert ".coda/settings.json:1" in run.stderr


def test_version_and_help(repo: Path, home: Path) -> None:
    from coda import __version__

    version = run_coda(["--version"], cwd=repo, env=clean_env(home))
    assert version.code == 0 and __version__ in version.stdout
    helptext = run_coda(["--help"], cwd=repo, env=clean_env(home))
    assert helptext.code == 0
    for flag in (
        "--output-format",
        "--max-turns",
        "--model",
        "--allowedTools",
        "--thinking-budget",
    ):
        assert flag in helptext.stdout


def test_system_prompt_git_guidance_and_trailer_setting(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply("a"), Reply("b"))
    env = anthropic_env(model_server, home)
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text(json.dumps({"includeCoAuthoredBy": False}))
    assert run_coda(["-p", "x"], cwd=repo, env=env).code == 0
    on, off = (r.body["system"][0]["text"] for r in model_server.requests)
    for system in (on, off):
        assert "force-push" in system and "--no-verify" in system
        assert "Stage the files you mean to commit by name" in system
    assert "Co-Authored-By: coda" in on
    assert "Co-Authored-By" not in off


def test_bad_setting_type_is_named(repo: Path, home: Path) -> None:
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text(json.dumps({"includeCoAuthoredBy": "no"}))
    env = clean_env(home)
    env["ANTHROPIC_API_KEY"] = "k"
    run = run_coda(["-p", "x"], cwd=repo, env=env)
    assert run.code == 2
    assert "includeCoAuthoredBy" in run.stderr and "settings.json" in run.stderr
