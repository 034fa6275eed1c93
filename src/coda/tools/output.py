"""Turning a process's raw output into text for the model: decoding, terminal clean-up, head+tail.

Long output keeps its beginning and its end, because a failing build says what it was doing
at the top and what went wrong at the bottom. Memory stays bounded however much a command
prints: `HeadTailBuffer` holds a fixed head and a rolling tail and only counts the middle.
"""

from __future__ import annotations

import codecs
import re

# What the model gets from one command or one read, at most.
MAX_OUTPUT_CHARS = 30_000
# Bytes kept at each end; generous so that after decoding and clean-up each end still
# fills its half of MAX_OUTPUT_CHARS.
HEAD_BYTES = 128 * 1024
TAIL_BYTES = 128 * 1024

_ANSI = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]          # CSI: colours, cursor moves, erase
    | \x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?     # OSC: titles, hyperlinks
    | \x1b[P^_X][^\x1b]*(?:\x1b\\)?            # DCS, PM, APC, SOS strings
    | \x1b[ -/]*[0-~]                          # the other two- and three-byte escapes
    | \x1b                                     # a lone escape left at a cut
    | \x07                                     # bell
    """,
    re.VERBOSE,
)
# Byte values 0x80-0xBF continue a UTF-8 sequence; every other byte starts a character.
_CONTINUATION = bytes(range(0x80, 0xC0))
# How far a cut point may move to land on a line boundary.
_LINE_SLACK = 1_000


def strip_ansi(text: str) -> str:
    """Remove terminal escape sequences (colours, cursor movement, titles, hyperlinks)."""
    return _ANSI.sub("", text)


def collapse_overwrites(text: str) -> str:
    r"""Keep what a terminal would show of lines redrawn with `\r` (progress bars)."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    if "\r" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\r" in line:
            shown = [part for part in line.split("\r") if part]
            lines[i] = shown[-1] if shown else ""
    return "\n".join(lines)


def clean(text: str) -> str:
    """Terminal output as plain text for the model."""
    return collapse_overwrites(strip_ansi(text))


def count_chars(data: bytes | bytearray) -> int:
    """Characters in UTF-8 `data`, without decoding it (exact for valid UTF-8)."""
    return len(data.translate(None, _CONTINUATION))


def decode_head(data: bytes | bytearray) -> str:
    """Decode the start of a stream: a character cut in two at the end is left out."""
    return codecs.getincrementaldecoder("utf-8")("replace").decode(bytes(data), final=False)


def decode_tail(data: bytes | bytearray) -> str:
    """Decode the end of a stream: the rest of a character cut at the start is left out."""
    start = 0
    while start < min(3, len(data)) and 0x80 <= data[start] < 0xC0:
        start += 1
    return bytes(data[start:]).decode("utf-8", "replace")


def truncate_middle(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """`text` as is when it fits, else its head and tail with a marker saying what was cut."""
    if len(text) <= limit:
        return text
    middle = len(text) // 2
    return splice(text[:middle], text[middle:], limit=limit)


def splice(
    head: str, tail: str, *, limit: int = MAX_OUTPUT_CHARS, gap_chars: int = 0, gap_lines: int = 0
) -> str:
    """Join the two ends of one text, whose middle (`gap_chars`, `gap_lines`) is already gone.

    Each end keeps up to half of `limit`, cut at a line boundary when one is near.
    """
    if not gap_chars and len(head) + len(tail) <= limit:
        return head + tail
    half = limit // 2
    front = head[:half]
    if len(front) < len(head):
        newline = front.rfind("\n", len(front) - _LINE_SLACK)
        if newline >= 0:
            front = front[: newline + 1]
    back = tail[max(0, len(tail) - half) :]
    if len(back) < len(tail):
        newline = back.find("\n", 0, _LINE_SLACK)
        if newline >= 0:
            back = back[newline + 1 :]
    removed = head[len(front) :] + tail[: len(tail) - len(back)]
    chars = gap_chars + len(removed)
    lines = gap_lines + removed.count("\n")
    what = f"{chars:,} characters" if not lines else f"{chars:,} characters, {lines:,} lines"
    marker = f"[… {what} cut …]\n"
    if front and not front.endswith("\n"):
        marker = "\n" + marker
    return front + marker + back


class HeadTailBuffer:
    """The first `head_bytes` and the last `tail_bytes` of a stream, and a count of the rest."""

    def __init__(self, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES) -> None:
        self._head_cap = head_bytes
        self._tail_cap = tail_bytes
        self._head = bytearray()
        self._tail = bytearray()
        self.total_bytes = 0
        self.dropped_bytes = 0
        self.dropped_chars = 0
        self.dropped_lines = 0

    def feed(self, data: bytes) -> None:
        self.total_bytes += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        self._tail += data
        # Trim only once the tail is twice its size, so each byte is moved a bounded
        # number of times however small the chunks are.
        if len(self._tail) > 2 * self._tail_cap:
            self._drop(len(self._tail) - self._tail_cap)

    def _drop(self, count: int) -> None:
        gone = self._tail[:count]
        self.dropped_bytes += count
        self.dropped_chars += count_chars(gone)
        self.dropped_lines += gone.count(b"\n")
        del self._tail[:count]

    def buffered_bytes(self) -> int:
        return len(self._head) + len(self._tail)

    def text(self, limit: int = MAX_OUTPUT_CHARS) -> str:
        """Everything seen so far as clean text, its middle cut if it is over `limit`."""
        if not self.dropped_bytes:
            whole = bytes(self._head + self._tail).decode("utf-8", "replace")
            return truncate_middle(clean(whole), limit)
        return splice(
            clean(decode_head(self._head)),
            clean(decode_tail(self._tail)),
            limit=limit,
            gap_chars=self.dropped_chars,
            gap_lines=self.dropped_lines,
        )
