"""Output clean-up and head+tail truncation: escapes, redrawn lines, markers, bounded memory."""

from __future__ import annotations

from coda.tools.output import (
    HeadTailBuffer,
    clean,
    count_chars,
    decode_head,
    decode_tail,
    strip_ansi,
    truncate_middle,
)


def test_strip_ansi_removes_colours_cursor_moves_titles_and_links() -> None:
    text = (
        "\x1b[1;31mred\x1b[0m \x1b[2K\x1b[10Gmoved \x1b]0;title\x07"
        "\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\ \x1b(Bcharset\x1b= done\x07"
    )
    assert strip_ansi(text) == "red moved link charset done"


def test_plain_text_is_unchanged() -> None:
    text = "tabs\tand [brackets] and ~tildes~\nlines\n"
    assert clean(text) == text


def test_redrawn_lines_keep_what_the_terminal_shows() -> None:
    assert clean("10%\r50%\r100%\ndone\r\n") == "100%\ndone\n"
    assert clean("keep\r\n") == "keep\n"
    assert clean("last\r") == "last"


def test_short_text_is_not_truncated() -> None:
    assert truncate_middle("a" * 100, 100) == "a" * 100


def test_long_text_keeps_head_and_tail_with_a_marker() -> None:
    lines = [f"line {i}" for i in range(10_000)]
    text = "\n".join(lines) + "\n"
    cut = truncate_middle(text, 1_000)
    assert cut.startswith("line 0\nline 1\n")
    assert cut.endswith("line 9998\nline 9999\n")
    head, marker, tail = cut.partition("[… ")
    assert marker
    # Both ends are cut at line boundaries and the count is exact.
    assert head.endswith("\n") and tail.split("\n", 1)[1].startswith("line ")
    kept = head + tail.split("\n", 1)[1]
    reported = int(tail.split(" characters")[0].replace(",", ""))
    assert reported == len(text) - len(kept)
    assert len(cut) < 1_100


def test_buffer_memory_is_bounded_and_the_middle_counted() -> None:
    buf = HeadTailBuffer(head_bytes=1_000, tail_bytes=1_000)
    chunk = b"x" * 999 + b"\n"
    for _ in range(10_000):
        buf.feed(chunk)
    assert buf.total_bytes == 10_000_000
    assert buf.buffered_bytes() <= 1_000 + 2 * 1_000
    text = buf.text(limit=1_000)
    assert "characters" in text and "lines cut" in text
    reported = int(text.split("[… ")[1].split(" characters")[0].replace(",", ""))
    kept = len(text) - len(text[text.index("[…") : text.index("…]") + 3])
    assert abs(reported + kept - 10_000_000) < 5


def test_buffer_below_its_size_keeps_everything() -> None:
    buf = HeadTailBuffer(head_bytes=10, tail_bytes=10)
    for part in (b"hello ", b"w\xc3", b"\xa9rld\n"):
        buf.feed(part)
    assert buf.text() == "hello wérld\n"


def test_invalid_utf8_is_replaced_and_split_characters_are_not() -> None:
    assert decode_head(b"ok\xff \xc3\xa9\xe2\x82") == "ok\ufffd é"
    assert decode_tail(b"\x82\xacend\xfe") == "end\ufffd"
    assert count_chars("é€😀a".encode()) == 4


def test_buffer_cut_inside_a_character_shows_no_replacement_at_the_ends() -> None:
    buf = HeadTailBuffer(head_bytes=5, tail_bytes=5)
    buf.feed("é".encode() * 1_000)
    text = buf.text(limit=10)
    assert "\ufffd" not in text
    assert text.startswith("éé") and text.endswith("éé")
