"""The model catalog: ids, aliases, limits, thinking modes, prices; names resolved to models."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from coda.messages import Usage

Provider: TypeAlias = Literal["anthropic", "openai"]
ThinkingMode: TypeAlias = Literal["budget", "adaptive", "none"]

PROVIDERS: tuple[Provider, ...] = ("anthropic", "openai")
# What coda runs when neither the settings nor CODA_MODEL name a model.
DEFAULT_MODEL = "sonnet"


class UnknownModel(ValueError):
    """A model name coda cannot place with a provider."""


@dataclass(frozen=True, slots=True)
class LongPromptPricing:
    """A higher price band for requests whose prompt (input + cache writes + cache reads) is long.

    Above `threshold_tokens` every token of the request is billed at the base prices times
    these factors; `input_factor` also applies to cache writes and reads.
    """

    threshold_tokens: int
    input_factor: float
    output_factor: float


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What coda knows about one model. Prices are USD per million tokens; None means unknown."""

    id: str
    provider: Provider
    context_window: int
    max_output: int
    input_price: float | None
    output_price: float | None
    cache_write_price: float | None  # Anthropic: the 5-minute write; 1-hour writes cost 2x input
    cache_read_price: float | None
    can_think: bool
    interleaved_thinking: bool
    aliases: tuple[str, ...] = ()
    # OpenAI o-series / gpt-5+ style: takes reasoning_effort and max_completion_tokens.
    reasoning_model: bool = False
    # How a request turns thinking on. "budget": thinking={type: enabled, budget_tokens: N}.
    # "adaptive": thinking={type: adaptive} steered by effort (for OpenAI reasoning models:
    # reasoning_effort); the model sizes its own thinking. "none": the model cannot think.
    thinking_mode: ThinkingMode = "none"
    # Thinking cannot be switched off; a request asking for thinking "disabled" is refused.
    thinking_always_on: bool = False
    long_prompt: LongPromptPricing | None = None


@dataclass(frozen=True, slots=True)
class ModelChoice:
    provider: Provider
    model_id: str
    info: ModelInfo | None


# ---------------------------------------------------------------- the table
#
# Anthropic, as of 2026-11-28. Sources:
#   lineup, ids, context, max output, thinking column:
#     https://platform.claude.com/docs/en/about-claude/models/overview
#     and each model's page, https://platform.claude.com/docs/en/models/<model>/overview
#   prices, cache writes and reads: https://platform.claude.com/docs/en/about-claude/pricing
#     (Fable 5.1 reads are 0.025x input; Fable 5.2, Opus 5.5 and Sonnet 5.5 (since 2026-10-07)
#     reads are 0.05x; Haiku 5.5 bills prompts over 100K tokens at 5x)
#   adaptive vs budget_tokens:
#     https://platform.claude.com/en/docs/build-with-claude/extended-thinking
#     (budget_tokens is deprecated on the 4.6 models, rejected on 4.7 and later, and the only
#     mode on 4.5 and earlier). "Adaptive (always on)" is the overview table's Thinking column.
#   Adaptive thinking interleaves by itself; Claude 4 budget models interleave with the
#   interleaved-thinking beta header; Claude 3.7 Sonnet cannot.
#
# Columns: id, context, max output, input $, output $, cache write $, cache read $, thinking,
# aliases. Cache writes here are all 1.25x input and most reads 0.1x; the exceptions are above.
_K = 1_000
_M = 1_000_000

_ClaudeRow: TypeAlias = tuple[
    str, int, int, float, float, float, float, ThinkingMode, tuple[str, ...]
]
_CLAUDE: tuple[_ClaudeRow, ...] = (
    # current lineup
    ("claude-fable-5-2", _M, 128 * _K, 8, 40, 10, 0.20, "adaptive", ("fable",)),
    ("claude-opus-5-5", _M, 128 * _K, 4, 20, 5, 0.20, "adaptive", ("opus",)),
    ("claude-sonnet-5-5", _M, 128 * _K, 2, 10, 2.5, 0.10, "adaptive", ("sonnet",)),
    ("claude-haiku-5-5", _M, 128 * _K, 0.10, 0.50, 0.125, 0.01, "adaptive", ("haiku",)),
    # legacy, still served
    ("claude-fable-5-1", _M, 128 * _K, 10, 50, 12.5, 0.25, "adaptive", ()),
    ("claude-fable-5", _M, 128 * _K, 10, 50, 12.5, 1.0, "adaptive", ()),
    ("claude-opus-5", _M, 128 * _K, 5, 25, 6.25, 0.50, "adaptive", ()),
    ("claude-sonnet-5", _M, 128 * _K, 2, 10, 2.5, 0.20, "adaptive", ()),
    ("claude-opus-4-8", _M, 128 * _K, 5, 25, 6.25, 0.50, "adaptive", ()),
    ("claude-opus-4-7", _M, 128 * _K, 5, 25, 6.25, 0.50, "adaptive", ()),
    ("claude-opus-4-6", _M, 128 * _K, 5, 25, 6.25, 0.50, "adaptive", ()),
    ("claude-sonnet-4-6", _M, 128 * _K, 3, 15, 3.75, 0.30, "adaptive", ()),
    ("claude-opus-4-5-20251101", 200 * _K, 64 * _K, 5, 25, 6.25, 0.50, "budget",
     ("claude-opus-4-5",)),
    ("claude-haiku-4-5-20251001", 200 * _K, 64 * _K, 1, 5, 1.25, 0.10, "budget",
     ("claude-haiku-4-5",)),
    # deprecated (retires 2026-11-30) or retired on the Claude API; kept for Bedrock, Vertex
    # and proxies that still serve them
    ("claude-sonnet-4-5-20250929", 200 * _K, 64 * _K, 3, 15, 3.75, 0.30, "budget",
     ("claude-sonnet-4-5",)),
    ("claude-sonnet-4-20250514", 200 * _K, 64 * _K, 3, 15, 3.75, 0.30, "budget",
     ("claude-sonnet-4-0", "claude-sonnet-4")),
    ("claude-opus-4-1-20250805", 200 * _K, 32 * _K, 15, 75, 18.75, 1.50, "budget",
     ("claude-opus-4-1",)),
    ("claude-3-7-sonnet-20250219", 200 * _K, 64 * _K, 3, 15, 3.75, 0.30, "budget",
     ("claude-3-7-sonnet-latest",)),
)  # fmt: skip

_ALWAYS_THINKING = frozenset(
    {"claude-fable-5-2", "claude-fable-5-1", "claude-fable-5", "claude-opus-5-5"}
)
_NOT_INTERLEAVED = frozenset({"claude-3-7-sonnet-20250219"})
_LONG_PROMPT: dict[str, LongPromptPricing] = {
    "claude-haiku-5-5": LongPromptPricing(100 * _K, 5.0, 5.0),
    # Only reachable with the 1M-context beta: past 200K, input 2x and output 1.5x.
    "claude-sonnet-4-5-20250929": LongPromptPricing(200 * _K, 2.0, 1.5),
    "claude-sonnet-4-20250514": LongPromptPricing(200 * _K, 2.0, 1.5),
}

# OpenAI. Sources: https://developers.openai.com/api/docs/pricing and the model pages,
# https://developers.openai.com/api/docs/models/<id> (e.g. .../models/gpt-6.2-sol).
# Columns: id, context, max output, input $, output $, cached input $, cache write $,
# reasoning model. OpenAI bills no cache writes before GPT-6, so there a write is plain input.
# GPT-6 models bill requests over 272K input tokens at 2x input and cache, 1.5x output.
_OpenAIRow: TypeAlias = tuple[str, int, int, float, float, float, float, bool]
_OPENAI: tuple[_OpenAIRow, ...] = (
    ("gpt-6.2-sol", 1_050_000, 128 * _K, 2, 10, 0.10, 2.5, True),
    ("gpt-6.1-sol", 1_050_000, 128 * _K, 2, 10, 0.10, 2.5, True),
    ("gpt-6-sol", 1_050_000, 128 * _K, 2, 10, 0.20, 2.5, True),
    ("gpt-6-luna", 1_050_000, 128 * _K, 0.10, 0.50, 0.01, 0.125, True),
    ("gpt-5", 400 * _K, 128 * _K, 1.25, 10, 0.125, 1.25, True),
    ("gpt-5-mini", 400 * _K, 128 * _K, 0.25, 2, 0.025, 0.25, True),
    ("gpt-5-nano", 400 * _K, 128 * _K, 0.05, 0.40, 0.005, 0.05, True),
    ("o3", 200 * _K, 100 * _K, 2, 8, 0.50, 2, True),
    ("o4-mini", 200 * _K, 100 * _K, 1.10, 4.40, 0.275, 1.10, True),
    ("gpt-4.1", 1_047_576, 32_768, 2, 8, 0.50, 2, False),
    ("gpt-4o", 128 * _K, 16_384, 2.5, 10, 1.25, 2.5, False),
    ("gpt-4o-mini", 128 * _K, 16_384, 0.15, 0.60, 0.075, 0.15, False),
)
_GPT6_LONG_PROMPT = LongPromptPricing(272 * _K, 2.0, 1.5)


def _claude(row: _ClaudeRow) -> ModelInfo:
    model_id, context, max_out, price_in, price_out, write, read, mode, aliases = row
    return ModelInfo(
        id=model_id,
        provider="anthropic",
        context_window=context,
        max_output=max_out,
        input_price=float(price_in),
        output_price=float(price_out),
        cache_write_price=float(write),
        cache_read_price=float(read),
        can_think=mode != "none",
        interleaved_thinking=mode != "none" and model_id not in _NOT_INTERLEAVED,
        aliases=aliases,
        thinking_mode=mode,
        thinking_always_on=model_id in _ALWAYS_THINKING,
        long_prompt=_LONG_PROMPT.get(model_id),
    )


def _openai(row: _OpenAIRow) -> ModelInfo:
    model_id, context, max_out, price_in, price_out, read, write, reasoning = row
    return ModelInfo(
        id=model_id,
        provider="openai",
        context_window=context,
        max_output=max_out,
        input_price=float(price_in),
        output_price=float(price_out),
        cache_write_price=float(write),
        cache_read_price=float(read),
        can_think=reasoning,
        interleaved_thinking=False,
        reasoning_model=reasoning,
        thinking_mode="adaptive" if reasoning else "none",
        long_prompt=_GPT6_LONG_PROMPT if model_id.startswith("gpt-6") else None,
    )


@functools.cache
def _models() -> tuple[ModelInfo, ...]:
    return tuple(_claude(r) for r in _CLAUDE) + tuple(_openai(r) for r in _OPENAI)


@functools.cache
def _by_name() -> dict[str, ModelInfo]:
    names: dict[str, ModelInfo] = {}
    for info in _models():
        for name in (info.id, *info.aliases):
            assert name not in names, f"duplicate catalog name {name}"
            names[name] = info
    return names


# ---------------------------------------------------------------- lookups


def all_models() -> tuple[ModelInfo, ...]:
    """Every catalogued model, current Anthropic models first."""
    return _models()


def get_model_info(name: str) -> ModelInfo | None:
    """The catalog entry for an id or alias, or None."""
    return _by_name().get(name.strip().lower())


_OPENAI_LOOKING = re.compile(r"^(gpt-|chatgpt|o[134](-|$))")


def resolve_model(spec: str) -> ModelChoice:
    """Turn "provider/id", a catalog id or an alias into the model to call.

    Everything after the provider prefix is the model id, so ids with "/" or ":" work
    ("openai/meta-llama/llama-3-70b", "openai/qwen2.5-coder:7b"). An id the catalog does not
    know still resolves under an explicit prefix, with info=None.
    """
    text = spec.strip()
    prefix, sep, rest = text.partition("/")
    if sep and prefix.lower() in PROVIDERS:
        provider: Provider = "anthropic" if prefix.lower() == "anthropic" else "openai"
        if not rest.strip():
            raise UnknownModel(_unknown_message(spec))
        model_id = rest.strip()
        info = get_model_info(model_id)
        if info is not None and info.provider == provider:
            return ModelChoice(provider, info.id, info)
        # Prices and limits are only claimed for the provider they were published for.
        return ModelChoice(provider, model_id, None)

    info = get_model_info(text)
    if info is not None:
        return ModelChoice(info.provider, info.id, info)
    lowered = text.lower()
    if lowered.startswith("claude"):
        return ModelChoice("anthropic", text, None)
    if _OPENAI_LOOKING.match(lowered):
        return ModelChoice("openai", text, None)
    raise UnknownModel(_unknown_message(spec))


def _unknown_message(spec: str) -> str:
    return (
        f"unknown model {spec!r}. Name a model as provider/id, for example "
        "anthropic/claude-sonnet-5-5, openai/gpt-4o, or openai/qwen2.5-coder:7b for a local "
        "OpenAI-compatible server such as Ollama; a catalog id such as claude-opus-5-5; "
        "or an alias: fable, opus, sonnet, haiku."
    )


# ---------------------------------------------------------------- cost


COST_KINDS = ("input", "output", "cache_write", "cache_read", "thinking")


def cost_usd(info: ModelInfo | None, usage: Usage) -> float | None:
    """What one response cost, or None when a price it needs is unknown (never 0 by default).

    `usage` is one request's usage: the long-prompt band is decided per request. As in
    Anthropic's usage, input_tokens excludes the cache reads and writes counted beside it.
    """
    parts = cost_breakdown(info, usage)
    if parts is None:
        return None
    return sum(v for k, v in parts.items() if k != "thinking")


def cost_breakdown(info: ModelInfo | None, usage: Usage) -> dict[str, float] | None:
    """Dollars by kind of token (COST_KINDS). Thinking is billed as output: its share is
    reported beside output, not added to the total twice."""
    if info is None:
        return None
    in_factor = out_factor = 1.0
    band = info.long_prompt
    if band is not None and usage.context_tokens > band.threshold_tokens:
        in_factor, out_factor = band.input_factor, band.output_factor
    parts: dict[str, float] = {}
    for kind, tokens, price, factor in (
        ("input", usage.input_tokens, info.input_price, in_factor),
        ("output", usage.output_tokens, info.output_price, out_factor),
        ("cache_write", usage.cache_creation_input_tokens, info.cache_write_price, in_factor),
        ("cache_read", usage.cache_read_input_tokens, info.cache_read_price, in_factor),
        ("thinking", usage.thinking_tokens, info.output_price, out_factor),
    ):
        if tokens and price is None:
            return None
        parts[kind] = tokens * (price or 0.0) * factor / 1_000_000
    return parts


def price_by_id(model: str, usage: Usage) -> float | None:
    """cost_usd for a model named by id, as transcripts store it."""
    return cost_usd(get_model_info(model), usage)
