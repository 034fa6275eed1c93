"""The agent loop: ask the model, run the tools it calls, send the results, until it is done."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from coda.context import cache_breakpoints
from coda.messages import AssistantMessage, Message, TextBlock, UserMessage
from coda.providers.base import (
    Event,
    ModelRequest,
    Provider,
    ProviderError,
    Snapshot,
    StreamBroken,
    ToolSpec,
    accumulate_event,
    advice,
)
from coda.toolrun import ToolRunner, error_result
from coda.tools.base import ToolOutput
from coda.usage import Totals


class Observer(Protocol):
    """Where the loop reports what happens; the terminal UI and headless writers implement it."""

    def stream_event(self, event: Event) -> None: ...

    def message(self, message: Message) -> None: ...

    def tool_done(self, name: str, output: ToolOutput | None, is_error: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class TurnConfig:
    model: str
    system: str
    tools: list[ToolSpec]
    max_tokens: int
    thinking_budget: int | None = None
    thinking_effort: str | None = None
    interleaved_thinking: bool = False
    max_turns: int | None = None


@dataclass(slots=True)
class TurnResult:
    subtype: Literal["success", "error_max_turns", "error_during_execution"]
    text: str
    num_turns: int
    error: str | None = None
    messages: list[Message] = field(default_factory=list)


class Agent:
    def __init__(
        self, provider: Provider, runner: ToolRunner, observer: Observer, totals: Totals
    ) -> None:
        self._provider = provider
        self._runner = runner
        self._observer = observer
        self._totals = totals

    async def run_turn(
        self, transcript: list[Message], prompt: UserMessage, cfg: TurnConfig
    ) -> TurnResult:
        """Run one user turn to its end. `transcript` grows in place and stays valid."""
        self._append(transcript, prompt)
        turns = 0
        while True:
            try:
                reply = await self._query(self._request(transcript, cfg))
            except ProviderError as exc:
                error = f"{exc.message}\n{advice(exc)}"
                return TurnResult("error_during_execution", error, turns, error=error)
            turns += 1
            self._append(transcript, reply)
            calls = reply.tool_calls
            if not calls:
                return TurnResult("success", reply.text, turns)
            if cfg.max_turns is not None and turns >= cfg.max_turns:
                # Answer every call so the transcript stays valid for a resume.
                note = "Not run: the run reached its --max-turns limit."
                self._append(transcript, UserMessage([error_result(c, note) for c in calls]))
                return TurnResult("error_max_turns", reply.text, turns, error="max turns reached")
            ran = await self._runner.run_all(calls)
            for call, (result, output) in zip(calls, ran, strict=True):
                self._observer.tool_done(call.name, output, result.is_error)
            self._append(transcript, UserMessage([result for result, _ in ran]))

    def _append(self, transcript: list[Message], message: Message) -> None:
        transcript.append(message)
        self._observer.message(message)

    def _request(self, transcript: list[Message], cfg: TurnConfig) -> ModelRequest:
        return ModelRequest(
            model=cfg.model,
            system=cfg.system,
            messages=list(transcript),
            tools=cfg.tools,
            max_tokens=cfg.max_tokens,
            thinking_budget=cfg.thinking_budget,
            thinking_effort=cfg.thinking_effort,
            interleaved_thinking=cfg.interleaved_thinking,
            cache_messages=cache_breakpoints(transcript),
        )

    async def _query(self, request: ModelRequest) -> AssistantMessage:
        started = time.perf_counter()
        snapshot = Snapshot()
        try:
            async for event in self._provider.stream(request):
                snapshot = accumulate_event(snapshot, event)
                self._observer.stream_event(event)
        finally:
            self._totals.add_api_time(time.perf_counter() - started)
        if not snapshot.complete:
            raise StreamBroken("the model stream ended without a complete message")
        message = snapshot.message
        if not message.content:
            # The API rejects an empty assistant message (or an empty text block) later on.
            message.content.append(TextBlock("(empty response)"))
        self._totals.add(message.model or request.model, message.usage)
        return message
