"""A 200-turn session with auto-compaction still answers a question about turn 3.

The model is the fake server answering from what is actually in its context: it knows the
launch code only if the code reached the request. Its summaries are deliberately poor
(they never mention the code), so the fact survives only if compaction keeps the person's
own words, as it promises to.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from coda.permissions.prompter import NeverAsk
from coda.transcript.sessions import load
from coda.ui.headless import HeadlessWriter
from coda.wiring import RunOptions, wire_session
from tests.fakes.model_server import ModelServer
from tests.fakes.script import Item, Reply, Respond, ToolUse
from tests.helpers import anthropic_env

FACT = "Remember this: the launch code is ZEBRA-7731."
QUESTION = "What is the launch code I gave you at the start?"
WINDOW = 40_000


def _is_summary_request(body: dict[str, Any]) -> bool:
    return "## Goal" in json.dumps(body["messages"][-1])


def context_model(body: dict[str, Any]) -> Item:
    text = json.dumps(body)
    if _is_summary_request(body):
        return Reply("## Goal\nWork through numbered turns.\n## Next step\nKeep going.")
    last = body["messages"][-1]["content"]
    asked = [b.get("text", "") for b in last if isinstance(b, dict) and b.get("type") == "text"]
    if any(QUESTION in a for a in asked):
        found = re.search(r"launch code is ([A-Z]+-\d+)", text)
        return Reply(f"The launch code is {found.group(1)}." if found else "I do not know.")
    if any(b.get("type") == "tool_result" for b in last if isinstance(b, dict)):
        return Reply("Read it.")
    return Reply([ToolUse("Read", {"file_path": "data.txt"})])


async def _session(server: ModelServer, repo: Path, home: Path) -> tuple[Any, list[str]]:
    # Checkpoints are tested elsewhere; 200 snapshots would only slow this down.
    env = anthropic_env(server, home, CODA_CHECKPOINTS="0")
    writer = HeadlessWriter(fmt="text", out=io.StringIO(), err=io.StringIO(), session_id="")
    wired = wire_session(
        RunOptions(model="claude-3-7-sonnet-20250219"),
        env=env,
        cwd=repo,
        observer=writer,
        prompter=NeverAsk(),
        record=lambda d: None,
        headless=True,
    )
    session = wired.session
    # A small window, so 200 turns pass the 85% threshold several times.
    session.limits = replace(session.limits, context_window=WINDOW)
    answers = []
    try:
        for turn in range(1, 201):
            prompt = FACT if turn == 3 else f"Turn {turn}: read data.txt again."
            answers.append((await session.submit(prompt)).text)
        answers.append((await session.submit(QUESTION)).text)
    finally:
        await session.tool_ctx.aclose()
        await wired.setup.provider.aclose()
    return session, answers


def test_two_hundred_turns_keep_what_the_person_said(tmp_path: Path) -> None:
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    home.mkdir()
    # About a thousand tokens a read: 200 reads are five windows' worth.
    (repo / "data.txt").write_text("".join(f"line {i} of the data file\n" for i in range(160)))
    with ModelServer(repeat=True) as server:
        server.enqueue(Respond(context_model))
        session, answers = asyncio.run(_session(server, repo, home))
        server.assert_clean()  # no request split a tool call from its result
        summaries = [r for r in server.requests if _is_summary_request(r.body)]
        sizes = [len(json.dumps(r.body)) // 4 for r in server.requests]
    assert answers[-1] == "The launch code is ZEBRA-7731."
    assert len(summaries) >= 3, "auto-compaction should have run several times"
    assert max(sizes) < WINDOW  # no request outgrew the window
    # The transcript rebuilds the same compacted context.
    assert session.log is not None
    resumed = load(session.log.path).session
    assert [m.role for m in resumed.messages] == [m.role for m in session.transcript]
    assert resumed.prompts == session.prompts and FACT in resumed.prompts
