"""Rebuilding a session from its transcript records: the conversation as it stood at the
end, the person's prompts, the checkpoints to rewind to, and what every request cost.

Record types (each also has `n`, its number in the file, and `ts`):
- session     the header: session_id, cwd, created, model, and forked_from for a fork
- message     one message in wire shape; `prompt` holds the person's text for a prompt;
              a reply carries model, id, stop_reason and usage
- usage       a request whose reply is not part of the conversation (a compaction summary)
- truncate    the conversation keeps only its first `keep` messages (a repaired interrupt)
- compaction  the conversation becomes `messages`; `prompts` are the person's prompts so far
- checkpoint  before a prompt: its id and the prompt (the conversation is saved here)
- snapshot    the workspace snapshot `commit` of checkpoint `id`, written once taken
- rewind      with `conversation`, the conversation goes back to how it stood at
              checkpoint record `to`; `code` says whether the files were restored too
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coda.messages import (
    AssistantMessage,
    Message,
    MessageFormatError,
    TextBlock,
    ToolResultBlock,
    Usage,
    UserBlock,
    UserMessage,
    message_from_dict,
)

STOPPED = (
    "coda stopped before this tool call finished (the session ended). Whether it had any "
    "effect is unknown: check before relying on it."
)


@dataclass(frozen=True, slots=True)
class CheckpointRef:
    id: int
    n: int  # the record number, which a rewind record points to
    commit: str | None  # the workspace snapshot, None when checkpoints were off
    prompt: str
    ts: str = ""


@dataclass(slots=True)
class SavedState:
    """The conversation as it stood at a checkpoint (before its prompt), for rewinding."""

    messages: list[Message] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    checkpoints: list[CheckpointRef] = field(default_factory=list)

    def copy(self) -> SavedState:
        return SavedState(list(self.messages), list(self.prompts), list(self.checkpoints))


@dataclass(slots=True)
class Replayed:
    session_id: str = ""
    cwd: str = ""
    created: str = ""
    modified: str = ""
    forked_from: str | None = None
    messages: list[Message] = field(default_factory=list)
    # The conversation exactly as the file holds it, before `heal` answered dangling calls.
    stored_messages: list[Message] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    checkpoints: list[CheckpointRef] = field(default_factory=list)
    usages: list[tuple[str, Usage]] = field(default_factory=list)
    first_prompt: str | None = None
    turns: int = 0  # prompts ever sent in this session, rewound ones included
    bad_records: int = 0  # parsed lines whose content coda could not use
    repaired: int = 0  # tool calls given a synthetic result so the conversation is valid
    # Snapshot commits by checkpoint id, also for checkpoints saved before they were known.
    commits: dict[int, str] = field(default_factory=dict)
    saved: dict[int, SavedState] = field(default_factory=dict)
    next_checkpoint_id: int = 1


def replay(records: list[dict[str, Any]]) -> Replayed:
    out = Replayed()
    state = SavedState()
    saved: dict[int, SavedState] = {}
    for record in records:
        try:
            _apply(record, state, saved, out)
        except (MessageFormatError, KeyError, TypeError, ValueError):
            out.bad_records += 1
        out.modified = str(record.get("ts", out.modified))
    out.stored_messages = state.messages
    out.messages, out.repaired = heal(state.messages)
    out.prompts, out.saved = state.prompts, saved
    out.checkpoints = [_with_commit(ref, out.commits) for ref in state.checkpoints]
    for kept in saved.values():
        kept.checkpoints = [_with_commit(ref, out.commits) for ref in kept.checkpoints]
    return out


def _with_commit(ref: CheckpointRef, commits: dict[int, str]) -> CheckpointRef:
    # Saved states share their refs; most already carry their commit, so nothing is built
    # (rebuilding every ref of every saved state made a 1,000-turn resume quadratic).
    commit = commits.get(ref.id)
    if commit is None or commit == ref.commit:
        return ref
    return CheckpointRef(ref.id, ref.n, commit, ref.prompt, ref.ts)


def _apply(
    record: dict[str, Any], state: SavedState, saved: dict[int, SavedState], out: Replayed
) -> None:
    kind = record["type"]
    if kind == "session":
        if not out.session_id:
            out.session_id = str(record["session_id"])
            out.cwd = str(record.get("cwd", ""))
            out.created = str(record.get("ts", ""))
            forked = record.get("forked_from")
            out.forked_from = str(forked) if forked else None
    elif kind == "message":
        message = message_from_dict(record["message"])
        if isinstance(message, AssistantMessage):
            message.model = str(record.get("model", ""))
            message.id = str(record.get("id", ""))
            message.stop_reason = record.get("stop_reason")
            message.usage = Usage.from_dict(record.get("usage"))
            out.usages.append((message.model, message.usage))
        prompt = record.get("prompt")
        if isinstance(prompt, str):
            state.prompts.append(prompt)
            out.turns += 1
            if out.first_prompt is None:
                out.first_prompt = prompt
        state.messages.append(message)
    elif kind == "usage":
        out.usages.append((str(record.get("model", "")), Usage.from_dict(record.get("usage"))))
    elif kind == "truncate":
        del state.messages[int(record["keep"]) :]
    elif kind == "compaction":
        state.messages = [message_from_dict(m) for m in record["messages"]]
        state.prompts = [str(p) for p in record.get("prompts", state.prompts)]
    elif kind == "checkpoint":
        commit = record.get("commit")
        ref = CheckpointRef(
            int(record["id"]),
            int(record["n"]),
            str(commit) if commit else None,
            str(record.get("prompt", "")),
            str(record.get("ts", "")),
        )
        saved[ref.n] = state.copy()
        state.checkpoints.append(ref)
        out.next_checkpoint_id = max(out.next_checkpoint_id, ref.id + 1)
    elif kind == "snapshot":
        checkpoint_id, commit = int(record["id"]), str(record["commit"])
        # The checkpoint is almost always the latest one: search from the end.
        for i in range(len(state.checkpoints) - 1, -1, -1):
            ref = state.checkpoints[i]
            if ref.id == checkpoint_id:
                state.checkpoints[i] = CheckpointRef(ref.id, ref.n, commit, ref.prompt, ref.ts)
                break
        out.commits[checkpoint_id] = commit
    elif kind == "rewind" and record.get("conversation", True):
        target = saved.get(int(record["to"]))
        if target is None:
            raise ValueError("a rewind to a checkpoint that is not in the transcript")
        # Conversation and prompts as they stood; the checkpoint itself is undone too.
        state.messages, state.prompts, state.checkpoints = (
            target.copy().messages,
            list(target.prompts),
            list(target.checkpoints),
        )
    # Unknown record types come from newer versions of coda: skipped, not an error.


def heal(messages: list[Message]) -> tuple[list[Message], int]:
    """A conversation the API accepts: every tool call answered exactly once, by the next
    message. Lost lines or a crash mid-turn can break that; the fix is synthetic results.
    Returns the conversation and how many calls were answered synthetically."""
    out: list[Message] = []
    added = 0
    pending: list[str] = []  # tool calls of the last reply that still need their results
    for message in messages:
        if isinstance(message, UserMessage):
            known = set(pending)
            results = [b for b in message.content if isinstance(b, ToolResultBlock)]
            answered = {b.tool_use_id for b in results if b.tool_use_id in known}
            missing = [_stopped(i) for i in pending if i not in answered]
            added += len(missing)
            rest = [b for b in message.content if not isinstance(b, ToolResultBlock)]
            kept: list[UserBlock] = [
                *[b for b in results if b.tool_use_id in answered],
                *missing,
                *rest,
            ]
            pending = []
            if kept:
                out.append(UserMessage(kept) if kept != message.content else message)
            continue
        if pending:
            out.append(UserMessage([_stopped(i) for i in pending]))
            added += len(pending)
        pending = [call.id for call in message.tool_calls]
        out.append(message)
    if pending:
        out.append(UserMessage([_stopped(i) for i in pending]))
        added += len(pending)
    return out, added


def _stopped(tool_use_id: str) -> ToolResultBlock:
    return ToolResultBlock(tool_use_id, [TextBlock(STOPPED)], is_error=True)
