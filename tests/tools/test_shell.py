"""The session shell with real processes: carried state, timeouts, kills, cancellation, clean-up."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coda.tools.shell import CommandResult, ShellSession


@pytest.fixture
async def shell(tmp_path: Path) -> AsyncIterator[ShellSession]:
    session = ShellSession(tmp_path)
    yield session
    await session.aclose()


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def run(shell: ShellSession, command: str, timeout: float = 10) -> tuple[str, CommandResult]:
    result = await shell.run(command, timeout)
    return result.output.text(), result


async def test_directory_and_exported_variables_carry_over(
    shell: ShellSession, tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    await run(shell, "cd sub")
    assert (await run(shell, "pwd"))[0] == f"{tmp_path / 'sub'}\n"
    await run(shell, "export X=1 Y='two words'; Z=local")
    assert (await run(shell, 'echo "$X|$Y|$Z"'))[0] == "1|two words|\n"
    await run(shell, "unset X")
    assert (await run(shell, 'echo "[$X]"'))[0] == "[]\n"


async def test_state_is_kept_when_the_command_calls_exit(
    shell: ShellSession, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    _, result = await run(shell, "cd d && export K=v && exit 4")
    assert result.returncode == 4
    assert (await run(shell, 'echo "$PWD $K"'))[0] == f"{tmp_path / 'd'} v\n"


async def test_shell_level_does_not_creep(shell: ShellSession) -> None:
    first = (await run(shell, "echo $SHLVL"))[0]
    for _ in range(3):
        await run(shell, "true")
    assert (await run(shell, "echo $SHLVL"))[0] == first


async def test_a_vanished_directory_falls_back_to_the_session_directory(
    shell: ShellSession, tmp_path: Path
) -> None:
    await run(shell, "mkdir gone && cd gone")
    os.rmdir(tmp_path / "gone")
    text, result = await run(shell, "pwd")
    assert text == f"{tmp_path}\n"
    assert result.cwd_reset == str(tmp_path / "gone")


async def test_exit_codes_and_stderr_merged_in_order(shell: ShellSession) -> None:
    assert (await run(shell, "true"))[1].returncode == 0
    assert (await run(shell, "false"))[1].returncode == 1
    text, result = await run(shell, "echo out; echo err >&2; echo out2; exit 7")
    assert text == "out\nerr\nout2\n"
    assert result.returncode == 7
    text, result = await run(shell, "no-such-command-xyz")
    assert result.returncode == 127 and "not found" in text


async def test_quiet_environment(shell: ShellSession) -> None:
    text, _ = await run(shell, 'echo "$TERM $PAGER $GIT_PAGER $GIT_TERMINAL_PROMPT $NO_COLOR"')
    assert text == "dumb cat cat 0 1\n"


async def test_stdin_is_empty_and_there_is_no_terminal(shell: ShellSession) -> None:
    started = time.monotonic()
    text, _ = await run(shell, "cat; read -r line; echo read=$?; exec 3</dev/tty || echo no-tty")
    assert time.monotonic() - started < 2
    assert "read=1" in text and "no-tty" in text


async def test_timeout_kills_the_group_within_the_limit(shell: ShellSession) -> None:
    started = time.monotonic()
    text, result = await run(shell, "echo started; echo $$; sleep 30", timeout=0.5)
    elapsed = time.monotonic() - started
    assert result.timed_out and elapsed < 2
    assert text.startswith("started\n")
    assert group_gone(int(text.split()[1]))


async def test_a_command_ignoring_sigterm_is_killed_with_its_children(shell: ShellSession) -> None:
    started = time.monotonic()
    text, result = await run(
        shell, "trap '' TERM; sleep 30 & echo $$ $!; sleep 30 & wait", timeout=1
    )
    elapsed = time.monotonic() - started
    pgid, child = map(int, text.split())
    assert result.timed_out
    assert elapsed < 1 + shell.grace + 1.5, elapsed
    assert group_gone(pgid) and pid_gone(child)


async def test_cancellation_kills_the_group_at_once(shell: ShellSession, tmp_path: Path) -> None:
    marker = tmp_path / "pgid"
    task = asyncio.create_task(shell.run(f"echo $$ > {marker}; sleep 30", 60))
    while not marker.exists() or not marker.read_text().strip():
        await asyncio.sleep(0.01)
    pgid = int(marker.read_text())
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    while not group_gone(pgid) and time.monotonic() - cancelled_at < 1:
        await asyncio.sleep(0.01)
    assert group_gone(pgid), "the process group outlived the cancellation by 1 s"


async def test_processes_left_behind_are_stopped(shell: ShellSession) -> None:
    started = time.monotonic()
    text, result = await run(shell, "sleep 30 & echo $!")
    assert time.monotonic() - started < 2
    assert result.stopped_leftovers and result.returncode == 0
    assert pid_gone(int(text))


async def test_a_finished_background_helper_is_not_a_leftover(shell: ShellSession) -> None:
    text, result = await run(shell, "(true &); sleep 0.1; echo ok")
    assert text == "ok\n" and not result.stopped_leftovers


async def test_aclose_ends_a_running_command(tmp_path: Path) -> None:
    shell = ShellSession(tmp_path)
    marker = tmp_path / "pgid"
    task = asyncio.create_task(shell.run(f"echo $$ > {marker}; trap '' TERM; sleep 30", 60))
    while not marker.exists() or not marker.read_text().strip():
        await asyncio.sleep(0.01)
    pgid = int(marker.read_text())
    await shell.aclose()
    assert group_gone(pgid)
    result = await task
    assert result.returncode is not None and result.returncode < 0


async def test_cancelling_a_command_that_ignores_sigterm_still_kills_it(tmp_path: Path) -> None:
    shell = ShellSession(tmp_path, grace=0.3)
    marker = tmp_path / "pgid"
    task = asyncio.create_task(shell.run(f"trap '' TERM; echo $$ > {marker}; sleep 30", 60))
    while not marker.exists() or not marker.read_text().strip():
        await asyncio.sleep(0.01)
    pgid = int(marker.read_text())
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - cancelled_at < 0.1, "cancellation waited for the kill"
    while not group_gone(pgid) and time.monotonic() - cancelled_at < 2:
        await asyncio.sleep(0.01)
    assert group_gone(pgid)
    await shell.aclose()


async def test_heredocs_and_commands_longer_than_one_argument_may_be(shell: ShellSession) -> None:
    text, _ = await run(shell, "cat <<'EOF'\nline $HOME\nEOF")
    assert text == "line $HOME\n"
    big = "x" * 200_000
    text, result = await run(shell, f"cat <<'EOF' | wc -c\n{big}\nEOF")
    assert result.returncode == 0 and text.strip() == str(len(big) + 1)
