"""Session totals: tokens by kind, API time, and dollars where the price is known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coda.messages import Usage

# Given a model id and a request's usage, the cost in USD, or None when unknown.
Pricer = Callable[[str, Usage], float | None]


@dataclass(slots=True)
class Totals:
    pricer: Pricer
    usage: Usage = field(default_factory=Usage)
    by_model: dict[str, Usage] = field(default_factory=dict)
    api_seconds: float = 0.0
    requests: int = 0
    _cost: float = 0.0
    _cost_known: bool = True

    def add(self, model: str, usage: Usage) -> None:
        self.requests += 1
        self.usage = self.usage + usage
        self.by_model[model] = self.by_model.get(model, Usage()) + usage
        cost = self.pricer(model, usage)
        if cost is None:
            # One unpriced request makes the total unknown; showing a partial sum as
            # the total would understate the bill.
            self._cost_known = False
        else:
            self._cost += cost

    def add_api_time(self, seconds: float) -> None:
        self.api_seconds += seconds

    @property
    def cost_usd(self) -> float | None:
        return self._cost if self._cost_known else None
