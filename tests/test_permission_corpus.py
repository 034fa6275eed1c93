"""The corpus, end to end: the real CLI, headless, under narrow allow rules.

Every dangerous command is sent as a Bash call by the fake model. None may run: each
decision must be a refusal, no sentinel file may appear, and coda's own config must be
untouched. Benign read-only commands must run without asking.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env, run_coda
from tests.permissions.corpus import BENIGN, DANGEROUS

NARROW_RULES = [
    [],  # only the built-in read-only list
    ["Bash(ls:*)"],
    ["Bash(echo:*)"],
    ["Bash(git status:*)", "Bash(git log:*)"],
    ["Bash(cat:*)", "Bash(find:*)", "Bash(rg:*)"],
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "README.md").write_text("# demo\n")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("def main():\n    return 1\n")
    (root / "x").write_text("x\n")
    (root / "package.json").write_text('{"name": "demo"}\n')
    return root


def snapshot(repo: Path) -> dict[str, bytes]:
    """coda's own config, which nothing in the corpus may change."""
    watched = [repo / ".git" / "config", repo / ".git" / "hooks"]
    out: dict[str, bytes] = {}
    for root in watched:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            if path.is_file():
                out[str(path)] = path.read_bytes()
    for name in (".coda", ".claude", ".mcp.json"):
        out[name] = b"present" if (repo / name).exists() else b"absent"
    return out


def run_calls(
    server: ModelServer, repo: Path, home: Path, commands: list[str], rules: list[str]
) -> list[dict[str, object]]:
    """One headless run in which the model calls Bash once per command; the decisions."""
    server.enqueue(
        Reply([ToolUse("Bash", {"command": c, "timeout": 5000}) for c in commands]),
        Reply("done"),
    )
    args = ["-p", "run these", "--output-format", "stream-json"]
    for rule in rules:
        args += ["--allowedTools", rule]
    run = run_coda(args, cwd=repo, env=anthropic_env(server, home), timeout=300)
    assert run.code == 0, run.stderr[-2000:]
    decisions = [
        line
        for line in run.lines()
        if line.get("subtype") == "permission" and line["tool"] == "Bash"
    ]
    assert len(decisions) == len(commands)
    return decisions


@pytest.mark.parametrize("rules", NARROW_RULES, ids=lambda r: "+".join(r) or "read-only-list")
def test_no_dangerous_command_runs_without_consent(
    model_server: ModelServer, repo: Path, tmp_path: Path, rules: list[str]
) -> None:
    assert len(DANGEROUS) >= 150
    sentinels = tmp_path / "sentinels"
    sentinels.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    commands = [c.replace("SENTINEL", str(sentinels / f"s{i}")) for i, c in enumerate(DANGEROUS)]
    before = snapshot(repo)
    decisions = run_calls(model_server, repo, home, commands, rules)
    allowed = [
        (command, d["reason"])
        for command, d in zip(commands, decisions, strict=True)
        if d["decision"] != "deny"
    ]
    assert allowed == [], f"{len(allowed)} dangerous commands were allowed"
    assert sorted(p.name for p in sentinels.iterdir()) == []
    assert snapshot(repo) == before


def test_benign_read_only_commands_do_not_ask(
    model_server: ModelServer, repo: Path, tmp_path: Path
) -> None:
    assert len(BENIGN) >= 100
    home = tmp_path / "home"
    home.mkdir()
    decisions = run_calls(model_server, repo, home, list(BENIGN), [])
    asked = [
        (command, d["reason"])
        for command, d in zip(BENIGN, decisions, strict=True)
        if d["decision"] == "deny"
    ]
    # The target: at most 2 % of everyday read-only commands ask.
    assert len(asked) <= len(BENIGN) * 0.02, asked
