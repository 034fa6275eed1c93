"""Where transcripts live, writing them append-only, and reading them back whatever state
they were left in.

One file per session: `<data dir>/projects/<slug of cwd>/<session id>.jsonl`. Every record
is one JSON object on one line, written with a single O_APPEND write, so a crash can at
worst leave the last line torn; the file is never rewritten in place. Reading skips lines
that do not parse and counts them, so one bad line never costs the rest of a session.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coda.config import data_dir

FORMAT_VERSION = 1
SUFFIX = ".jsonl"
_SLUG_LIMIT = 120


def project_slug(cwd: Path) -> str:
    """A directory name for the project at `cwd`: readable, and unique per path."""
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", str(cwd))
    if len(slug) <= _SLUG_LIMIT:
        return slug
    digest = hashlib.sha256(str(cwd).encode()).hexdigest()[:12]
    return f"{slug[: _SLUG_LIMIT - 13]}-{digest}"


def project_dir(env: Mapping[str, str], cwd: Path) -> Path:
    return data_dir(env) / "projects" / project_slug(cwd)


def transcript_path(env: Mapping[str, str], cwd: Path, session_id: str) -> Path:
    return project_dir(env, cwd) / f"{session_id}{SUFFIX}"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class TranscriptWriter:
    """Appends records to one transcript file; created with its directory on first write."""

    def __init__(self, path: Path, *, next_n: int = 0) -> None:
        self.path = path
        self.next_n = next_n
        self._fd: int | None = None
        self._dirty = False

    def write(self, record: dict[str, Any]) -> int:
        """Append one record and return its number `n`, which later records refer to."""
        n = self.next_n
        line = json.dumps({**record, "n": n}, ensure_ascii=False, separators=(",", ":"))
        data = (line + "\n").encode("utf-8", "surrogateescape")
        fd = self._open()
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self.next_n = n + 1
        self._dirty = True
        return n

    def sync(self) -> None:
        """Make what was written durable; called at the end of every turn."""
        if self._fd is not None and self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            # A torn last line from an earlier crash stays where it is (reading skips it);
            # a newline first keeps it from swallowing the next record.
            size = os.fstat(fd).st_size
            if size and _last_byte(self.path, size) != b"\n":
                os.write(fd, b"\n")
            if size == 0:
                _fsync_dir(self.path.parent)
            self._fd = fd
        return self._fd


def _last_byte(path: Path, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(size - 1)
        return f.read(1)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(slots=True)
class RawTranscript:
    records: list[dict[str, Any]] = field(default_factory=list)
    corrupt: int = 0  # lines in the middle that did not parse
    torn: bool = False  # the last line was cut short by a crash

    @property
    def next_n(self) -> int:
        return max((r["n"] for r in self.records), default=-1) + 1

    def warnings(self, path: Path) -> list[str]:
        notes = []
        if self.torn:
            notes.append(f"{path.name}: the last record was cut short (coda was stopped mid-write)")
        if self.corrupt:
            notes.append(
                f"{path.name}: skipped {self.corrupt} unreadable line"
                f"{'s' if self.corrupt != 1 else ''}; the rest of the session is intact"
            )
        return notes


def read_transcript(path: Path) -> RawTranscript:
    """Every well-formed record of a transcript, in order. Never raises on content."""
    raw = path.read_bytes()
    out = RawTranscript()
    lines = raw.split(b"\n")
    last = len(lines) - 1
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        record = _parse(line)
        if record is not None:
            out.records.append(record)
        elif i == last:
            out.torn = True  # no newline after it: the write never finished
        else:
            out.corrupt += 1
    return out


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if not isinstance(record.get("type"), str) or not isinstance(record.get("n"), int):
        return None
    return record
