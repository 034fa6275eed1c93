"""Sessions through the real CLI: transcripts on disk, --continue, --resume, forks,
`coda sessions`, cost by kind and --max-budget-usd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coda.providers.catalog import get_model_info
from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, Text, Thinking, ToolUse, Usage
from tests.helpers import anthropic_env, git_repo, run_coda

SONNET = "claude-sonnet-5-5"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo", {"notes.txt": "hello\n"})


def _transcripts(home: Path) -> list[Path]:
    return sorted((home / "data" / "projects").glob("*/*.jsonl"))


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _texts(body: dict[str, object]) -> str:
    return json.dumps(body["messages"])


def test_continue_picks_up_the_conversation(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    env = anthropic_env(model_server, home)
    model_server.enqueue(Reply("Noted: the code word is PELICAN."))
    first = run_coda(
        ["-p", "Remember the code word PELICAN", "--output-format", "json"], cwd=repo, env=env
    )
    assert first.code == 0, first.stderr
    session_id = json.loads(first.stdout)["session_id"]
    [path] = _transcripts(home)
    assert path.name == f"{session_id}.jsonl"
    types = [r["type"] for r in _records(path)]
    assert types == ["session", "checkpoint", "message", "message", "snapshot"] or types[:4] == [
        "session",
        "checkpoint",
        "message",
        "message",
    ]

    model_server.enqueue(Reply("The code word was PELICAN."))
    second = run_coda(
        ["-c", "-p", "What was the code word?", "--output-format", "json"], cwd=repo, env=env
    )
    assert second.code == 0, second.stderr
    assert json.loads(second.stdout)["session_id"] == session_id
    body = model_server.requests[-1].body
    assert "Remember the code word PELICAN" in _texts(body)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert "resumed session" in second.stderr
    assert _transcripts(home) == [path]  # appended to the same file


def test_resume_by_id_prefix_and_fork(model_server: ModelServer, repo: Path, home: Path) -> None:
    env = anthropic_env(model_server, home)
    model_server.enqueue(Reply("first answer"))
    first = run_coda(["-p", "first question", "--output-format", "json"], cwd=repo, env=env)
    old_id = json.loads(first.stdout)["session_id"]
    [old_path] = _transcripts(home)
    before = old_path.read_bytes()

    model_server.enqueue(Reply("forked answer"))
    fork = run_coda(
        ["-r", old_id[:8], "--fork-session", "-p", "second", "--output-format", "json"],
        cwd=repo,
        env=env,
    )
    assert fork.code == 0, fork.stderr
    new_id = json.loads(fork.stdout)["session_id"]
    assert new_id != old_id
    assert old_path.read_bytes() == before  # the parent is untouched
    assert "first question" in _texts(model_server.requests[-1].body)
    new_path = old_path.with_name(f"{new_id}.jsonl")
    assert _records(new_path)[0]["forked_from"] == old_id

    listing = run_coda(["sessions"], cwd=repo, env=env)
    assert listing.code == 0
    assert old_id in listing.stdout and new_id in listing.stdout
    row = next(line for line in listing.stdout.splitlines() if line.startswith(new_id))
    assert "first question" in row and " 2 " in row and "$" in row


def test_resume_errors_are_clear(model_server: ModelServer, repo: Path, home: Path) -> None:
    env = anthropic_env(model_server, home)
    missing = run_coda(["-c", "-p", "hi"], cwd=repo, env=env)
    assert missing.code == 2 and "no earlier session" in missing.stderr
    unknown = run_coda(["-r", "nope", "-p", "hi"], cwd=repo, env=env)
    assert unknown.code == 2 and "coda sessions" in unknown.stderr
    no_id = run_coda(["-r", "-p", "hi"], cwd=repo, env=env)
    assert no_id.code == 2 and "needs a session id" in no_id.stderr
    lone_fork = run_coda(["--fork-session", "-p", "hi"], cwd=repo, env=env)
    assert lone_fork.code == 2 and "--continue or --resume" in lone_fork.stderr


def test_damaged_transcript_still_resumes(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    env = anthropic_env(model_server, home)
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "echo hi"})]),
        Reply("done"),
    )
    first = run_coda(
        ["-p", "say hi", "--allowedTools", "Bash(echo:*)", "--output-format", "json"],
        cwd=repo,
        env=env,
    )
    assert first.code == 0, first.stderr
    [path] = _transcripts(home)
    lines = path.read_bytes().splitlines(keepends=True)
    # Lose the tool result and the final answer, garble one line, tear the end.
    kept = [ln for ln in lines if b'"tool_result"' not in ln and b'"done"' not in ln]
    path.write_bytes(b"".join(kept[:2]) + b"garbage\n" + b"".join(kept[2:]) + b'{"type":"mess')
    model_server.enqueue(Reply("resumed fine"))
    second = run_coda(["-c", "-p", "again"], cwd=repo, env=env)
    assert second.code == 0, second.stderr
    assert "resumed fine" in second.stdout
    assert "cut short" in second.stderr and "unreadable line" in second.stderr
    assert "had no result" in second.stderr
    body = model_server.requests[-1].body
    results = [
        b for m in body["messages"] if m["role"] == "user" for b in m["content"]
        if isinstance(b, dict) and b.get("type") == "tool_result"
    ]  # fmt: skip
    assert len(results) == 1 and results[0]["is_error"]  # paired with a synthetic error


def test_cost_by_kind_and_thinking_tokens(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    env = anthropic_env(model_server, home)
    model_server.enqueue(
        Reply(
            [Thinking("x" * 400), Text("ok")],
            usage=Usage(
                input_tokens=1000,
                output_tokens=500,
                cache_creation_input_tokens=2000,
                cache_read_input_tokens=4000,
            ),
        )
    )
    run = run_coda(
        ["-p", "hi", "--model", SONNET, "--thinking-budget", "2000", "--output-format", "json"],
        cwd=repo,
        env=env,
    )
    assert run.code == 0, run.stderr
    result = json.loads(run.stdout)
    usage, kinds = result["usage"], result["cost_usd_by_kind"]
    assert usage["thinking_tokens"] == 100  # 400 characters of thinking, estimated
    assert set(kinds) == {"input", "output", "cache_write", "cache_read", "thinking"}
    assert kinds["cache_read"] < kinds["cache_write"]
    total = kinds["input"] + kinds["output"] + kinds["cache_write"] + kinds["cache_read"]
    assert result["total_cost_usd"] == pytest.approx(total)
    assert kinds["thinking"] == pytest.approx(kinds["output"] * 100 / 500)


def test_budget_stops_the_run_with_a_valid_transcript(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    env = anthropic_env(model_server, home)
    price = get_model_info(SONNET).input_price  # type: ignore[union-attr]
    assert price is not None
    # Each request costs a little over `price` dollars; the budget is passed on the second.
    expensive = Usage(input_tokens=100_000, output_tokens=10)
    budget = str(price * 0.15)
    model_server.enqueue(
        *[Reply([ToolUse("Glob", {"pattern": "*"})], usage=expensive) for _ in range(2)],
    )
    run = run_coda(
        ["-p", "loop", "--model", SONNET, "--max-budget-usd", budget, "--output-format", "json"],
        cwd=repo,
        env=env,
    )
    assert run.code == 1
    result = json.loads(run.stdout)
    assert result["subtype"] == "error_max_budget_usd" and result["is_error"]
    assert result["num_turns"] == 2 and result["total_cost_usd"] >= float(budget)
    assert "budget" in result["result"]
    model_server.enqueue(Reply("back"))
    again = run_coda(["-c", "-p", "go on", "--model", SONNET], cwd=repo, env=env)
    assert again.code == 0, again.stderr  # the stop left every call answered


def test_budget_needs_known_prices(model_server: ModelServer, repo: Path, home: Path) -> None:
    env = anthropic_env(model_server, home)
    run = run_coda(
        ["-p", "hi", "--model", "anthropic/mystery-1", "--max-budget-usd", "1"], cwd=repo, env=env
    )
    assert run.code == 2 and "catalog" in run.stderr


def test_memory_files_reach_the_model(model_server: ModelServer, repo: Path, home: Path) -> None:
    env = anthropic_env(model_server, home)
    (home / "config").mkdir()
    (home / "config" / "CODA.md").write_text("USER-RULE: answer briefly\n")
    (repo / "AGENTS.md").write_text("AGENTS-RULE: run make test\n@docs/style.md\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "style.md").write_text("STYLE-RULE: tabs\n")
    (repo / "CLAUDE.md").write_text("CLAUDE-RULE: `@not/imported.md`\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "CODA.md").write_text("NESTED-RULE: sub is special\n")
    (repo / "sub" / "x.py").write_text("print(1)\n")
    model_server.enqueue(Reply([ToolUse("Read", {"file_path": "sub/x.py"})]), Reply("done"))
    run = run_coda(["-p", "read sub/x.py"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    first, second = (r.body for r in model_server.requests)
    system = json.dumps(first["system"])
    order = [system.index(k) for k in ("USER-RULE", "AGENTS-RULE", "STYLE-RULE", "CLAUDE-RULE")]
    assert order == sorted(order)
    assert "NESTED-RULE" not in system and "NESTED-RULE" not in json.dumps(first["messages"])
    # The nested file arrives with the first Read below it, after the system prompt.
    assert "NESTED-RULE" in json.dumps(second["messages"][-1])
    assert json.dumps(second["system"]) == system  # the cached prefix did not change
