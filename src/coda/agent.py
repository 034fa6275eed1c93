"""The agent loop: ask the model, run the tools it calls, send the results, until it is done."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from coda.context import cache_breakpoints, merge_consecutive
from coda.messages import (
    AssistantMessage,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
)
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
    # Stop once the session's known spend reaches this many dollars.
    max_budget_usd: float | None = None


async def _nothing(transcript: list[Message]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TurnHooks:
    """Where the session joins the loop without the loop knowing about transcripts,
    compaction or memory files."""

    # After every message appended (the session persists it).
    appended: Callable[[list[Message]], None] = lambda transcript: None
    # Before every request; may replace the transcript's contents (compaction).
    before_request: Callable[[list[Message]], Awaitable[None]] = _nothing
    # The tools on offer now, read before every request: an MCP server that connects or
    # changes its list mid-turn is seen by the next request. None keeps the turn's own.
    tools: Callable[[], list[ToolSpec]] | None = None
    # Before a message's tool calls run (the workspace snapshot must be done by then).
    before_tools: Callable[[list[Message]], Awaitable[None]] = _nothing
    # After tools ran: may add to the results (memory files that a Read brought in).
    after_tools: Callable[[list[ToolUseBlock], list[ToolResultBlock]], None] = (
        lambda calls, results: None
    )


Subtype = Literal["success", "error_max_turns", "error_max_budget_usd", "error_during_execution"]


@dataclass(slots=True)
class TurnResult:
    subtype: Subtype
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
        self,
        transcript: list[Message],
        prompt: UserMessage,
        cfg: TurnConfig,
        hooks: TurnHooks | None = None,
    ) -> TurnResult:
        """Run one user turn to its end. `transcript` grows in place and stays valid."""
        hooks = hooks or TurnHooks()
        self._append(transcript, prompt, hooks)
        turns = 0
        while True:
            try:
                await hooks.before_request(transcript)
                if hooks.tools is not None:
                    cfg = replace(cfg, tools=hooks.tools())
                reply = await self._query(self._request(transcript, cfg))
            except ProviderError as exc:
                error = f"{exc.message}\n{advice(exc)}"
                return TurnResult("error_during_execution", error, turns, error=error)
            turns += 1
            self._append(transcript, reply, hooks)
            calls = reply.tool_calls
            if not calls:
                return TurnResult("success", reply.text, turns)
            stop = self._limit_reached(cfg, turns)
            if stop is not None:
                subtype, note, error = stop
                # Answer every call so the transcript stays valid for a resume.
                results = [error_result(c, note) for c in calls]
                self._append(transcript, UserMessage(list(results)), hooks)
                return TurnResult(subtype, reply.text, turns, error=error)
            await hooks.before_tools(transcript)
            ran = await self._runner.run_all(calls)
            for call, (result, output) in zip(calls, ran, strict=True):
                self._observer.tool_done(call.name, output, result.is_error)
            answers = [result for result, _ in ran]
            hooks.after_tools(calls, answers)
            self._append(transcript, UserMessage(list(answers)), hooks)

    async def ask(self, messages: list[Message], cfg: TurnConfig) -> AssistantMessage:
        """One request outside the conversation (a compaction summary): not streamed to
        the person, but counted in the totals."""
        return await self._query(self._request(messages, cfg), observe=False)

    def _limit_reached(self, cfg: TurnConfig, turns: int) -> tuple[Subtype, str, str] | None:
        if cfg.max_turns is not None and turns >= cfg.max_turns:
            note = "Not run: the run reached its --max-turns limit."
            return "error_max_turns", note, "max turns reached"
        spent = self._totals.cost_usd
        if cfg.max_budget_usd is not None and spent is not None and spent >= cfg.max_budget_usd:
            note = "Not run: the run reached its --max-budget-usd limit."
            error = f"budget reached: spent ${spent:.4f} of ${cfg.max_budget_usd:.4f}"
            return "error_max_budget_usd", note, error
        return None

    def _append(self, transcript: list[Message], message: Message, hooks: TurnHooks) -> None:
        transcript.append(message)
        self._observer.message(message)
        hooks.appended(transcript)

    def _request(self, transcript: list[Message], cfg: TurnConfig) -> ModelRequest:
        messages = merge_consecutive(transcript)
        return ModelRequest(
            model=cfg.model,
            system=cfg.system,
            messages=messages,
            tools=cfg.tools,
            max_tokens=cfg.max_tokens,
            thinking_budget=cfg.thinking_budget,
            thinking_effort=cfg.thinking_effort,
            interleaved_thinking=cfg.interleaved_thinking,
            cache_messages=cache_breakpoints(messages),
        )

    async def _query(self, request: ModelRequest, *, observe: bool = True) -> AssistantMessage:
        started = time.perf_counter()
        snapshot = Snapshot()
        try:
            async for event in self._provider.stream(request):
                snapshot = accumulate_event(snapshot, event)
                if observe:
                    self._observer.stream_event(event)
        finally:
            self._totals.add_api_time(time.perf_counter() - started)
        if not snapshot.complete:
            raise StreamBroken("the model stream ended without a complete message")
        message = snapshot.message
        if not message.content:
            # The API rejects an empty assistant message (or an empty text block) later on.
            message.content.append(TextBlock("(empty response)"))
        if not message.usage.thinking_tokens:
            message.usage.thinking_tokens = estimate_thinking_tokens(message)
        self._totals.add(message.model or request.model, message.usage)
        return message


def estimate_thinking_tokens(message: AssistantMessage) -> int:
    """Anthropic bills thinking as output without counting it apart: estimate it from the
    visible thinking (about four characters a token), never above the output count."""
    chars = sum(len(b.thinking) for b in message.content if isinstance(b, ThinkingBlock))
    return min(message.usage.output_tokens, (chars + 3) // 4)
