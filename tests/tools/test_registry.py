"""The registry and the built-in tools' declarations as the model sees them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coda.tools.base import ToolContext, validate_input
from coda.tools.registry import ToolRegistry, builtin_tools
from tests.tools.conftest import text_of, write

ALL_TOOLS = [
    "Read", "Write", "Edit", "MultiEdit", "Glob", "Grep", "LS",
    "Bash", "BashOutput", "KillShell", "TodoWrite", "WebFetch",
]  # fmt: skip
READ_ONLY = {"Read", "Glob", "Grep", "LS", "BashOutput", "TodoWrite"}


def test_builtin_tools_register_by_name() -> None:
    registry = ToolRegistry(builtin_tools())
    assert registry.names() == ALL_TOOLS
    read = registry.get("Read")
    assert read is not None and read.name == "Read"
    assert registry.get("Teleport") is None
    specs = registry.specs()
    assert [s.name for s in specs] == registry.names()
    assert specs[0].description == read.description
    assert specs[0].input_schema is read.input_schema


def test_duplicate_names_are_refused() -> None:
    registry = ToolRegistry(builtin_tools())
    with pytest.raises(ValueError, match="'Grep' is already registered"):
        registry.register(next(t for t in builtin_tools() if t.name == "Grep"))


def test_declarations_are_compatible_and_small() -> None:
    fields = {
        "Read": {"file_path", "offset", "limit"},
        "Write": {"file_path", "content"},
        "Edit": {"file_path", "old_string", "new_string", "replace_all"},
        "MultiEdit": {"file_path", "edits"},
        "Glob": {"pattern", "path"},
        "Grep": {
            "pattern", "path", "glob", "type", "output_mode",
            "-i", "-n", "-A", "-B", "-C", "multiline", "head_limit",
        },
        "LS": {"path", "ignore"},
        "Bash": {"command", "timeout", "description", "run_in_background"},
        "BashOutput": {"bash_id", "filter"},
        "KillShell": {"shell_id"},
        "TodoWrite": {"todos"},
        "WebFetch": {"url", "prompt"},
    }  # fmt: skip
    first_four = 0
    total = 0
    for tool in builtin_tools():
        schema = tool.input_schema
        assert set(schema["properties"]) == fields[tool.name]
        assert schema["additionalProperties"] is False
        # Defensive by default: only tools that cannot change the workspace say so.
        assert tool.is_mutating({}) is (tool.name not in READ_ONLY), tool.name
        assert 150 < len(tool.description) < 1600, tool.name
        size = len(tool.description) + len(json.dumps(schema))
        total += size
        if tool.name in ("Read", "Glob", "Grep", "LS"):
            first_four += size
    # The first request stays small: Claude Code's is 76 KB for 24 tools.
    assert first_four < 7000
    assert total < 14000


def test_schemas_accept_typical_calls_and_reject_unknown_fields() -> None:
    tools = {t.name: t for t in builtin_tools()}
    calls = {
        "Read": {"file_path": "/a", "offset": 10, "limit": 5},
        "Glob": {"pattern": "**/*.py", "path": "/a"},
        "Grep": {"pattern": "x", "output_mode": "content", "-i": True, "-C": 2, "head_limit": 5},
        "LS": {"path": "/a", "ignore": ["*.log"]},
    }
    for name, args in calls.items():
        assert validate_input(tools[name].input_schema, args) == []
        assert validate_input(tools[name].input_schema, {**args, "bogus": 1}) == [
            "unknown field 'bogus'"
        ]
    assert validate_input(tools["Grep"].input_schema, {"pattern": "x", "output_mode": "all"})


async def test_read_only_tools_run_concurrently_on_one_context(tmp_path: Path) -> None:
    import asyncio

    for i in range(8):
        write(tmp_path, f"f{i}.txt", f"file {i}\n")
    registry = ToolRegistry(builtin_tools())
    ctx = ToolContext(cwd=tmp_path)
    read, grep = registry.get("Read"), registry.get("Grep")
    assert read is not None and grep is not None
    outs = await asyncio.gather(
        *(read.run({"file_path": f"f{i}.txt"}, ctx) for i in range(8)),
        grep.run({"pattern": "file 3", "output_mode": "content", "-n": False}, ctx),
    )
    assert [text_of(o) for o in outs[:8]] == [f"     1\tfile {i}" for i in range(8)]
    assert text_of(outs[8]) == f"{tmp_path}/f3.txt:file 3"
    assert len(ctx.read_files) == 8
