"""Finding a project's sessions: the newest for --continue, a listing for `coda sessions`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coda.messages import Usage
from coda.transcript.replay import Replayed, replay
from coda.transcript.store import SUFFIX, RawTranscript, read_transcript

# A model id and a request's usage → dollars, or None when the price is unknown.
Pricer = Callable[[str, Usage], float | None]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    path: Path
    modified: float  # the file's mtime
    first_prompt: str
    turns: int
    cost_usd: float | None


@dataclass(slots=True)
class Loaded:
    """A transcript read back: its raw records (for a fork) and the session they rebuild."""

    path: Path
    raw: RawTranscript
    session: Replayed

    @property
    def warnings(self) -> list[str]:
        notes = self.raw.warnings(self.path)
        if self.session.bad_records:
            notes.append(f"{self.path.name}: ignored {self.session.bad_records} malformed records")
        if self.session.repaired:
            notes.append(
                f"{self.session.repaired} tool call(s) had no result (coda stopped mid-turn); "
                "they are marked as not finished"
            )
        return notes


class SessionNotFound(LookupError):
    pass


def load(path: Path) -> Loaded:
    raw = read_transcript(path)
    session = replay(raw.records)
    if not session.session_id:
        session.session_id = path.name.removesuffix(SUFFIX)
    return Loaded(path, raw, session)


def transcripts(project: Path) -> list[Path]:
    """The project's transcript files, newest first."""
    try:
        found = [p for p in project.iterdir() if p.suffix == SUFFIX and p.is_file()]
    except OSError:
        return []
    return sorted(found, key=_mtime, reverse=True)


def find(project: Path, session_id: str | None) -> Path:
    """The transcript of `session_id` (a unique prefix will do), or the newest one."""
    files = transcripts(project)
    if session_id is None:
        if not files:
            raise SessionNotFound("no earlier session in this directory to continue")
        return files[0]
    exact = [p for p in files if p.stem == session_id]
    matches = exact or [p for p in files if p.stem.startswith(session_id)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SessionNotFound(
            f"no session {session_id!r} in this directory (`coda sessions` lists them)"
        )
    raise SessionNotFound(f"{session_id!r} matches {len(matches)} sessions; give more of the id")


def list_sessions(project: Path, pricer: Pricer) -> list[SessionInfo]:
    out = []
    for path in transcripts(project):
        session = load(path).session
        if not session.turns:
            continue
        out.append(
            SessionInfo(
                session.session_id,
                path,
                _mtime(path),
                session.first_prompt or "",
                session.turns,
                total_cost(session.usages, pricer),
            )
        )
    return out


def total_cost(usages: list[tuple[str, Usage]], pricer: Pricer) -> float | None:
    total = 0.0
    for model, usage in usages:
        cost = pricer(model, usage)
        if cost is None:
            return None
        total += cost
    return total


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
