"""The status line, context share and cost report."""

from __future__ import annotations

from coda.messages import AssistantMessage, Message, TextBlock, Usage, user_text
from coda.ui.glyphs import ASCII, UNICODE, Glyphs
from coda.ui.status import context_share, cost_report, money, status_line
from coda.usage import Totals


def test_context_share_is_the_last_request_not_the_sum() -> None:
    first = AssistantMessage([TextBlock("a")], usage=Usage(1000, 100))
    second = AssistantMessage([TextBlock("b")], usage=Usage(200, 50, cache_read_input_tokens=1750))
    transcript: list[Message] = [user_text("q"), first, user_text("r"), second]
    assert context_share(transcript, 10_000) == 0.2
    assert context_share(transcript, None) is None
    assert context_share([], 100) == 0.0


def test_money() -> None:
    assert money(None) == "cost unknown"
    assert money(0.0) == "$0.00"
    assert money(0.00123) == "$0.0012"
    assert money(1.5) == "$1.50"


def line(width: int, glyphs: Glyphs = UNICODE) -> str:
    return status_line(
        model="claude-sonnet-5-5",
        mode="acceptEdits",
        share=0.123,
        cost=0.5,
        width=width,
        glyphs=glyphs,
    )


def test_status_line_fits_any_width() -> None:
    assert line(120) == (
        "claude-sonnet-5-5 · acceptEdits mode (shift+tab) · 12% of context · $0.50"
    )
    for width in range(10, 120):
        assert len(line(width, ASCII)) <= width - 1
    narrow = line(40, ASCII)
    assert "acceptEdits" in narrow and "$0.50" in narrow


def test_status_line_says_when_cost_is_unknown() -> None:
    line = status_line(
        model="openai/local", mode="default", share=None, cost=None, width=100, glyphs=UNICODE
    )
    assert "cost unknown" in line


def test_cost_report_splits_tokens_and_says_unknown_honestly() -> None:
    known = Totals(pricer=lambda _m, u: u.input_tokens * 1e-6)
    known.add("claude-sonnet-5-5", Usage(1000, 200, 30, 40))
    lines = "\n".join(cost_report([known]))
    assert "1,000" in lines and "200" in lines and "$0.0010" in lines
    unknown = Totals(pricer=lambda _m, _u: None)
    unknown.add("mystery", Usage(5, 5))
    lines = "\n".join(cost_report([known, unknown]))
    assert "unknown" in lines and "$" not in lines.split("Cost:")[1]
    assert "claude-sonnet-5-5: 1,000 in" in lines and "mystery: 5 in" in lines
