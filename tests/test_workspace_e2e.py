"""The workspace tools through the real CLI: edits keep bytes, Bash runs in the session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env, git_repo, result_text, run_coda, tool_results


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo")


def test_edit_keeps_crlf_and_latin1_bytes(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    original = "naïve = 1\r\nvalue = 2\r\ncafé = 3\r\n".encode("latin-1")
    (repo / "legacy.py").write_bytes(original)
    model_server.enqueue(
        Reply([ToolUse("Read", {"file_path": "legacy.py"})]),
        Reply(
            [
                ToolUse(
                    "Edit",
                    {
                        "file_path": "legacy.py",
                        "old_string": "value = 2",
                        "new_string": "value = 42",
                    },
                )
            ]
        ),
        Reply("Changed it."),
    )
    run = run_coda(
        ["-p", "set value to 42", "--allowedTools", "Edit", "--verbose"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert (repo / "legacy.py").read_bytes() == original.replace(b"value = 2", b"value = 42")
    (edit_result,) = tool_results(model_server.requests[2].body)[-1:]
    assert "-value = 2" in result_text(edit_result) and "+value = 42" in result_text(edit_result)
    assert "+value = 42" in run.stderr  # the diff is shown to the person


def test_mutating_tools_are_refused_without_permission(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "touch created.txt"})]),
        Reply([ToolUse("Write", {"file_path": "new.txt", "content": "x"})]),
        Reply("I could not."),
    )
    run = run_coda(["-p", "make files"], cwd=repo, env=anthropic_env(model_server, home))
    assert run.code == 0, run.stderr
    assert not (repo / "created.txt").exists() and not (repo / "new.txt").exists()
    results = [tool_results(r.body)[-1] for r in model_server.requests[1:]]
    assert all(r["is_error"] for r in results)
    # The refusal names the narrow rule that would allow exactly this command.
    assert '--allowedTools "Bash(touch created.txt)"' in result_text(results[0])
    assert '--allowedTools "Write(./new.txt)"' in result_text(results[1]) or "Edit(" in result_text(
        results[1]
    )


def test_bash_session_keeps_cwd_and_env_and_jobs_end(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    (repo / "sub").mkdir()
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "cd sub && export GREETING=hello"})]),
        Reply([ToolUse("Bash", {"command": "pwd; echo $GREETING"})]),
        Reply([ToolUse("Bash", {"command": "sleep 300", "run_in_background": True})]),
        Reply("done"),
    )
    run = run_coda(
        ["-p", "explore", "--allowedTools", "Bash", "--output-format", "json"],
        cwd=repo,
        env=anthropic_env(model_server, home),
        timeout=60,
    )
    assert run.code == 0, run.stderr
    second = result_text(tool_results(model_server.requests[2].body)[-1])
    assert str(repo / "sub") in second and "hello" in second
    started = result_text(tool_results(model_server.requests[3].body)[-1])
    assert "bash_1" in started
    # The background sleep ended with the session: no process of it is left.
    leftover = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""


def test_todo_list_is_shown_to_the_person(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    todos = [
        {"content": "Read the code", "status": "completed", "activeForm": "Reading the code"},
        {"content": "Fix the bug", "status": "in_progress", "activeForm": "Fixing the bug"},
        {"content": "Run the tests", "status": "pending", "activeForm": "Running the tests"},
    ]
    model_server.enqueue(Reply([ToolUse("TodoWrite", {"todos": todos})]), Reply("planned"))
    run = run_coda(["-p", "plan", "--verbose"], cwd=repo, env=anthropic_env(model_server, home))
    assert run.code == 0, run.stderr
    for item in ("Read the code", "Fix the bug", "Run the tests"):
        assert item in run.stderr
    result = result_text(tool_results(model_server.requests[1].body)[-1])
    assert "1 completed" in result and "1 in progress" in result and "1 pending" in result
