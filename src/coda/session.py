"""A session: the transcript, totals and settings one conversation carries across turns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from coda.agent import Agent, TurnConfig, TurnResult
from coda.messages import Message, user_text
from coda.thinking import budget_from_prompt, plan_thinking
from coda.tools.base import ToolContext
from coda.usage import Totals


@dataclass(frozen=True, slots=True)
class ModelLimits:
    max_tokens: int
    max_output: int | None
    can_think: bool
    interleaved: bool
    adaptive: bool = False


@dataclass(slots=True)
class Session:
    agent: Agent
    base: TurnConfig
    limits: ModelLimits
    totals: Totals
    tool_ctx: ToolContext
    # An explicit budget (flag or MAX_THINKING_TOKENS) wins over words in the prompt.
    thinking_budget: int | None = None
    notices: list[str] = field(default_factory=list)
    transcript: list[Message] = field(default_factory=list)
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def turn_config(self, prompt: str) -> TurnConfig:
        budget = self.thinking_budget
        if budget is None:
            budget = budget_from_prompt(prompt)
        plan = plan_thinking(
            budget,
            self.limits.max_tokens,
            model_max_output=self.limits.max_output,
            can_think=self.limits.can_think,
            adaptive=self.limits.adaptive,
        )
        self.notices.extend(plan.notes)
        return TurnConfig(
            model=self.base.model,
            system=self.base.system,
            tools=self.base.tools,
            max_tokens=plan.max_tokens,
            thinking_budget=plan.budget,
            thinking_effort=plan.effort,
            # Adaptive thinking interleaves by itself; budget thinking needs the beta header.
            interleaved_thinking=self.limits.interleaved and plan.budget is not None,
            max_turns=self.base.max_turns,
        )

    async def submit(self, prompt: str) -> TurnResult:
        cfg = self.turn_config(prompt)
        return await self.agent.run_turn(self.transcript, user_text(prompt), cfg)
