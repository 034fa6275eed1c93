import pytest

from coda.messages import Usage
from coda.providers.catalog import (
    DEFAULT_MODEL,
    ModelChoice,
    UnknownModel,
    all_models,
    cost_usd,
    get_model_info,
    resolve_model,
)


@pytest.mark.parametrize(
    ("alias", "model_id"),
    [
        ("sonnet", "claude-sonnet-5-5"),
        ("opus", "claude-opus-5-5"),
        ("haiku", "claude-haiku-5-5"),
        ("fable", "claude-fable-5-2"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-opus-4-1", "claude-opus-4-1-20250805"),
        ("anthropic/sonnet", "claude-sonnet-5-5"),
    ],
)
def test_aliases_resolve_to_the_current_model_of_the_family(alias: str, model_id: str) -> None:
    choice = resolve_model(alias)
    assert choice.provider == "anthropic"
    assert choice.model_id == model_id
    assert choice.info is not None and choice.info.id == model_id


def test_default_model_resolves_to_a_catalogued_model() -> None:
    assert resolve_model(DEFAULT_MODEL).info is not None


def test_claude_3_7_sonnet_figures_are_exact() -> None:
    choice = resolve_model("claude-3-7-sonnet-20250219")
    info = choice.info
    assert choice.provider == "anthropic"
    assert info is not None
    assert (info.context_window, info.max_output) == (200_000, 64_000)
    assert (info.input_price, info.output_price) == (3.0, 15.0)
    assert (info.cache_write_price, info.cache_read_price) == (3.75, 0.30)
    assert info.can_think and info.thinking_mode == "budget"
    assert not info.interleaved_thinking
    assert not info.reasoning_model


@pytest.mark.parametrize(
    ("spec", "provider", "model_id"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5-20250929"),
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("openai/qwen2.5-coder:7b", "openai", "qwen2.5-coder:7b"),
        ("openai/meta-llama/llama-3-70b", "openai", "meta-llama/llama-3-70b"),
        ("OpenAI/anthropic/claude-sonnet-4.5", "openai", "anthropic/claude-sonnet-4.5"),
        ("  anthropic/claude-future-9  ", "anthropic", "claude-future-9"),
    ],
)
def test_provider_prefix_keeps_the_rest_as_the_id(spec: str, provider: str, model_id: str) -> None:
    choice = resolve_model(spec)
    assert (choice.provider, choice.model_id) == (provider, model_id)


def test_unknown_id_under_a_prefix_works_with_no_price() -> None:
    choice = resolve_model("openai/qwen2.5-coder:7b")
    assert choice == ModelChoice("openai", "qwen2.5-coder:7b", None)
    assert cost_usd(choice.info, Usage(input_tokens=1000, output_tokens=10)) is None


def test_catalog_figures_are_not_claimed_for_another_provider() -> None:
    # A proxy serving a Claude model over the OpenAI protocol bills on its own terms.
    assert resolve_model("openai/claude-sonnet-5-5").info is None


def test_bare_ids_outside_the_catalog_are_placed_by_their_shape() -> None:
    assert resolve_model("claude-next-preview") == ModelChoice(
        "anthropic", "claude-next-preview", None
    )
    for model_id in ("gpt-4o-2024-08-06", "o1", "o3-mini", "o4-mini-high", "chatgpt-4o-latest"):
        assert resolve_model(model_id).provider == "openai", model_id


@pytest.mark.parametrize("spec", ["qwen2.5-coder:7b", "llama3", "openai/", "", "o1x"])
def test_unplaceable_names_raise_with_how_to_name_a_model(spec: str) -> None:
    with pytest.raises(UnknownModel) as caught:
        resolve_model(spec)
    message = str(caught.value)
    assert "provider/id" in message
    assert "anthropic/" in message and "openai/" in message
    assert isinstance(caught.value, ValueError)


def test_cost_of_all_four_token_kinds() -> None:
    info = get_model_info("claude-3-7-sonnet-20250219")
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_creation_input_tokens=200_000,
        cache_read_input_tokens=2_000_000,
    )
    # 3.00 input + 1.50 output + 0.75 cache write + 0.60 cache read
    assert cost_usd(info, usage) == pytest.approx(5.85)


def test_cost_is_none_for_an_unknown_model_never_zero() -> None:
    assert cost_usd(None, Usage()) is None
    assert cost_usd(None, Usage(input_tokens=5)) is None


def test_long_prompts_move_to_the_higher_band() -> None:
    haiku = get_model_info("haiku")
    short = Usage(input_tokens=100_000, output_tokens=1_000_000)
    assert cost_usd(haiku, short) == pytest.approx(0.01 + 0.50)
    # Over 100K prompt tokens (cache reads count) every token costs 5x.
    long = Usage(input_tokens=50_000, output_tokens=1_000_000, cache_read_input_tokens=60_000)
    assert cost_usd(haiku, long) == pytest.approx(5 * (0.005 + 0.50 + 0.0006))

    sol = get_model_info("gpt-6.2-sol")
    usage = Usage(input_tokens=300_000, output_tokens=1_000_000)
    assert cost_usd(sol, usage) == pytest.approx(300_000 * 4 / 1e6 + 15.0)


def test_cheap_cache_reads_where_the_docs_say_so() -> None:
    reads = {m.id: m.cache_read_price for m in all_models() if m.provider == "anthropic"}
    assert reads["claude-fable-5-1"] == 0.25
    assert reads["claude-opus-5-5"] == 0.20
    assert reads["claude-sonnet-5-5"] == 0.10


def test_catalog_is_consistent() -> None:
    models = all_models()
    names = [n for m in models for n in (m.id, *m.aliases)]
    assert len(names) == len(set(names))
    for m in models:
        assert m.max_output <= m.context_window
        assert m.can_think == (m.thinking_mode != "none")
        if m.thinking_always_on:
            assert m.thinking_mode == "adaptive"
        if m.provider == "anthropic" and m.input_price is not None:
            assert m.cache_write_price == pytest.approx(1.25 * m.input_price)
        assert resolve_model(m.id).info is m
        assert resolve_model(f"{m.provider}/{m.id}").info is m


def test_thinking_modes() -> None:
    def mode(name: str) -> str | None:
        info = get_model_info(name)
        return None if info is None else info.thinking_mode

    assert mode("claude-sonnet-4-5") == "budget"
    assert mode("claude-opus-4-5") == "budget"
    assert mode("claude-opus-4-6") == "adaptive"
    assert mode("claude-opus-4-7") == "adaptive"
    assert mode("gpt-4o") == "none"
    fable = get_model_info("fable")
    assert fable is not None and fable.thinking_always_on
    o3 = get_model_info("o3")
    assert o3 is not None and o3.reasoning_model
