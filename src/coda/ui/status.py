"""The figures the person watches: context used, cost, and the status line that shows them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coda.ui.glyphs import Glyphs

if TYPE_CHECKING:
    from coda.messages import Message, Usage
    from coda.usage import Totals


@dataclass(frozen=True, slots=True)
class StatusParts:
    model: str
    mode: str
    share: float | None
    cost: float | None


def context_tokens(transcript: Sequence[Message]) -> int:
    """Tokens the conversation fills: what the last reply was asked with, and the reply.

    The session's totals add up every request, so they grow far past the window; the last
    request's prompt (input plus cache reads and writes) is what the window holds now.
    """
    from coda.messages import AssistantMessage

    for message in reversed(transcript):
        if isinstance(message, AssistantMessage):
            u = message.usage
            return (
                u.input_tokens
                + u.cache_read_input_tokens
                + u.cache_creation_input_tokens
                + u.output_tokens
            )
    return 0


def context_share(transcript: Sequence[Message], window: int | None) -> float | None:
    if not window:
        return None
    return min(1.0, context_tokens(transcript) / window)


def combined_usage(totals: Sequence[Totals]) -> Usage:
    from coda.messages import Usage

    usage = Usage()
    for t in totals:
        usage = usage + t.usage
    return usage


def combined_cost(totals: Sequence[Totals]) -> float | None:
    """Dollars over every model the session used; unknown if any one price is unknown."""
    cost = 0.0
    for t in totals:
        if t.cost_usd is None:
            return None
        cost += t.cost_usd
    return cost


def money(cost: float | None) -> str:
    if cost is None:
        return "cost unknown"
    if 0 < cost < 0.01:
        return f"${cost:.4f}"
    return f"${cost:.2f}"


def status_line(
    *,
    model: str,
    mode: str,
    share: float | None,
    cost: float | None,
    width: int,
    glyphs: Glyphs,
    hint: str = "",
) -> str:
    """One line of at most `width - 1` cells, in the longest form that fits."""
    share_text = f"{share:.0%}" if share is not None else "?"
    short_model = model.removeprefix("claude-")
    forms = [
        [model, f"{mode} mode (shift+tab)", f"{share_text} of context", money(cost)],
        [model, f"{mode} mode", f"{share_text} context", money(cost)],
        [short_model, mode, f"ctx {share_text}", money(cost).replace("cost unknown", "$?")],
        [short_model, mode, money(cost).replace("cost unknown", "$?")],
        [mode, money(cost).replace("cost unknown", "$?")],
    ]
    sep = f" {glyphs.dot} "
    limit = width - 1
    line = ""
    for parts in forms:
        line = sep.join([hint, *parts] if hint else parts)
        if len(line) <= limit:
            return line
    if hint and len(hint) <= limit:
        return hint
    return line[: max(0, limit - len(glyphs.ellipsis))] + glyphs.ellipsis


def combined_by_kind(totals: Sequence[Totals]) -> dict[str, float] | None:
    out: dict[str, float] = {}
    for t in totals:
        parts = t.cost_by_kind
        if parts is None:
            return None
        for kind, dollars in parts.items():
            out[kind] = out.get(kind, 0.0) + dollars
    return out


def cost_report(totals: Sequence[Totals]) -> list[str]:
    """The /cost listing: tokens by kind, per model, and dollars (or why they are unknown)."""
    usage = combined_usage(totals)
    requests = sum(t.requests for t in totals)
    api = sum(t.api_seconds for t in totals)
    kinds = combined_by_kind(totals)

    def row(label: str, tokens: int, kind: str) -> str:
        dollars = "" if kinds is None else f"  {money(kinds.get(kind, 0.0)):>10}"
        return f"{label:<21}{tokens:>12,}{dollars}"

    lines = [
        row("Input tokens:", usage.input_tokens, "input"),
        row("Output tokens:", usage.output_tokens, "output"),
        row("  of which thinking:", usage.thinking_tokens, "thinking"),
        row("Cache writes:", usage.cache_creation_input_tokens, "cache_write"),
        row("Cache reads:", usage.cache_read_input_tokens, "cache_read"),
        f"Requests:            {requests:>12,}",
        f"Time in the API:     {api:>11.1f}s",
    ]
    from coda.messages import Usage

    models: dict[str, Usage] = {}
    for t in totals:
        for model, u in t.by_model.items():
            models[model] = models.get(model, Usage()) + u
    if len(models) > 1:
        for model, u in models.items():
            lines.append(f"  {model}: {u.input_tokens:,} in, {u.output_tokens:,} out")
    cost = combined_cost(totals)
    if cost is None:
        lines.append("Cost:                     unknown (a model's price is not in coda's catalog)")
    else:
        lines.append(f"Cost:                {money(cost):>12}")
    return lines
