"""Fixtures for the file tools: a session context and real trees, some of them git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolOutput
from coda.tools.ripgrep import find_rg


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    return ToolContext(cwd=tmp_path)


@pytest.fixture
def no_rg(tmp_path_factory: pytest.TempPathFactory) -> str | None:
    """What the locator answers on a machine without rg: an empty scripts dir and PATH."""
    empty = tmp_path_factory.mktemp("no-rg")
    return find_rg(scripts_dir=str(empty), search_path=str(empty))


def text_of(output: ToolOutput) -> str:
    assert not output.is_error
    [block] = output.content
    assert block.type == "text"
    return block.text


def write(root: Path, rel: str, content: str | bytes = "", mtime: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    if mtime is not None:
        os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return path


def git_init(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
