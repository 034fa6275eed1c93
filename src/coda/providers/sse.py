"""A pure Server-Sent Events decoder: lines in, (event, data) records out, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str
    data: str


class SSEDecoder:
    """Feed it lines without their line terminators; it returns a record at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, used as a keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        # "id" and "retry" carry nothing the model APIs use.
        return None

    def flush(self) -> ServerSentEvent | None:
        """The record left when the stream ends without a final blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._event and not self._data:
            return None
        record = ServerSentEvent(self._event or "message", "\n".join(self._data))
        self._event, self._data = "", []
        return record


def decode_lines(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    decoder = SSEDecoder()
    for line in lines:
        record = decoder.feed(line.rstrip("\r\n"))
        if record is not None:
            yield record
    tail = decoder.flush()
    if tail is not None:
        yield tail
