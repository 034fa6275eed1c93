from __future__ import annotations

import pytest

from coda.thinking import MIN_BUDGET, budget_from_prompt, plan_thinking


@pytest.mark.parametrize(
    ("prompt", "budget"),
    [
        ("What does this do?", None),
        ("think about the parser", 4_000),
        ("Please THINK hard about it", 10_000),
        ("think harder: why does it fail", 31_999),
        ("ultrathink", 31_999),
        ("rethinking is not a keyword", None),
        ("think   hard with spaces", 10_000),
    ],
)
def test_keywords_set_budget(prompt: str, budget: int | None) -> None:
    assert budget_from_prompt(prompt) == budget


def test_no_budget_leaves_request_alone() -> None:
    plan = plan_thinking(None, 32_000, model_max_output=64_000, can_think=True)
    assert plan.budget is None and plan.max_tokens == 32_000 and not plan.notes


def test_small_budget_is_raised_to_minimum() -> None:
    plan = plan_thinking(500, 32_000, model_max_output=64_000, can_think=True)
    assert plan.budget == MIN_BUDGET
    assert "minimum" in plan.notes[0]


def test_budget_over_max_tokens_raises_max_tokens_within_model_limit() -> None:
    plan = plan_thinking(31_999, 32_000, model_max_output=64_000, can_think=True)
    assert plan.budget == 31_999 and plan.max_tokens > 31_999
    plan = plan_thinking(60_000, 32_000, model_max_output=64_000, can_think=True)
    assert plan.budget == 60_000 and plan.max_tokens == 64_000
    assert "max_tokens raised" in plan.notes[0]


def test_budget_beyond_model_limit_is_clamped() -> None:
    plan = plan_thinking(31_999, 8_192, model_max_output=8_192, can_think=True)
    assert plan.budget is not None
    assert MIN_BUDGET <= plan.budget < plan.max_tokens <= 8_192
    assert "clamped" in plan.notes[0]


def test_model_that_cannot_think_turns_it_off() -> None:
    plan = plan_thinking(4_000, 8_192, model_max_output=8_192, can_think=False)
    assert plan.budget is None and plan.notes


def test_adaptive_models_get_effort_not_budget() -> None:
    plan = plan_thinking(10_000, 32_000, model_max_output=128_000, can_think=True, adaptive=True)
    assert plan.budget is None and plan.effort == "medium" and plan.max_tokens == 32_000
    assert (
        plan_thinking(4_000, 32_000, model_max_output=None, can_think=True, adaptive=True).effort
        == "low"
    )
    assert (
        plan_thinking(31_999, 32_000, model_max_output=None, can_think=True, adaptive=True).effort
        == "high"
    )
