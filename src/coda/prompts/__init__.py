"""Prompt templates, kept as files beside the code that fills them."""

from __future__ import annotations

from pathlib import Path
from string import Template


def render(name: str, **values: str) -> str:
    # A plain path, not importlib.resources: that import alone costs ~30 ms at start-up,
    # and coda is installed as files, never zipped.
    text = (Path(__file__).parent / f"{name}.md").read_text("utf-8")
    return Template(text).safe_substitute(values).rstrip() + "\n"
