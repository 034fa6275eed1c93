"""The Bash tool as the model and the person see it: declarations, results, limits, summaries."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coda.tools.base import ToolContext, validate_input
from coda.tools.bash import MAX_TIMEOUT_MS, BashTool
from coda.tools.bash_output import BashOutputTool
from coda.tools.kill_shell import KillShellTool
from coda.tools.registry import ToolRegistry, builtin_tools
from tests.tools.conftest import text_of

bash = BashTool()


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ToolContext]:
    context = ToolContext(cwd=tmp_path)
    yield context
    await context.aclose()


async def run(ctx: ToolContext, command: str, **more: object) -> str:
    return text_of(await bash.run({"command": command, **more}, ctx))


def test_declarations_match_claude_code() -> None:
    fields = {
        "Bash": ({"command", "timeout", "description", "run_in_background"}, True, 1_500),
        "BashOutput": ({"bash_id", "filter"}, False, 500),
        "KillShell": ({"shell_id"}, True, 500),
    }
    for tool in (BashTool(), BashOutputTool(), KillShellTool()):
        names, mutating, max_description = fields[tool.name]
        assert set(tool.input_schema["properties"]) == names
        assert tool.input_schema["additionalProperties"] is False
        assert tool.is_mutating({}) is mutating
        assert 100 < len(tool.description) < max_description
        assert len(json.dumps(tool.input_schema)) < 800
    registry = ToolRegistry(builtin_tools())
    assert {"Bash", "BashOutput", "KillShell"} <= set(registry.names())


def test_long_timeouts_are_accepted_and_clamped_not_refused() -> None:
    assert (
        validate_input(bash.input_schema, {"command": "true", "timeout": 10 * MAX_TIMEOUT_MS}) == []
    )
    assert validate_input(bash.input_schema, {"command": "true", "timeout": 0})


async def test_state_carries_over_between_calls(ctx: ToolContext, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    await run(ctx, "cd sub")
    assert await run(ctx, "pwd") == str(tmp_path / "sub")
    await run(ctx, "export X=1")
    assert await run(ctx, "echo $X") == "1"


async def test_success_failure_and_summary(ctx: ToolContext) -> None:
    out = await bash.run({"command": "echo hi"}, ctx)
    assert text_of(out) == "hi"
    assert re.fullmatch(r"Ran `echo hi` \(exit 0, \d+\.\d s\)", out.summary)
    assert await run(ctx, "true") == "(no output)"
    out = await bash.run(
        {"command": "echo oops >&2; exit 3", "description": "Fail on purpose"}, ctx
    )
    assert text_of(out) == "oops\nExit code 3"
    assert re.fullmatch(r"Fail on purpose \(exit 3, \d+\.\d s\)", out.summary)
    assert await run(ctx, "kill -9 $$") == "Killed by signal SIGKILL"


async def test_timeout_reports_the_output_so_far(ctx: ToolContext) -> None:
    started = time.monotonic()
    out = await bash.run({"command": "echo partial; sleep 30", "timeout": 300}, ctx)
    assert time.monotonic() - started < 2
    assert out.is_error
    [block] = out.content
    assert block.type == "text"
    assert block.text.startswith("partial\nCommand timed out after 300 ms")
    assert out.summary.startswith("Ran `echo partial; sleep 30` (timed out after 0.")


async def test_fifty_megabytes_keep_head_and_tail_and_finish_fast(ctx: ToolContext) -> None:
    command = "echo FIRST; head -c 50000000 /dev/zero | tr '\\0' 'a'; echo; echo LAST"
    started = time.monotonic()
    text = await run(ctx, command)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"50 MB took {elapsed:.2f} s"
    assert text.startswith("FIRST\naaaa") and text.endswith("aaaa\nLAST")
    marker = re.search(r"\[… ([\d,]+) characters cut …\]", text)
    assert marker
    cut = int(marker.group(1).replace(",", ""))
    assert cut + len(text) - len(marker.group()) - 2 == len("FIRST\n") + 50_000_000 + len("\nLAST")
    assert len(text) < 31_000


async def test_escapes_are_stripped_and_bad_bytes_replaced(ctx: ToolContext) -> None:
    assert await run(ctx, r"printf '\033[1;31mred\033[0m plain\n'") == "red plain"
    assert await run(ctx, r"printf 'a\377b\xc3\n'") == "a\ufffdb\ufffd"


async def test_a_command_waiting_for_input_does_not_hang(ctx: ToolContext) -> None:
    started = time.monotonic()
    assert await run(ctx, "read -r -p 'name? ' name; echo got=[$name]") == "got=[]"
    assert time.monotonic() - started < 2


async def test_background_start_returns_at_once(ctx: ToolContext) -> None:
    started = time.monotonic()
    out = await bash.run({"command": "sleep 30", "run_in_background": True}, ctx)
    assert time.monotonic() - started < 0.5
    assert "bash_1" in text_of(out) and out.summary == "Started `sleep 30` as bash_1"
