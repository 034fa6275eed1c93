"""Running the real `coda` CLI in a subprocess against the fake model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.model_server import ModelServer


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.stdout)
        return result

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def git_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A fresh git repository at `root` holding `files` (path: text), not committed."""
    root.mkdir(parents=True)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def clean_env(home: Path) -> dict[str, str]:
    """An environment with no provider keys and private config and data directories."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANTHROPIC_", "OPENAI_", "CODA_")) and k != "MAX_THINKING_TOKENS"
    }
    env.update(
        # The code under test, even if the installed coda points at another checkout.
        PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
        HOME=str(home),
        CODA_CONFIG_DIR=str(home / "config"),
        CODA_DATA_DIR=str(home / "data"),
        CODA_RETRY_BASE_DELAY="0.01",
        NO_COLOR="1",
    )
    return env


def run_coda(
    args: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin: str | None = None,
    timeout: float = 60,
) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "coda", *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def anthropic_env(server: ModelServer, home: Path, **extra: str) -> dict[str, str]:
    env = clean_env(home)
    env.update(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=server.anthropic_base_url)
    env.update(extra)
    return env


def openai_env(server: ModelServer, home: Path, **extra: str) -> dict[str, str]:
    env = clean_env(home)
    env.update(OPENAI_API_KEY="test-key", OPENAI_BASE_URL=server.openai_base_url)
    env.update(extra)
    return env


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every tool_result block in an Anthropic request body, in order."""
    return [
        block
        for message in body["messages"]
        if message["role"] == "user" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content)
