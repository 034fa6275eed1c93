"""Extended-thinking budgets: prompt keywords, and fitting a budget inside max_tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

MIN_BUDGET = 1024
# Room left for the visible answer when max_tokens is raised to fit a budget.
ANSWER_ROOM = 8192

# Longest phrase first, so "think harder" is not read as "think".
_KEYWORDS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(rf"\b{phrase}\b", re.IGNORECASE), budget)
    for phrase, budget in (
        ("ultrathink", 31_999),
        (r"think\s+harder", 31_999),
        (r"think\s+hard", 10_000),
        ("think", 4_000),
    )
)


def budget_from_prompt(text: str) -> int | None:
    """The budget that words in a prompt ask for, or None when they ask for none."""
    for pattern, budget in _KEYWORDS:
        if pattern.search(text):
            return budget
    return None


Effort = Literal["low", "medium", "high", "max"]


@dataclass(frozen=True, slots=True)
class ThinkingPlan:
    budget: int | None
    max_tokens: int
    notes: list[str] = field(default_factory=list)
    # Set instead of a budget for models that think adaptively and take an effort level.
    effort: Effort | None = None


def effort_for_budget(budget: int) -> Effort:
    """The effort level closest to a token budget, for models that refuse budgets."""
    if budget <= 4_000:
        return "low"
    if budget <= 10_000:
        return "medium"
    if budget <= 31_999:
        return "high"
    return "max"


def plan_thinking(
    budget: int | None,
    max_tokens: int,
    *,
    model_max_output: int | None,
    can_think: bool,
    adaptive: bool = False,
) -> ThinkingPlan:
    """Fit a budget into the request: at least MIN_BUDGET and below max_tokens.

    max_tokens is raised within the model's output limit when it can be; otherwise the
    budget is clamped. Every adjustment is reported in `notes`, for the person.
    """
    if budget is None or budget <= 0:
        return ThinkingPlan(None, max_tokens)
    if not can_think:
        return ThinkingPlan(None, max_tokens, ["this model cannot think; thinking is off"])
    if adaptive:
        # These models size their own thinking and reject budget_tokens; the budget
        # becomes an effort level and max_tokens needs no room reserved.
        return ThinkingPlan(None, max_tokens, [], effort=effort_for_budget(budget))
    notes: list[str] = []
    if budget < MIN_BUDGET:
        notes.append(f"thinking budget raised from {budget} to the minimum {MIN_BUDGET}")
        budget = MIN_BUDGET
    if budget < max_tokens:
        return ThinkingPlan(budget, max_tokens, notes)
    wanted = budget + ANSWER_ROOM
    limit = model_max_output if model_max_output is not None else wanted
    if limit > budget:
        new_max = min(wanted, limit)
        notes.append(f"max_tokens raised from {max_tokens} to {new_max} to fit the thinking budget")
        return ThinkingPlan(budget, new_max, notes)
    clamped = max(MIN_BUDGET, limit - min(ANSWER_ROOM, limit // 4))
    notes.append(
        f"thinking budget clamped from {budget} to {clamped}: the model's output limit is {limit}"
    )
    return ThinkingPlan(clamped, limit, notes)
