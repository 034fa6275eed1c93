"""Slash commands, `!`, `#` and interrupts, driven in process on a real session."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coda.messages import AssistantMessage, UserMessage
from coda.ui.commands import run_command
from coda.ui.glyphs import ASCII
from coda.ui.repl import Repl
from coda.ui.screen import Screen
from coda.wiring import RunOptions
from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env, tool_results


class Harness:
    def __init__(self, repl: Repl, out: io.StringIO) -> None:
        self.repl = repl
        self.out = out

    async def say(self, line: str) -> str:
        start = len(self.out.getvalue())
        await self.repl.handle(line)
        return self.out.getvalue()[start:]


@pytest.fixture
async def harness(model_server: ModelServer, tmp_path: Path) -> AsyncIterator[Harness]:
    repo = tmp_path / "repo"
    repo.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    out = io.StringIO()
    screen = Screen(out, color=False, glyphs=ASCII, width=100)
    env = anthropic_env(model_server, home)
    repl = Repl(
        RunOptions(allowed=("Bash(sleep:*)",)), env=env, cwd=repo, screen=screen, stdin_fd=None
    )
    assert await repl.ready()
    yield Harness(repl, out)
    await repl.close()


async def test_status_names_model_mode_settings_and_sandbox(harness: Harness) -> None:
    text = await harness.say("/status")
    assert "Model:       claude-sonnet-5-5 (anthropic)" in text
    assert "Mode:        default" in text
    assert "Settings:    (none found)" in text
    assert "Sandbox:     off" in text


async def test_permissions_lists_and_adds_rules(harness: Harness) -> None:
    text = await harness.say("/permissions")
    assert "Mode: default" in text and "Bash(sleep:*)" in text
    text = await harness.say("/permissions deny Bash(rm:*)")
    assert "deny Bash(rm:*)" in text
    saved = json.loads((harness.repl.cwd / ".coda/settings.local.json").read_text())
    assert saved["permissions"]["deny"] == ["Bash(rm:*)"]
    assert [r.text for r in harness.repl.wired.policy.config.deny] == ["Bash(rm:*)"]
    text = await harness.say("/permissions allow Bash(")
    assert "x " in text  # the parse error, not a traceback


async def test_think_sets_the_budget(harness: Harness) -> None:
    await harness.say("/think 8000")
    assert harness.repl.session.thinking_budget == 8000
    assert "8,000 tokens" in await harness.say("/think")
    await harness.say("/think off")
    assert harness.repl.session.thinking_budget == 0
    await harness.say("/think auto")
    assert harness.repl.session.thinking_budget is None
    assert "usage" in await harness.say("/think lots")


async def test_model_switch_keeps_the_conversation(
    harness: Harness, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("first"), Reply("second"))
    await harness.say("hello")
    transcript = harness.repl.session.transcript
    text = await harness.say("/model haiku")
    assert "Now using claude-haiku-5-5" in text
    assert harness.repl.session.transcript is transcript
    await harness.say("again")
    assert model_server.requests[1].body["model"] == "claude-haiku-5-5"
    assert len(model_server.requests[1].body["messages"]) == 3
    assert len(harness.repl.all_totals()) == 2
    assert "unknown model" in await harness.say("/model nonsense-model")


async def test_clear_starts_a_new_conversation(harness: Harness, model_server: ModelServer) -> None:
    model_server.enqueue(Reply("one"), Reply("two"))
    await harness.say("hello")
    old_id = harness.repl.session.session_id
    await harness.say("/clear")
    assert harness.repl.session.transcript == []
    assert harness.repl.session.session_id != old_id
    await harness.say("fresh")
    assert len(model_server.requests[1].body["messages"]) == 1


async def test_mcp_without_servers_and_unknown_commands(harness: Harness) -> None:
    assert "No MCP servers are configured" in await harness.say("/mcp")
    assert "unknown command /stauts" in await harness.say("/stauts")
    assert "unknown command /mcp__nowhere__x" in await harness.say("/mcp__nowhere__x")


async def test_exit(harness: Harness) -> None:
    await run_command(harness.repl, "/exit")
    assert harness.repl.should_exit


async def test_bang_and_hash(harness: Harness) -> None:
    text = await harness.say("!printf 'a\\nb\\n'")
    assert "    a\n    b" in text
    last = harness.repl.session.transcript[-1]
    assert isinstance(last, UserMessage)
    note = await harness.say("#use tabs")
    assert "Noted in ./CODA.md (created it)" in note
    await harness.say("#and spaces")
    assert (harness.repl.cwd / "CODA.md").read_text() == "- use tabs\n- and spaces\n"


async def test_an_interrupt_stops_bash_fast_and_repairs_the_transcript(
    harness: Harness, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply([ToolUse("Bash", {"command": "sleep 30"})]), Reply("ok"))
    repl = harness.repl
    turn = asyncio.create_task(repl.handle("sleep"))
    deadline = time.monotonic() + 10
    while "Running Bash" not in repl.view.status_text() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the shell has started `sleep 30`
    started = time.monotonic()
    repl.interrupt()
    await turn
    assert time.monotonic() - started < 0.2
    last = repl.session.transcript[-1]
    assert isinstance(last, UserMessage)
    assert isinstance(repl.session.transcript[-2], AssistantMessage)
    await harness.say("next")
    [result] = tool_results(model_server.requests[1].body)
    assert result["is_error"] is True


async def test_plan_mode_from_shift_tab_offers_exit_plan_mode(
    harness: Harness, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("default"), Reply("planning"))
    await harness.say("first")
    tools = [t["name"] for t in model_server.requests[0].body["tools"]]
    assert "ExitPlanMode" not in tools
    assert harness.repl.cycle_mode() == "acceptEdits"
    assert harness.repl.cycle_mode() == "plan"
    await harness.say("make a plan")
    tools = [t["name"] for t in model_server.requests[1].body["tools"]]
    assert "ExitPlanMode" in tools
    assert harness.repl.mode == "plan"
    assert len(model_server.requests[1].body["messages"]) == 3  # the conversation went on
    assert harness.repl.cycle_mode() == "default"


async def test_compact_init_and_resume(harness: Harness, model_server: ModelServer) -> None:
    model_server.enqueue(Reply("one"), Reply("two"), Reply("## Goal\nsummary text"))
    await harness.say("first question")
    await harness.say("second question")
    text = await harness.say("/compact the parser work")
    summary_request = model_server.requests[-1].body
    instruction = json.dumps(summary_request["messages"][-1])
    assert "## Goal" in instruction and "the parser work" in instruction
    assert "compacted the conversation (manual)" in text
    first = harness.repl.session.transcript[0]
    assert isinstance(first, UserMessage)
    assert "summary text" in json.dumps([getattr(b, "text", "") for b in first.content])
    old_id = harness.repl.session.session_id

    model_server.enqueue(Reply("I wrote CODA.md."))
    await harness.say("/init")
    assert "CODA.md" in json.dumps(model_server.requests[-1].body["messages"][-1])

    await harness.say("/clear")
    assert harness.repl.session.session_id != old_id
    await harness.say(f"/resume {old_id[:8]}")
    assert harness.repl.session.session_id == old_id
    model_server.enqueue(Reply("back"))
    await harness.say("and now?")
    sent = json.dumps(model_server.requests[-1].body["messages"])
    assert "summary text" in sent and "I wrote CODA.md." in sent
