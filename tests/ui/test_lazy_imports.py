"""`coda --version` and `coda -p` never load the terminal UI's libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply
from tests.helpers import anthropic_env, clean_env
from tests.ui.tmux import ROOT

HEAVY = ("rich", "prompt_toolkit", "pygments", "markdown_it")


def imported(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coda", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT / "src")},
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_version_imports_no_ui_library(tmp_path: Path) -> None:
    names = imported(["--version"], clean_env(tmp_path), tmp_path)
    assert "coda.cli" in names
    assert not [n for n in names if n.split(".")[0] in HEAVY]


def test_print_mode_imports_no_ui_library(model_server: ModelServer, tmp_path: Path) -> None:
    model_server.enqueue(Reply("done"))
    names = imported(["-p", "hi"], anthropic_env(model_server, tmp_path), tmp_path)
    assert "coda.headless" in names
    assert not [n for n in names if n.split(".")[0] in HEAVY]
