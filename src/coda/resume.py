"""Giving a session its transcript: a new file, or an earlier session read back (resume),
or an earlier session copied under a new id (fork)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coda.messages import AssistantMessage, Message
from coda.providers.base import ConfigurationError
from coda.session import Session
from coda.tools.base import TodoItem, ToolError
from coda.transcript.log import SessionLog
from coda.transcript.sessions import Loaded, SessionNotFound, find, load
from coda.transcript.store import project_dir, transcript_path


@dataclass(frozen=True, slots=True)
class ResumeRequest:
    session_id: str | None = None  # None with `latest` set: the newest session here
    latest: bool = False
    fork: bool = False
    # `--resume` without an id on a terminal: the person picks one before the session starts.
    pick: bool = False

    @property
    def wanted(self) -> bool:
        return self.latest or self.session_id is not None


def attach_transcript(
    session: Session, request: ResumeRequest, *, env: Mapping[str, str], cwd: Path, model: str
) -> list[str]:
    """Open the session's transcript; returns notices (healed lines, repaired calls).
    Raises ConfigurationError when the session to resume does not exist."""
    if not request.wanted:
        session.log = SessionLog(
            transcript_path(env, cwd, session.session_id),
            session_id=session.session_id,
            cwd=cwd,
            model=model,
        )
        return []
    try:
        path = find(project_dir(env, cwd), request.session_id)
    except SessionNotFound as exc:
        raise ConfigurationError(str(exc)) from None
    loaded = load(path)
    restore_state(session, loaded)
    old_id = loaded.session.session_id
    if request.fork:
        session.session_id = str(uuid.uuid4())
        session.log = SessionLog(
            transcript_path(env, cwd, session.session_id),
            session_id=session.session_id,
            cwd=cwd,
            model=model,
            forked_from=old_id,
        )
        session.log.copy_records(loaded.raw.records)
    else:
        session.session_id = old_id
        session.log = SessionLog(
            path,
            session_id=old_id,
            cwd=cwd,
            model=model,
            next_n=loaded.raw.next_n,
        )
    # What the file holds counts as written; the repairs of `heal` are appended now.
    session.log.assume_written(loaded.session.stored_messages)
    session.sync()
    notes = loaded.warnings
    verb = "forked" if request.fork else "resumed"
    notes.append(
        f"{verb} session {old_id} ({loaded.session.turns} prompts, "
        f"{len(session.transcript)} messages)"
    )
    return notes


def restore_state(session: Session, loaded: Loaded) -> None:
    state = loaded.session
    session.transcript = list(state.messages)
    session.prompts = list(state.prompts)
    session.checkpoint_refs = list(state.checkpoints)
    session.next_checkpoint_id = state.next_checkpoint_id
    session.saved = dict(state.saved)  # the replay is not used again: no copies needed
    session.tool_ctx.todos[:] = last_todos(session.transcript)


def last_todos(messages: list[Message]) -> list[TodoItem]:
    """The task list as the model last wrote it."""
    from coda.tools.todo import parse_todos

    for message in reversed(messages):
        if not isinstance(message, AssistantMessage):
            continue
        for call in reversed(message.tool_calls):
            if call.name == "TodoWrite":
                try:
                    return parse_todos(call.input.get("todos"))
                except ToolError:  # a malformed list the tool refused at the time
                    return []
    return []
