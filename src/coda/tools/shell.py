"""The session's shell: each command in its own process group, with state carried between them.

Each command is a fresh `bash` started with `start_new_session=True`, so it leads its own
process group and has no controlling terminal (nothing can prompt on /dev/tty). Killing is
then one `killpg` for the whole tree, SIGTERM first and SIGKILL after a grace period; no
long-lived shell sits between coda and the command to swallow signals or hang. What a
persistent shell would keep, the working directory and the exported variables, is written
to a state file by an EXIT trap when the command ends and is the start of the next command.

On Linux coda makes itself a child subreaper, so processes orphaned inside a command's group
are re-parented to coda rather than to an init that may never reap them, and coda reaps them
when it stops the group: a stopped group leaves no zombie behind. A process that leaves the
group on purpose (setsid, a daemon) is out of reach here; that is the sandbox's job.

With a sandbox in the tool context, each command line goes through `Sandbox.wrap` before it
is started, foreground and background alike; the state directory is passed as writable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from coda.tools.base import Sandbox, ToolContext, ToolError
from coda.tools.output import HeadTailBuffer

# SIGTERM first; a process that ignores it gets SIGKILL this many seconds later.
GRACE_SECONDS = 2.0
# After a command's main process exits, how long its output may take to reach end of file.
DRAIN_SECONDS = 0.5
_POLL_SECONDS = 0.01
_PR_SET_CHILD_SUBREAPER = 36

# So that commands neither page, colour, prompt nor open an editor.
QUIET_ENV = {
    "TERM": "dumb",
    "PAGER": "cat",
    "GIT_PAGER": "cat",
    "MANPAGER": "cat",
    "SYSTEMD_PAGER": "",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_EDITOR": "true",
    "NO_COLOR": "1",
    "PIP_NO_INPUT": "1",
    "DEBIAN_FRONTEND": "noninteractive",
    # Python in a pipe buffers its output; a background job should show it as it comes.
    "PYTHONUNBUFFERED": "1",
}
_DROP_ENV = ("FORCE_COLOR", "CLICOLOR_FORCE", "PROMPT_COMMAND", "SHLVL")
# Variables bash sets for itself, which must not be carried into the next command.
_SHELL_OWN = frozenset({"_", "SHLVL"})
_STATE_END = "coda-state-end"

# Runs the command file with `eval` in a shell whose EXIT trap records $PWD and the exported
# environment, NUL-separated, whether the command ends normally or calls `exit`. The command
# comes in a file because one argument may not exceed 128 KiB, and a heredoc can.
_WRAPPER = r"""__coda_state=$1 __coda_command=$(<"$2")
set --
__coda_save() { printf '%s\0' "$PWD"; command -p env -0; printf 'coda-state-end\0'; }
trap '__coda_status=$?; __coda_save >"$__coda_state" 2>/dev/null; exit "$__coda_status"' EXIT
eval "$__coda_command"
"""
_BACKGROUND = r"""__coda_command=$(<"$1")
set --
eval "$__coda_command"
"""


def command_env(base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k not in _DROP_ENV}
    env.update(QUIET_ENV)
    return env


@functools.cache
def _adopt_orphans() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux only)."""
    if sys.platform != "linux":
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def _group_members(pgid: int) -> list[tuple[int, int, str]] | None:
    """(pid, ppid, state) of the processes in group `pgid`; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    members = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append((int(name), int(fields[1]), fields[0].decode()))
    return members


class ProcessGroup:
    """A command's process group, led by `proc`; stopping it reaps what coda has to reap."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pgid = proc.pid
        self._gone = False

    def signal(self, sig: signal.Signals) -> None:
        if self._gone:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def live(self) -> bool:
        """Whether a process of the group still runs; zombies do not count."""
        if self._gone:
            return False
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            self._gone = True
            return False
        except PermissionError:
            return True
        members = _group_members(self.pgid)
        if members is None:
            return True
        running = False
        for pid, ppid, state in members:
            if state != "Z":
                running = True
            elif ppid == os.getpid() and pid != self.pgid:
                # An orphan re-parented to coda; the leader is asyncio's to reap.
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        return running

    async def _until_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.live():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True

    async def stop(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM the whole group, SIGKILL it if it is not gone after `grace` seconds."""
        if self.live():
            self.signal(signal.SIGTERM)
            # A stopped process acts on SIGTERM only once continued.
            self.signal(signal.SIGCONT)
            if not await self._until_gone(grace):
                self.signal(signal.SIGKILL)
                await self._until_gone(GRACE_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), GRACE_SECONDS)
        self.live()  # reaps orphans that died while the leader was being reaped


class PipeReader:
    """Reads a pipe as data arrives, handing each chunk to `sink`; closes at end of file."""

    def __init__(self, fd: int, sink: Callable[[bytes], None]) -> None:
        self._fd = fd
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self.eof: asyncio.Future[None] = self._loop.create_future()
        os.set_blocking(fd, False)
        self._loop.add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._sink(data)
        else:
            self.close()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for end of file; True if it came."""
        try:
            await asyncio.wait_for(asyncio.shield(self.eof), seconds)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        if self._fd < 0:
            return
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = -1
        if not self.eof.done():
            self.eof.set_result(None)


@dataclass(slots=True, eq=False)
class Child:
    """A started command: its process group and the reader of its merged stdout and stderr."""

    group: ProcessGroup
    reader: PipeReader

    @property
    def returncode(self) -> int | None:
        return self.group.proc.returncode

    async def stop(self, grace: float = GRACE_SECONDS) -> None:
        await self.group.stop(grace)
        await self.reader.wait(DRAIN_SECONDS)
        self.reader.close()


async def spawn(
    argv: list[str], cwd: str, env: Mapping[str, str], sink: Callable[[bytes], None]
) -> Child:
    """Start `argv` in a new session, stdin from /dev/null, stdout and stderr into one pipe."""
    _adopt_orphans()
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(AttributeError, OSError):
        # A larger pipe means fewer wake-ups when a command floods its output.
        import fcntl

        fcntl.fcntl(read_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            start_new_session=True,
        )
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return Child(ProcessGroup(proc), PipeReader(read_fd, sink))


@dataclass(slots=True)
class CommandResult:
    output: HeadTailBuffer
    returncode: int | None
    seconds: float
    timed_out: bool = False
    # Processes the command left running in its group, which were stopped.
    stopped_leftovers: bool = False
    # The directory the command started in.
    cwd: str = ""
    # Set when the shell's directory had vanished and the command ran in the session's.
    cwd_reset: str | None = None


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _bash() -> str:
    path = shutil.which("bash") or ("/bin/bash" if os.path.exists("/bin/bash") else None)
    if path is None:
        raise ToolError("bash is not installed, so shell commands cannot run.")
    return path


class ShellSession:
    """The session's shell state and every process group it has running."""

    def __init__(
        self,
        home: Path,
        env: Mapping[str, str] | None = None,
        grace: float = GRACE_SECONDS,
        sandbox: Sandbox | None = None,
    ) -> None:
        self.home = str(home)
        self.sandbox = sandbox
        self.cwd = self.home
        self.env = command_env(os.environ if env is None else env)
        self.grace = grace
        self._running: set[Child] = set()
        self._stopping: set[asyncio.Task[None]] = set()
        self._state_dir: str | None = None
        self._count = 0

    def _workdir(self) -> tuple[str, str | None]:
        if os.path.isdir(self.cwd):
            return self.cwd, None
        lost, self.cwd = self.cwd, self.home
        self.env["PWD"] = self.cwd
        return self.cwd, lost

    async def run(self, command: str, timeout: float) -> CommandResult:
        """Run `command` to its end, or until `timeout` seconds, and update the shell state."""
        script = self._write_command(command)
        state = script + ".state"
        cwd, lost = self._workdir()
        output = HeadTailBuffer()
        started = time.monotonic()
        argv, env = self._confine([_bash(), "-c", _WRAPPER, "bash", state, script], cwd)
        child = await spawn(argv, cwd, env, output.feed)
        self._running.add(child)
        timed_out = leftovers = False
        try:
            try:
                async with asyncio.timeout(timeout):
                    await child.group.proc.wait()
            except TimeoutError:
                timed_out = True
            else:
                # The main process is done; anything still running in its group was left
                # behind (`server &`) and would hold the output pipe open for ever.
                leftovers = child.group.live()
            if timed_out or leftovers:
                await child.stop(self.grace)
            elif not await child.reader.wait(DRAIN_SECONDS):
                # Something outside the group (it called setsid) still holds the pipe.
                child.reader.close()
        except BaseException:
            self._abandon(child)
            raise
        self._running.discard(child)
        self._load_state(state)
        with contextlib.suppress(OSError):
            os.unlink(script)
        return CommandResult(
            output, child.returncode, time.monotonic() - started, timed_out, leftovers, cwd, lost
        )

    async def start(self, command: str, sink: Callable[[bytes], None]) -> Child:
        """Start `command` in the shell's directory and environment, without waiting for it."""
        cwd, _ = self._workdir()
        # The file stays until the session ends: the job's shell may not have read it yet.
        script = self._write_command(command)
        argv, env = self._confine([_bash(), "-c", _BACKGROUND, "bash", script], cwd)
        return await spawn(argv, cwd, env, sink)

    def _confine(self, argv: list[str], cwd: str) -> tuple[list[str], Mapping[str, str]]:
        """The command line to spawn: `argv` itself, or `argv` in the sandbox."""
        if self.sandbox is None:
            return argv, self.env
        assert self._state_dir is not None  # made by _write_command
        return self.sandbox.wrap(
            argv, cwd=Path(cwd), env=dict(self.env), extra_writable=[Path(self._state_dir)]
        )

    def _write_command(self, command: str) -> str:
        if self._state_dir is None:
            self._state_dir = tempfile.mkdtemp(prefix="coda-shell-")
        self._count += 1
        path = os.path.join(self._state_dir, f"command-{self._count}")
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(command)
        return path

    def _abandon(self, child: Child) -> None:
        """The caller was cancelled: signal the group now, finish stopping it in the background."""
        child.group.signal(signal.SIGTERM)
        task = asyncio.get_running_loop().create_task(self._finish(child))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _finish(self, child: Child) -> None:
        try:
            await child.stop(self.grace)
        finally:
            self._running.discard(child)

    def _load_state(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                entries = f.read().split(b"\0")
            os.unlink(path)
        except OSError:
            return  # the command replaced the shell (exec) or was killed: keep the old state
        if len(entries) < 3 or entries[-2] != _STATE_END.encode():
            return
        env = {}
        for entry in entries[1:-2]:
            name, sep, value = entry.partition(b"=")
            if sep and name and os.fsdecode(name) not in _SHELL_OWN:
                env[os.fsdecode(name)] = os.fsdecode(value)
        self.cwd = os.fsdecode(entries[0]) or self.cwd
        env["PWD"] = self.cwd
        self.env = env

    async def aclose(self) -> None:
        """Stop every command still running and forget the state."""
        for task in list(self._stopping):
            task.cancel()
        children = list(self._running)
        self._running.clear()
        await asyncio.gather(*(c.stop(self.grace) for c in children), return_exceptions=True)
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None


def get_shell(ctx: ToolContext) -> ShellSession:
    """The session's shell, started on first use and closed with the session.

    It runs its commands in the context's sandbox, whichever shell object is in use.
    """
    shell = ctx.resources.get("shell")
    if not isinstance(shell, ShellSession):
        shell = ShellSession(ctx.cwd)
        ctx.resources["shell"] = shell
    shell.sandbox = ctx.sandbox
    return shell
