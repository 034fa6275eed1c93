"""The live side of a transcript: what the session appends as the conversation changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coda.messages import AssistantMessage, Message, Usage, message_to_dict
from coda.transcript.store import FORMAT_VERSION, TranscriptWriter, now_iso


class SessionLog:
    """Keeps a transcript file in step with the session's conversation.

    The conversation is a plain list that the loop, interrupt repair and compaction change;
    `sync` compares it (by identity) with what was already written and appends the
    difference: new messages, or a `truncate` record when messages were replaced or dropped.
    """

    def __init__(
        self,
        path: Path,
        *,
        session_id: str,
        cwd: Path,
        model: str,
        next_n: int = 0,
        persisted: list[Message] | None = None,
        forked_from: str | None = None,
    ) -> None:
        self.path = path
        self.session_id = session_id
        self.cwd, self.model = cwd, model
        self._writer = TranscriptWriter(path, next_n=next_n)
        self._header: dict[str, Any] | None = None
        if next_n == 0:
            self._header = {
                "type": "session",
                "version": FORMAT_VERSION,
                "session_id": session_id,
                "cwd": str(cwd),
                "model": model,
            }
            if forked_from:
                self._header["forked_from"] = forked_from
        self._persisted: list[Message] = list(persisted or [])
        self._prompts: dict[int, str] = {}

    def fresh(self, session_id: str) -> SessionLog:
        """The log of a new session in the same project."""
        path = self.path.with_name(f"{session_id}{self.path.suffix}")
        return SessionLog(path, session_id=session_id, cwd=self.cwd, model=self.model)

    def copy_records(self, records: list[dict[str, Any]]) -> None:
        """Start a fork: the parent's records, numbers kept, after this file's header."""
        for record in records:
            if record.get("type") != "session":
                self._write(record, keep_n=True)

    def assume_written(self, messages: list[Message]) -> None:
        """`messages` are what the file already holds (a resumed session)."""
        self._persisted = list(messages)

    def mark_prompt(self, message: Message, text: str) -> None:
        """The next sync writes `message` as the person's prompt `text`."""
        self._prompts[id(message)] = text

    def sync(self, messages: list[Message]) -> None:
        persisted = self._persisted
        same = 0
        for old, new in zip(persisted, messages, strict=False):
            if old is not new:
                break
            same += 1
        if same < len(persisted):
            self._write({"type": "truncate", "keep": same})
            del persisted[same:]
        for message in messages[same:]:
            self._write(self._message_record(message))
            persisted.append(message)

    def usage(self, model: str, usage: Usage) -> None:
        self._write({"type": "usage", "model": model, "usage": usage.to_dict()})

    def compaction(self, messages: list[Message], prompts: list[str], trigger: str) -> None:
        self._write(
            {
                "type": "compaction",
                "trigger": trigger,
                "messages": [message_to_dict(m) for m in messages],
                "prompts": prompts,
            }
        )
        self._persisted = list(messages)

    def checkpoint(self, checkpoint_id: int, commit: str | None, prompt: str) -> int:
        return self._write(
            {"type": "checkpoint", "id": checkpoint_id, "commit": commit, "prompt": prompt}
        )

    def snapshot(self, checkpoint_id: int, commit: str) -> None:
        """The workspace snapshot of a checkpoint, known once it finished."""
        self._write({"type": "snapshot", "id": checkpoint_id, "commit": commit})

    def rewind(self, to: int, messages: list[Message], *, code: bool, conversation: bool) -> None:
        self._write({"type": "rewind", "to": to, "code": code, "conversation": conversation})
        self._persisted = list(messages)

    def end_turn(self) -> None:
        self._writer.sync()

    def close(self) -> None:
        self._writer.close()

    def _message_record(self, message: Message) -> dict[str, Any]:
        record: dict[str, Any] = {"type": "message", "message": message_to_dict(message)}
        prompt = self._prompts.pop(id(message), None)
        if prompt is not None:
            record["prompt"] = prompt
        if isinstance(message, AssistantMessage):
            record.update(
                model=message.model,
                id=message.id,
                stop_reason=message.stop_reason,
                usage=message.usage.to_dict(),
            )
        return record

    def _write(self, record: dict[str, Any], *, keep_n: bool = False) -> int:
        if self._header is not None:
            header, self._header = self._header, None
            self._writer.write({**header, "ts": now_iso()})
        if keep_n:
            self._writer.next_n = max(self._writer.next_n, int(record["n"]))
            return self._writer.write(record)
        return self._writer.write({**record, "ts": now_iso()})
