"""Retries with exponential backoff and jitter around one streamed model request."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from coda.providers.base import Event, MessageStop, ProviderError, StreamBroken, StreamRetry


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 4
    base_delay: float = 1.0
    max_delay: float = 32.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    def delay(self, attempt: int, server_hint: float | None) -> float:
        if server_hint is not None:
            return min(server_hint, 60.0)
        backoff = min(self.max_delay, self.base_delay * 2**attempt)
        # Full jitter keeps many clients from retrying in lockstep.
        return random.uniform(backoff / 2, backoff)


class RetriesExhausted(ProviderError):
    def __init__(self, last: ProviderError, attempts: int) -> None:
        super().__init__(f"{last.message} (gave up after {attempts} attempts)", status=last.status)
        self.last = last
        self.attempts = attempts


async def with_retries(
    attempt_stream: Callable[[], AsyncIterator[Event]], policy: RetryPolicy
) -> AsyncIterator[Event]:
    """Yield one complete stream. A failed attempt is followed by a StreamRetry event.

    Tools only run after a whole message has arrived, so restarting a stream can never
    run a tool twice.
    """
    attempt = 0
    while True:
        try:
            finished = False
            async for event in attempt_stream():
                yield event
                finished = finished or isinstance(event, MessageStop)
            if not finished:
                raise StreamBroken("the stream ended before message_stop")
            return
        except ProviderError as exc:
            if not exc.retryable:
                raise
            if attempt >= policy.max_retries:
                raise RetriesExhausted(exc, attempt + 1) from exc
            wait = policy.delay(attempt, getattr(exc, "retry_after", None))
            attempt += 1
            yield StreamRetry(attempt=attempt, delay=wait, reason=exc.message)
            await policy.sleep(wait)
