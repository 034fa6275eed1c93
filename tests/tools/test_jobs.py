"""Background jobs with real processes: incremental reads, filters, kills, bounds, clean-up."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolError
from coda.tools.bash import BashTool
from coda.tools.bash_output import BashOutputTool
from coda.tools.jobs import UNREAD_BYTES, JobTable, UnreadBuffer
from coda.tools.kill_shell import KillShellTool
from coda.tools.shell import ShellSession
from tests.tools.conftest import text_of

bash, bash_output, kill_shell = BashTool(), BashOutputTool(), KillShellTool()

TICKER = shlex.join(
    [
        sys.executable,
        "-u",
        "-c",
        "import os, time\nprint('pgid', os.getpgid(0), flush=True)\n"
        "for i in range(60): print('tick', i, flush=True); time.sleep(0.03)",
    ]
)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ToolContext]:
    context = ToolContext(cwd=tmp_path)
    # A shorter grace keeps the tests that need SIGKILL quick.
    context.resources["shell"] = ShellSession(tmp_path, grace=0.5)
    context.resources["jobs"] = JobTable(grace=0.5)
    yield context
    await context.aclose()


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


async def start(ctx: ToolContext, command: str) -> str:
    started = time.monotonic()
    text = text_of(await bash.run({"command": command, "run_in_background": True}, ctx))
    assert time.monotonic() - started < 0.5
    match = re.search(r"\bbash_\d+\b", text)
    assert match and "BashOutput" in text
    return match.group()


async def read(ctx: ToolContext, job_id: str, filter: str | None = None) -> tuple[str, str]:
    args = {"bash_id": job_id} | ({"filter": filter} if filter else {})
    status, _, output = text_of(await bash_output.run(args, ctx)).partition("\n")
    return status, output


def ticks(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"^tick (\d+)$", output, re.M)]


async def test_reads_return_only_new_output_and_kill_stops_the_job(ctx: ToolContext) -> None:
    job = await start(ctx, TICKER)
    await asyncio.sleep(0.4)
    status, first = await read(ctx, job)
    assert status.startswith(f"{job}: running")
    pgid = int(first.split()[1])
    await asyncio.sleep(0.3)
    _, second = await read(ctx, job)
    a, b = ticks(first), ticks(second)
    assert a and b
    assert a == list(range(len(a))) and b == list(range(a[-1] + 1, a[-1] + 1 + len(b)))
    await asyncio.sleep(0.2)
    _, filtered = await read(ctx, job, filter=r"tick \d*[05]$")
    assert filtered and all(n % 5 == 0 for n in ticks(filtered))
    assert len(ticks(filtered)) == len(filtered.splitlines())

    out = await kill_shell.run({"shell_id": job}, ctx)
    assert text_of(out).startswith(f"Killed {job}")
    assert group_gone(pgid)
    status, _ = await read(ctx, job)
    assert status == f"{job}: killed"
    again = text_of(await kill_shell.run({"shell_id": job}, ctx))
    assert "already ended" in again


async def test_a_job_that_ends_reports_its_exit_code(ctx: ToolContext) -> None:
    job = await start(ctx, "echo hello; printf 'no newline'; exit 3")
    deadline = time.monotonic() + 5
    status, output = await read(ctx, job)
    collected = output
    while "exited" not in status and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        status, output = await read(ctx, job)
        collected += output
    assert status == f"{job}: exited with code 3"
    assert "hello\n" in collected and "no newline" in collected
    assert (await read(ctx, job))[1] == "(no new output)"


async def test_jobs_start_in_the_shell_directory_and_environment(
    ctx: ToolContext, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    await bash.run({"command": "cd sub && export JOBVAR=yes"}, ctx)
    job = await start(ctx, 'echo "$PWD $JOBVAR"')
    await asyncio.sleep(0.3)
    assert (await read(ctx, job))[1] == f"{tmp_path / 'sub'} yes"


async def test_bad_ids_and_filters_are_errors_for_the_model(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="No background shell with id 'bash_9'"):
        await bash_output.run({"bash_id": "bash_9"}, ctx)
    with pytest.raises(ToolError, match="No background shell"):
        await kill_shell.run({"shell_id": "nope"}, ctx)
    job = await start(ctx, "sleep 5")
    with pytest.raises(ToolError, match="Invalid filter regex"):
        await bash_output.run({"bash_id": job, "filter": "([unclosed"}, ctx)


async def test_a_flooding_job_keeps_a_bounded_unread_buffer(ctx: ToolContext) -> None:
    job_id = await start(ctx, "yes 'a flood of text'")
    await asyncio.sleep(0.5)
    jobs = ctx.resources["jobs"]
    assert isinstance(jobs, JobTable)
    assert len(jobs.get(job_id).unread) <= UNREAD_BYTES + 512 * 1024
    status, output = await read(ctx, job_id)
    assert status.startswith(f"{job_id}: running")
    assert output.startswith("[… ") and "dropped unread" in output
    assert len(output) < 31_000
    await kill_shell.run({"shell_id": job_id}, ctx)


def test_a_line_being_written_is_held_back_until_it_ends_or_goes_quiet() -> None:
    buffer = UnreadBuffer()
    buffer.feed(b"one\ntw")
    assert buffer.take(hold_partial=True)[0] == b"one\n"
    buffer.feed(b"o\nthr")
    assert buffer.take(hold_partial=True)[0] == b"two\n"
    assert buffer.take(hold_partial=False)[0] == b"thr"


async def test_closing_the_session_ends_every_job(ctx: ToolContext, tmp_path: Path) -> None:
    await start(ctx, TICKER)
    await start(ctx, f"echo $$ > {tmp_path}/pgid; trap '' TERM; sleep 30")
    await asyncio.sleep(0.3)
    jobs = ctx.resources["jobs"]
    assert isinstance(jobs, JobTable)
    pgids = [jobs.get(f"bash_{n}").child.group.pgid for n in (1, 2)]
    assert int((tmp_path / "pgid").read_text()) == pgids[1]
    await ctx.aclose()
    assert not ctx.resources
    for pgid in pgids:
        assert group_gone(pgid)
