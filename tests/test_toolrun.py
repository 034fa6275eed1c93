"""The tool runner: one result per call, concurrent read-only calls, errors told to the model."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, ClassVar

from coda.messages import ToolUseBlock
from coda.permissions.paths import Workspace
from coda.permissions.policy import PolicyConfig, RulePolicy
from coda.permissions.prompter import NeverAsk
from coda.permissions.rules import parse_rule
from coda.toolrun import ToolRunner
from coda.tools.base import ToolContext, ToolError, ToolOutput
from coda.tools.registry import ToolRegistry


class SleepTool:
    """A real tool for these tests: it sleeps, logs when it ran, and may fail."""

    input_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"seconds": {"type": "number"}, "fail": {"type": "string"}},
        "required": ["seconds"],
        "additionalProperties": False,
    }

    def __init__(self, name: str, mutating: bool, log: list[tuple[str, float, float]]) -> None:
        self.name = name
        self.description = "sleep"
        self._mutating = mutating
        self._log = log

    def is_mutating(self, args: dict[str, Any]) -> bool:
        return self._mutating

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
        start = time.perf_counter()
        await asyncio.sleep(args["seconds"])
        self._log.append((self.name, start, time.perf_counter()))
        if args.get("fail") == "tool":
            raise ToolError("it broke")
        if args.get("fail") == "os":
            raise PermissionError(13, "Permission denied", "/x")
        return ToolOutput.text(f"slept {args['seconds']}")


def runner(
    log: list[tuple[str, float, float]], allowed: frozenset[str] = frozenset()
) -> ToolRunner:
    tools = {
        "Look": SleepTool("Look", False, log),
        "Change": SleepTool("Change", True, log),
    }
    ctx = ToolContext(cwd=Path.cwd())
    config = PolicyConfig(
        mode="default",
        workspace=Workspace([Path.cwd()]),
        allow=[parse_rule(name) for name in allowed],
    )
    return ToolRunner(
        ToolRegistry(tools.values()), RulePolicy(config, ctx, NeverAsk(), headless=True), ctx
    )


def call(i: int, name: str, **args: Any) -> ToolUseBlock:
    return ToolUseBlock(f"t{i}", name, args)


async def test_read_only_calls_run_concurrently() -> None:
    log: list[tuple[str, float, float]] = []
    started = time.perf_counter()
    results = await runner(log).run_all([call(i, "Look", seconds=0.3) for i in range(4)])
    elapsed = time.perf_counter() - started
    assert [r.tool_use_id for r, _ in results] == ["t0", "t1", "t2", "t3"]
    assert elapsed < 0.9, f"four 0.3 s read-only calls took {elapsed:.2f} s: not concurrent"


async def test_mutating_calls_run_alone_in_order() -> None:
    log: list[tuple[str, float, float]] = []
    calls = [
        call(0, "Look", seconds=0.1),
        call(1, "Change", seconds=0.1),
        call(2, "Look", seconds=0.1),
    ]
    results = await runner(log, allowed=frozenset({"Change"})).run_all(calls)
    assert [r.tool_use_id for r, _ in results] == ["t0", "t1", "t2"]
    (change,) = [entry for entry in log if entry[0] == "Change"]
    for name, start, end in log:
        if name == "Look":
            assert end <= change[1] or start >= change[2], "a read overlapped a change"


async def test_every_problem_is_one_error_result() -> None:
    log: list[tuple[str, float, float]] = []
    calls = [
        call(0, "Nope"),
        ToolUseBlock("t1", "Look", {}, input_error="tool input is not valid JSON"),
        call(2, "Look", seconds="soon"),
        call(3, "Look", seconds=0, extra=1),
        call(4, "Change", seconds=0),  # mutating, not allowed
        call(5, "Look", seconds=0, fail="tool"),
        call(6, "Look", seconds=0, fail="os"),
        call(7, "Look", seconds=0),
    ]
    results = await runner(log).run_all(calls)
    assert [r.tool_use_id for r, _ in results] == [f"t{i}" for i in range(8)]
    assert [r.is_error for r, _ in results] == [True] * 7 + [False]
    texts = [r.text for r, _ in results]
    assert "No tool named 'Nope'" in texts[0] and "Look" in texts[0]
    assert "not valid JSON" in texts[1]
    assert "must be number" in texts[2]
    assert "unknown field 'extra'" in texts[3]
    assert "Permission denied" in texts[4] and '--allowedTools "Change"' in texts[4]
    assert texts[5] == "it broke"
    assert "PermissionError" in texts[6]
    assert not any(name == "Change" for name, _, _ in log), "a refused tool ran"
