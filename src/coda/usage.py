"""Session totals: tokens by kind, API time, and dollars where the price is known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coda.messages import Usage

# Given a model id and a request's usage, the cost in USD, or None when unknown.
Pricer = Callable[[str, Usage], float | None]
# The same by kind of token (input, output, cache_write, cache_read, thinking).
Breakdown = Callable[[str, Usage], dict[str, float] | None]


def _no_breakdown(model: str, usage: Usage) -> dict[str, float] | None:
    return None


@dataclass(slots=True)
class Totals:
    pricer: Pricer
    breakdown: Breakdown = _no_breakdown
    usage: Usage = field(default_factory=Usage)
    by_model: dict[str, Usage] = field(default_factory=dict)
    api_seconds: float = 0.0
    requests: int = 0
    _cost: float = 0.0
    _cost_known: bool = True
    _by_kind: dict[str, float] = field(default_factory=dict)
    _by_kind_known: bool = True

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
        parts = self.breakdown(model, usage)
        if parts is None:
            self._by_kind_known = False
        else:
            for kind, dollars in parts.items():
                self._by_kind[kind] = self._by_kind.get(kind, 0.0) + dollars

    def add_api_time(self, seconds: float) -> None:
        self.api_seconds += seconds

    @property
    def cost_usd(self) -> float | None:
        return self._cost if self._cost_known else None

    @property
    def cost_by_kind(self) -> dict[str, float] | None:
        """Dollars by kind of token; None when any request's price is unknown."""
        if not (self._by_kind_known and self._cost_known):
            return None
        return dict(self._by_kind)
