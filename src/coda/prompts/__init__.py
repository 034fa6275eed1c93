"""Prompt templates, kept as files beside the code that fills them."""

from __future__ import annotations

from importlib import resources
from string import Template


def render(name: str, **values: str) -> str:
    text = (resources.files("coda.prompts") / f"{name}.md").read_text("utf-8")
    return Template(text).safe_substitute(values).rstrip() + "\n"
