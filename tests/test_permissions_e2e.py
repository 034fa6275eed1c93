"""Permission modes, settings and the sandbox through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env, git_repo, result_text, run_coda, tool_results


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo", {"app.py": "print('hi')\n"})


def permission_lines(stdout: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return [line for line in lines if line.get("subtype") == "permission"]


def test_accept_edits_mode_and_settings_rules(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text(
        json.dumps(
            {"permissions": {"allow": ["Bash(python3 app.py)"], "deny": ["Read(./secret.txt)"]}}
        )
    )
    (repo / "secret.txt").write_text("s3cret\n")
    model_server.enqueue(
        Reply(
            [
                ToolUse("Write", {"file_path": "new.py", "content": "x = 1\n"}),
                ToolUse("Bash", {"command": "python3 app.py"}),
                ToolUse("Read", {"file_path": "secret.txt"}),
            ]
        ),
        Reply("ok"),
    )
    run = run_coda(
        ["-p", "go", "--permission-mode", "acceptEdits", "--output-format", "stream-json"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert (repo / "new.py").read_text() == "x = 1\n"
    write, bash, read = tool_results(model_server.requests[1].body)
    assert not write.get("is_error") and not bash.get("is_error")
    assert "hi" in result_text(bash)
    assert read["is_error"] and "s3cret" not in result_text(read)
    decisions = permission_lines(run.stdout)
    assert [d["decision"] for d in decisions] == ["allow", "allow", "deny"]
    assert decisions[1]["rule"] == "Bash(python3 app.py)"
    assert decisions[2]["rule"] == "Read(./secret.txt)"
    init = json.loads(run.stdout.splitlines()[0])
    assert init["permissionMode"] == "acceptEdits"


def test_plan_mode_is_read_only_and_offers_exit_plan_mode(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Edit", {"file_path": "app.py", "old_string": "hi", "new_string": "yo"})]),
        Reply([ToolUse("ExitPlanMode", {"plan": "1. change the greeting"})]),
        Reply("Here is the plan: change the greeting."),
    )
    run = run_coda(
        ["-p", "plan it", "--permission-mode", "plan", "--allowedTools", "Edit"],
        cwd=repo,
        env=anthropic_env(model_server, home),
    )
    assert run.code == 0, run.stderr
    assert (repo / "app.py").read_text() == "print('hi')\n"
    assert "ExitPlanMode" in [t["name"] for t in model_server.requests[0].body["tools"]]
    (edit,) = tool_results(model_server.requests[1].body)
    assert edit["is_error"] and "plan mode is read-only" in result_text(edit)


def test_bypass_as_root_needs_the_sandbox(
    repo: Path, home: Path, model_server: ModelServer
) -> None:
    env = anthropic_env(model_server, home)
    if os.geteuid() == 0:
        run = run_coda(["-p", "x", "--dangerously-skip-permissions"], cwd=repo, env=env)
        assert run.code == 2 and "--sandbox" in run.stderr
    else:
        # An ordinary user may bypass without the sandbox.
        model_server.enqueue(Reply("ok"))
        run = run_coda(["-p", "x", "--dangerously-skip-permissions"], cwd=repo, env=env)
        assert run.code == 0, run.stderr
    model_server.enqueue(Reply([ToolUse("Bash", {"command": "touch made.txt"})]), Reply("done"))
    run = run_coda(["-p", "x", "--dangerously-skip-permissions", "--sandbox"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert (repo / "made.txt").exists()


def test_sandboxed_bash_runs_without_asking_but_cannot_escape(
    model_server: ModelServer, repo: Path, home: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    model_server.enqueue(
        Reply(
            [
                ToolUse("Bash", {"command": "echo built > out.txt && cat out.txt"}),
                ToolUse("Bash", {"command": f"touch {outside}/escaped"}),
                ToolUse("Bash", {"command": "echo evil > .git/hooks/pre-commit"}),
            ]
        ),
        Reply("done"),
    )
    run = run_coda(["-p", "build", "--sandbox"], cwd=repo, env=anthropic_env(model_server, home))
    assert run.code == 0, run.stderr
    inside, escape, hook = tool_results(model_server.requests[1].body)
    assert "built" in result_text(inside)
    assert (repo / "out.txt").read_text() == "built\n"
    assert not (outside / "escaped").exists()
    assert "Read-only file system" in result_text(escape) or "Exit code" in result_text(escape)
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert "Exit code" in result_text(hook)


def test_cli_settings_and_invalid_settings(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply([ToolUse("Bash", {"command": "touch t.txt"})]), Reply("ok"))
    inline = json.dumps({"permissions": {"allow": ["Bash(touch t.txt)"]}})
    env = anthropic_env(model_server, home)
    run = run_coda(["-p", "x", "--settings", inline], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert (repo / "t.txt").exists()
    (repo / ".coda").mkdir()
    (repo / ".coda" / "settings.json").write_text('{"permissions": {"allow": [3]}}')
    run = run_coda(["-p", "x"], cwd=repo, env=env)
    assert run.code == 2
    assert "settings.json" in run.stderr and "permissions.allow[0]" in run.stderr


def test_missing_bubblewrap_is_said_once_and_bash_asks(
    model_server: ModelServer, repo: Path, home: Path, tmp_path: Path
) -> None:
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "env", "git", "flock", "find", "touch", "cat"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    model_server.enqueue(
        Reply(
            [
                ToolUse("Bash", {"command": "touch a.txt"}),
                ToolUse("Bash", {"command": "touch b.txt"}),
            ]
        ),
        Reply("done"),
    )
    env = anthropic_env(model_server, home, PATH=str(bin_dir))
    run = run_coda(["-p", "x", "--sandbox"], cwd=repo, env=env)
    assert run.code == 0, run.stderr
    assert run.stderr.count("bubblewrap is missing") == 1
    assert "apt-get install bubblewrap" in run.stderr
    assert not (repo / "a.txt").exists() and not (repo / "b.txt").exists()
    results = tool_results(model_server.requests[1].body)
    assert all(r["is_error"] for r in results)
