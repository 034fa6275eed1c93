"""Backoff, retry-after and the end of retrying, with real async generators (no mocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from coda.messages import Usage
from coda.providers.base import (
    BadRequestError,
    Event,
    MessageStart,
    MessageStop,
    OverloadedError,
    RateLimitError,
    StreamRetry,
)
from coda.providers.retry import RetriesExhausted, RetryPolicy, with_retries


class Script:
    """Each attempt plays the next outcome: an exception, a cut stream, or a full one."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.attempts = 0

    async def attempt(self) -> AsyncIterator[Event]:
        self.attempts += 1
        outcome = self.outcomes.pop(0)
        yield MessageStart("m", "x", Usage())
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == "full":
            yield MessageStop()


async def collect(script: Script, policy: RetryPolicy) -> list[Event]:
    return [e async for e in with_retries(script.attempt, policy)]


async def test_retries_then_succeeds_honouring_retry_after() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    script = Script(RateLimitError("429", status=429, retry_after=7.0), "cut", "full")
    events = await collect(script, RetryPolicy(max_retries=3, base_delay=0.5, sleep=sleep))
    retries = [e for e in events if isinstance(e, StreamRetry)]
    assert [r.attempt for r in retries] == [1, 2]
    assert slept[0] == 7.0  # the server's retry-after wins over our backoff
    assert 0.5 <= slept[1] <= 1.0  # second backoff: base * 2, with jitter in [half, full]
    assert isinstance(events[-1], MessageStop)
    assert script.attempts == 3


async def test_gives_up_with_clear_error() -> None:
    async def sleep(_: float) -> None:
        pass

    script = Script(*[OverloadedError("HTTP 529: overloaded", status=529)] * 3)
    with pytest.raises(RetriesExhausted) as info:
        await collect(script, RetryPolicy(max_retries=2, sleep=sleep))
    assert "529" in info.value.message and "3 attempts" in info.value.message


async def test_client_errors_are_not_retried() -> None:
    script = Script(BadRequestError("HTTP 400: bad", status=400), "full")
    with pytest.raises(BadRequestError):
        await collect(script, RetryPolicy(max_retries=5))
    assert script.attempts == 1
