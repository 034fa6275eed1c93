"""Writers for `coda -p`: plain text, one JSON result, or a stream of JSON lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from coda.messages import AssistantMessage, Message, ToolResultBlock, message_to_dict
from coda.permissions.policy import DecisionRecord
from coda.providers.base import Event, StreamRetry, TextDelta, ThinkingDelta
from coda.tools.base import ToolOutput

OutputFormat = Literal["text", "json", "stream-json"]
_DIM, _RESET = "\x1b[2m", "\x1b[0m"


@dataclass(slots=True)
class RunSummary:
    subtype: str
    result: str
    session_id: str
    is_error: bool
    num_turns: int
    duration_ms: int
    duration_api_ms: int
    total_cost_usd: float | None
    usage: dict[str, int]
    model: str
    permission_denials: list[dict[str, str]] = field(default_factory=list)
    cost_by_kind: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "result",
            "subtype": self.subtype,
            "result": self.result,
            "session_id": self.session_id,
            "is_error": self.is_error,
            "num_turns": self.num_turns,
            "duration_ms": self.duration_ms,
            "duration_api_ms": self.duration_api_ms,
            # null, never 0, when the model's price is unknown.
            "total_cost_usd": self.total_cost_usd,
            # input, output, cache_write, cache_read; thinking is the part of output it was.
            "cost_usd_by_kind": self.cost_by_kind,
            "usage": self.usage,
            "model": self.model,
            "permission_denials": self.permission_denials,
        }


@dataclass(slots=True)
class HeadlessWriter:
    """An agent Observer that writes what a script (or a watching person) needs."""

    fmt: OutputFormat
    out: TextIO
    err: TextIO
    session_id: str
    tty: bool = False
    color: bool = True
    verbose: bool = False
    _streamed_text: bool = field(default=False)
    _in_thinking: bool = field(default=False)

    # -- Observer
    def stream_event(self, event: Event) -> None:
        if isinstance(event, StreamRetry):
            self.notice(f"retrying in {event.delay:.1f}s (attempt {event.attempt}): {event.reason}")
            if self.fmt == "stream-json":
                self._line(
                    {
                        "type": "system",
                        "subtype": "api_retry",
                        "attempt": event.attempt,
                        "retry_delay_ms": int(event.delay * 1000),
                        "error": event.reason,
                    }
                )
            return
        if self.fmt == "stream-json":
            if isinstance(event, ThinkingDelta):
                self._line(
                    {
                        "type": "stream_event",
                        "event": {
                            "type": "content_block_delta",
                            "index": event.index,
                            "delta": {"type": "thinking_delta", "thinking": event.thinking},
                        },
                    }
                )
            return
        if self.fmt != "text" or not self.tty:
            return
        # A person watches a text run on a terminal: stream thinking dimmed, then the answer.
        if isinstance(event, ThinkingDelta):
            if not self._in_thinking:
                self._in_thinking = True
                self._write(self._dim("thinking…\n"))
            self._write(self._dim(event.thinking))
        elif isinstance(event, TextDelta):
            if self._in_thinking:
                self._in_thinking = False
                self._write("\n\n")
            self._streamed_text = True
            self._write(event.text)

    def message(self, message: Message) -> None:
        if self._in_thinking:
            self._in_thinking = False
            self._write("\n")
        if self.fmt == "stream-json":
            if isinstance(message, AssistantMessage):
                self._line({"type": "assistant", "message": _assistant_dict(message)})
            elif any(isinstance(b, ToolResultBlock) for b in message.content):
                # The prompt itself is not echoed, as peers do not; tool results are.
                self._line({"type": "user", "message": message_to_dict(message)})
        elif (
            self.tty
            and self.fmt == "text"
            and isinstance(message, AssistantMessage)
            and self._streamed_text
            and message.tool_calls
        ):
            self._write("\n")

    def tool_done(self, name: str, output: ToolOutput | None, is_error: bool) -> None:
        if self.verbose or (self.tty and self.fmt == "text"):
            mark = "✗" if is_error else "✓"
            summary = output.summary if output is not None and output.summary else ""
            self.err.write(f"{mark} {name} {summary}".rstrip() + "\n")
            if output is not None and output.display:
                # Diffs and the todo checklist: what the person needs to review the change.
                self.err.write(output.display.rstrip("\n") + "\n")
            self.err.flush()

    # -- lifecycle
    def init(
        self,
        *,
        model: str,
        tools: list[str],
        cwd: str,
        permission_mode: str,
        mcp_servers: list[dict[str, str]] | None = None,
    ) -> None:
        if self.fmt == "stream-json":
            self._line(
                {
                    "type": "system",
                    "subtype": "init",
                    "model": model,
                    "tools": tools,
                    "mcp_servers": mcp_servers or [],
                    "cwd": cwd,
                    "permissionMode": permission_mode,
                }
            )

    def permission(self, record: DecisionRecord) -> None:
        """Every permission decision, for the record (the transcript issue persists it)."""
        if self.fmt == "stream-json":
            self._line(
                {
                    "type": "system",
                    "subtype": "permission",
                    "tool": record.tool,
                    "input": record.input_summary,
                    "decision": record.decision,
                    "rule": record.rule,
                    "reason": record.reason,
                    "asked": record.asked,
                }
            )
        elif self.verbose and record.decision == "deny":
            self.notice(f"refused {record.tool} ({record.input_summary}): {record.reason}")

    def notice(self, text: str) -> None:
        """A warning for the person; never mixed into a script's stdout."""
        self.err.write(f"coda: {text}\n")
        self.err.flush()

    def finish(self, summary: RunSummary) -> None:
        if self.fmt == "json":
            self.out.write(json.dumps(summary.to_dict(), ensure_ascii=False) + "\n")
        elif self.fmt == "stream-json":
            self._line(summary.to_dict())
        elif summary.is_error:
            self.err.write(f"coda: {summary.result}\n")
        elif self._streamed_text:
            self._write("\n")
        else:
            self.out.write(summary.result.rstrip("\n") + "\n")
        self.out.flush()

    # -- helpers
    def _line(self, obj: dict[str, Any]) -> None:
        obj.setdefault("session_id", self.session_id)
        self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.out.flush()

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _dim(self, text: str) -> str:
        return f"{_DIM}{text}{_RESET}" if self.color else text


def _assistant_dict(message: AssistantMessage) -> dict[str, Any]:
    body = message_to_dict(message)
    body.update(
        id=message.id,
        type="message",
        model=message.model,
        stop_reason=message.stop_reason,
        usage=message.usage.to_dict(),
    )
    return body
