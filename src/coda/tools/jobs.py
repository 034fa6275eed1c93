"""Background jobs: commands started with run_in_background, their unread output and status."""

from __future__ import annotations

import asyncio
import codecs
import re
import time
from dataclasses import dataclass, field

from coda.tools.base import ToolContext, ToolError
from coda.tools.output import MAX_OUTPUT_CHARS, clean, count_chars, truncate_middle
from coda.tools.shell import GRACE_SECONDS, Child, ShellSession, signal_name

# Unread output kept per job; past it the oldest goes, with a note.
UNREAD_BYTES = 1 << 20
# A line still being written is held back this long, so a filter sees it whole.
PARTIAL_LINE_SECONDS = 0.5
# Trimming waits for this much excess, so a flood does not move the buffer on every chunk.
_TRIM_SLACK = 256 * 1024
# How far a trim may go on to end at a line boundary.
_LINE_SLACK = 4096


class UnreadBuffer:
    """Output not read yet, at most `limit` bytes of it; counts what had to be dropped."""

    def __init__(self, limit: int = UNREAD_BYTES) -> None:
        self._limit = limit
        self._data = bytearray()
        self._last_feed = 0.0
        self.dropped_chars = 0
        self.dropped_lines = 0

    def __len__(self) -> int:
        return len(self._data)

    def feed(self, data: bytes) -> None:
        self._data += data
        self._last_feed = time.monotonic()
        if len(self._data) > self._limit + _TRIM_SLACK:
            cut = len(self._data) - self._limit
            newline = self._data.find(b"\n", cut, cut + _LINE_SLACK)
            if newline >= 0:
                cut = newline + 1
            gone = self._data[:cut]
            self.dropped_chars += count_chars(gone)
            self.dropped_lines += gone.count(b"\n")
            del self._data[:cut]

    def take(self, hold_partial: bool) -> tuple[bytes, int, int]:
        """The unread bytes and the characters and lines dropped since the last take.

        With `hold_partial`, a last line still being written stays for the next take.
        """
        end = len(self._data)
        fresh = time.monotonic() - self._last_feed < PARTIAL_LINE_SECONDS
        if hold_partial and fresh and end and self._data[-1] != ord("\n"):
            end = self._data.rfind(b"\n") + 1
        data = bytes(self._data[:end])
        del self._data[:end]
        dropped = (self.dropped_chars, self.dropped_lines)
        self.dropped_chars = self.dropped_lines = 0
        return data, *dropped


@dataclass(eq=False)
class Job:
    id: str
    command: str
    child: Child
    unread: UnreadBuffer
    started: float = field(default_factory=time.monotonic)
    killed: bool = False
    _decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace")
    )

    @property
    def running(self) -> bool:
        return self.child.returncode is None

    def status(self) -> str:
        code = self.child.returncode
        if code is None:
            return f"running for {time.monotonic() - self.started:.0f} s"
        if self.killed:
            return "killed"
        if code < 0:
            return f"killed by signal {signal_name(-code)}"
        return f"exited with code {code}"

    def read(self, pattern: re.Pattern[str] | None) -> tuple[str, int]:
        """Output since the last read, cleaned, filtered and cut to size; and its line count."""
        ended = self.child.reader.eof.done()
        data, dropped_chars, dropped_lines = self.unread.take(hold_partial=not ended)
        text = clean(self._decoder.decode(data, final=ended))
        if pattern is not None:
            text = "".join(line for line in text.splitlines(True) if pattern.search(line))
        lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
        text = truncate_middle(text, MAX_OUTPUT_CHARS)
        if dropped_chars:
            text = (
                f"[… {dropped_chars:,} characters, {dropped_lines:,} lines dropped unread: "
                f"the job printed more than {UNREAD_BYTES / 2**20:g} MB between reads …]\n"
            ) + text
        return text, lines


class JobTable:
    """The session's background jobs, by id ("bash_1"); all stopped when the session ends."""

    def __init__(self, grace: float = GRACE_SECONDS) -> None:
        self.grace = grace
        self._jobs: dict[str, Job] = {}
        self._count = 0

    async def start(self, command: str, shell: ShellSession) -> Job:
        unread = UnreadBuffer()
        child = await shell.start(command, unread.feed)
        self._count += 1
        job = Job(f"bash_{self._count}", command, child, unread)
        self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            known = ", ".join(self._jobs) or "none yet"
            raise ToolError(f"No background shell with id {job_id!r}. Known ids: {known}.")
        return job

    async def kill(self, job: Job) -> bool:
        """Stop the job's whole process group; False when it had already ended."""
        if not job.running and not job.child.group.live():
            return False
        job.killed = job.running
        await job.child.group.stop(self.grace)
        # Let the last output in, so a read after the kill shows how the job ended.
        await job.child.reader.wait(0.2)
        return True

    async def aclose(self) -> None:
        jobs = list(self._jobs.values())
        self._jobs.clear()
        await asyncio.gather(*(j.child.stop(self.grace) for j in jobs), return_exceptions=True)


def get_jobs(ctx: ToolContext) -> JobTable:
    """The session's job table, made on first use and closed with the session."""
    jobs = ctx.resources.get("jobs")
    if isinstance(jobs, JobTable):
        return jobs
    jobs = JobTable()
    ctx.resources["jobs"] = jobs
    return jobs
