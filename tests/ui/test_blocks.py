"""The streamed-markdown splitter: each piece handed out once, when it can no longer change."""

from __future__ import annotations

import random

from coda.ui.blocks import (
    MAX_PROSE_LINES,
    BlockSplitter,
    CodeEnd,
    CodeLine,
    CodeStart,
    Piece,
    Prose,
)

ANSWER = """# Title

First paragraph,
still the first.

- one
- two
  - nested
continued lazily

```python
def f():
    return 1
```
After the code.

| a | b |
|---|---|
| 1 | 2 |
> quoted
"""


def split_all(text: str, chunk: int) -> list[Piece]:
    splitter = BlockSplitter()
    pieces: list[Piece] = []
    for i in range(0, len(text), chunk):
        pieces.extend(splitter.feed(text[i : i + chunk]))
    return pieces + splitter.finish()


def test_pieces_of_a_typical_answer() -> None:
    assert split_all(ANSWER, len(ANSWER)) == [
        Prose("# Title", "heading", False),
        Prose("First paragraph,\nstill the first.", "paragraph", True),
        Prose("- one", "list", True),
        Prose("- two\n  - nested\ncontinued lazily", "list", False),
        CodeStart("python", True),
        CodeLine("def f():", "python"),
        CodeLine("    return 1", "python"),
        CodeEnd(),
        Prose("After the code.", "paragraph", True),
        Prose("| a | b |\n|---|---|\n| 1 | 2 |", "table", True),
        Prose("> quoted", "quote", False),
    ]


def test_the_split_does_not_depend_on_how_the_text_was_chunked() -> None:
    whole = split_all(ANSWER, len(ANSWER))
    for chunk in (1, 2, 3, 7, 64):
        assert split_all(ANSWER, chunk) == whole
    rng = random.Random(5)
    splitter, pieces, i = BlockSplitter(), [], 0
    while i < len(ANSWER):
        step = rng.randint(1, 9)
        pieces.extend(splitter.feed(ANSWER[i : i + step]))
        i += step
    assert pieces + splitter.finish() == whole


def test_a_piece_comes_out_as_soon_as_it_is_final() -> None:
    splitter = BlockSplitter()
    assert splitter.feed("A paragraph") == []
    assert splitter.feed(" goes on\n") == []  # the paragraph may continue
    assert splitter.feed("\n") == [Prose("A paragraph goes on", "paragraph", False)]
    assert splitter.feed("```sh\nls -l\n") == [CodeStart("sh", True), CodeLine("ls -l", "sh")]
    assert splitter.feed("```\n") == [CodeEnd()]


def test_an_unclosed_code_block_is_closed_at_the_end() -> None:
    splitter = BlockSplitter()
    splitter.feed("```\nx = 1")
    assert splitter.finish() == [CodeLine("x = 1", ""), CodeEnd()]


def test_long_fences_and_tildes() -> None:
    pieces = split_all("````md\n```\ninner\n```\n````\n~~~\nt\n~~~\n", 5)
    assert pieces == [
        CodeStart("md", False),
        CodeLine("```", "md"),
        CodeLine("inner", "md"),
        CodeLine("```", "md"),
        CodeEnd(),
        CodeStart("", True),
        CodeLine("t", ""),
        CodeEnd(),
    ]


def test_prose_without_blank_lines_is_cut_at_a_bound() -> None:
    text = "".join(f"line {i}\n" for i in range(MAX_PROSE_LINES * 2 + 3))
    pieces = split_all(text, 10)
    assert [len(p.text.splitlines()) for p in pieces if isinstance(p, Prose)] == [
        MAX_PROSE_LINES,
        MAX_PROSE_LINES,
        3,
    ]


def test_pending_is_what_an_interrupt_would_cut_off() -> None:
    splitter = BlockSplitter()
    splitter.feed("Done part.\n\nHalf a sen")
    assert splitter.pending == "Half a sen"
