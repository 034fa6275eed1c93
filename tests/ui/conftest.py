"""Fixtures for the terminal tests: a repository, a home, and coda running in tmux."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.model_server import ModelServer
from tests.helpers import anthropic_env, git_repo
from tests.ui.tmux import Terminal, have_tmux

StartCoda = Callable[..., Terminal]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_repo(tmp_path / "repo", {"notes.txt": "alpha\nbeta\n"})


@pytest.fixture
def start_coda(model_server: ModelServer, repo: Path, home: Path) -> Iterator[StartCoda]:
    """Start `coda ARGS` in tmux against the fake model server; every tmux server it started
    is killed when the test ends, pass or fail."""
    if not have_tmux():
        pytest.skip("tmux is not installed")
    started: list[Terminal] = []

    def start(
        *args: str,
        width: int = 100,
        height: int = 30,
        color: bool = False,
        lang: str = "C.UTF-8",
        **extra_env: str,
    ) -> Terminal:
        env = anthropic_env(model_server, home, LANG=lang, TERM="tmux-256color", **extra_env)
        if color:
            env.pop("NO_COLOR", None)
        term = Terminal(list(args), cwd=repo, env=env, width=width, height=height)
        started.append(term)
        term.wait_ready()
        return term

    yield start
    for term in started:
        term.close()
