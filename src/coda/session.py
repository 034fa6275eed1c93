"""A session: the conversation, totals and settings one conversation carries across turns,
kept on disk as it goes (transcript), reversible (checkpoints) and bounded (compaction)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from coda.agent import Agent, TurnConfig, TurnHooks, TurnResult
from coda.messages import AssistantMessage, Message, ToolResultBlock, ToolUseBlock, user_text
from coda.thinking import budget_from_prompt, plan_thinking
from coda.tools.base import ToolContext
from coda.transcript.replay import CheckpointRef, SavedState
from coda.transcript.store import now_iso
from coda.usage import Totals

if TYPE_CHECKING:
    from coda.checkpoints import Checkpoints
    from coda.memory import NestedMemory
    from coda.transcript.log import SessionLog


@dataclass(frozen=True, slots=True)
class ModelLimits:
    max_tokens: int
    max_output: int | None
    can_think: bool
    interleaved: bool
    adaptive: bool = False
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class CompactSettings:
    auto: bool = True
    # Compact when the next request would pass this share of the context window.
    threshold: float = 0.85


@dataclass(frozen=True, slots=True)
class CompactOutcome:
    done: bool
    note: str
    before_tokens: int = 0
    after_tokens: int = 0
    failed: bool = False


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
    # The person's prompts in this conversation, verbatim; compaction keeps them.
    prompts: list[str] = field(default_factory=list)
    log: SessionLog | None = None
    checkpoints: Checkpoints | None = None
    checkpoint_refs: list[CheckpointRef] = field(default_factory=list)
    next_checkpoint_id: int = 1
    saved: dict[int, SavedState] = field(default_factory=dict)
    compact_settings: CompactSettings = field(default_factory=CompactSettings)
    nested_memory: NestedMemory | None = None
    max_budget_usd: float | None = None
    # Replies before this index predate a compaction: their usage no longer says how big
    # the conversation is.
    usage_from: int = 0

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
            max_budget_usd=self.max_budget_usd,
        )

    async def submit(self, prompt: str, *, typed: str | None = None) -> TurnResult:
        """Run one turn for the person's prompt. `typed` is what they typed, when `prompt`
        carries more (attached files); the transcript and compaction keep `typed`."""
        said = prompt if typed is None else typed
        snapshot = self._checkpoint(said)
        message = user_text(prompt)
        if self.log is not None:
            self.log.mark_prompt(message, said)
        self.prompts.append(said)
        hooks = TurnHooks(
            appended=self._persist,
            before_request=self._maybe_compact,
            before_tools=lambda _t: self._await_snapshot(snapshot),
            after_tools=self._after_tools,
            tools=lambda: self.base.tools,
        )
        try:
            result = await self.agent.run_turn(
                self.transcript, message, self.turn_config(said), hooks
            )
            # A turn without tools ends before the snapshot may have: it belongs to it.
            await self._await_snapshot(snapshot)
            return result
        finally:
            if self.log is not None:
                self.log.sync(self.transcript)
                self.log.end_turn()

    def adopt(self, old: Session) -> None:
        """Carry on `old`'s conversation in this session (built for another model or mode)."""
        self.transcript = old.transcript
        self.thinking_budget = old.thinking_budget
        self.session_id = old.session_id
        self.prompts = old.prompts
        self.log, self.checkpoints = old.log, old.checkpoints
        self.checkpoint_refs, self.saved = old.checkpoint_refs, old.saved
        self.next_checkpoint_id, self.usage_from = old.next_checkpoint_id, old.usage_from
        self.nested_memory = old.nested_memory

    def start_over(self) -> None:
        """A new, empty conversation with its own id and transcript (/clear)."""
        self.session_id = str(uuid.uuid4())
        self.transcript.clear()
        self.prompts.clear()
        self.checkpoint_refs.clear()
        self.saved.clear()
        self.next_checkpoint_id, self.usage_from = 1, 0
        self.tool_ctx.read_files.clear()
        self.tool_ctx.todos.clear()
        if self.log is not None:
            self.log.close()
            self.log = self.log.fresh(self.session_id)
        cp = self.checkpoints
        if cp is not None:
            from coda.checkpoints import Checkpoints

            self.checkpoints = Checkpoints(
                cp.workspace, cp.store, self.session_id, timeout=cp.timeout
            )

    # -- transcript

    def _persist(self, transcript: list[Message]) -> None:
        if self.log is not None:
            self.log.sync(transcript)

    def sync(self) -> None:
        """Write what changed outside a turn (an interrupt's repair, /clear)."""
        if self.log is not None:
            self.log.sync(self.transcript)
            self.log.end_turn()

    # -- checkpoints

    def _checkpoint(self, prompt: str) -> asyncio.Future[str | None]:
        """Record the conversation as it stands before `prompt` and start the workspace
        snapshot. The snapshot runs while the first request streams; tools wait for it."""
        ref_id = self.next_checkpoint_id
        self.next_checkpoint_id += 1
        n = self.log.checkpoint(ref_id, None, prompt) if self.log is not None else -ref_id
        self.saved[n] = SavedState(
            list(self.transcript), list(self.prompts), list(self.checkpoint_refs)
        )
        self.checkpoint_refs.append(CheckpointRef(ref_id, n, None, prompt, now_iso()))
        cp = self.checkpoints
        future: asyncio.Future[str | None]
        if cp is None:
            future = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        future = asyncio.ensure_future(asyncio.to_thread(cp.snapshot, f"before: {prompt}"))

        def done(f: asyncio.Future[str | None]) -> None:
            if f.cancelled():
                return
            if f.exception() is not None:
                self.notices.append(
                    f"checkpoints are off for this session: {f.exception()}"
                    " (rewind can still restore the conversation)"
                )
                self.checkpoints = None
                return
            commit = f.result()
            refs = self.checkpoint_refs
            for i, ref in enumerate(refs):
                if ref.id == ref_id:
                    refs[i] = CheckpointRef(ref_id, n, commit, prompt, ref.ts)
            if self.log is not None and commit is not None:
                self.log.snapshot(ref_id, commit)

        future.add_done_callback(done)
        return future

    async def _await_snapshot(self, snapshot: asyncio.Future[str | None]) -> None:
        if not snapshot.done():
            await asyncio.wait({snapshot})

    async def rewind(self, ref: CheckpointRef, *, code: bool, conversation: bool) -> list[str]:
        """Go back to how things stood before `ref`'s prompt. Returns what changed on disk."""
        changed: list[str] = []
        if code:
            if ref.commit is None or self.checkpoints is None:
                raise RewindError("there is no snapshot of the files for that prompt")
            report = await asyncio.to_thread(self.checkpoints.restore, ref.commit)
            changed = [*report.written, *report.deleted]
            # What the model read before may differ now: it must read again to edit.
            self.tool_ctx.read_files.clear()
        if conversation:
            saved = self.saved.get(ref.n)
            if saved is None:
                raise RewindError("the conversation at that prompt is not in this session")
            self.transcript[:] = saved.messages
            self.usage_from = 0
            self.prompts[:] = saved.prompts
            self.checkpoint_refs[:] = saved.checkpoints
        if self.log is not None:
            self.log.rewind(ref.n, self.transcript, code=code, conversation=conversation)
            self.log.end_turn()
        return changed

    def preserve_outside(self, path: Path) -> None:
        """Before Write/Edit changes a file outside the workspace: keep its bytes with the
        latest snapshot, so a rewind can put it back. A failure only loses that undo."""
        from coda.checkpoints import CheckpointError

        cp = self.checkpoints
        if cp is None:
            return
        try:
            cp.preserve(path)
        except (CheckpointError, OSError) as exc:
            self.notices.append(f"could not keep a copy of {path} for rewind: {exc}")

    # -- memory files below the cwd

    def _after_tools(self, calls: list[ToolUseBlock], results: list[ToolResultBlock]) -> None:
        nested = self.nested_memory
        if nested is None:
            return
        from coda.memory import render_nested
        from coda.messages import TextBlock

        for call, result in zip(calls, results, strict=True):
            path = call.input.get("file_path")
            if call.name != "Read" or result.is_error or not isinstance(path, str):
                continue
            files = nested.on_read(Path(path))
            if files:
                result.content.append(TextBlock(render_nested(files)))

    # -- compaction

    def context_tokens(self) -> int:
        """How big the next request is: the last reply's reported usage plus an estimate
        of what came after it (tool results, the new prompt)."""
        from coda.compaction import estimate_all

        # Usage reported before a compaction describes the old, longer conversation.
        for i in range(len(self.transcript) - 1, self.usage_from - 1, -1):
            message = self.transcript[i]
            if isinstance(message, AssistantMessage) and message.usage.context_tokens:
                used = message.usage.context_tokens + message.usage.output_tokens
                return used + estimate_all(self.transcript[i + 1 :])
        return estimate_all(self.transcript) + (len(self.base.system) + 4_000) // 4

    async def _maybe_compact(self, transcript: list[Message]) -> None:
        window = self.limits.context_window
        settings = self.compact_settings
        if not settings.auto or window is None:
            return
        from coda.compaction import should_compact

        if should_compact(self.context_tokens(), window, settings.threshold):
            outcome = await self.compact(None, trigger="auto")
            if outcome.done or outcome.failed:
                self.notices.append(outcome.note)

    async def compact(
        self, focus: str | None, *, trigger: Literal["auto", "manual"] = "manual"
    ) -> CompactOutcome:
        from coda import compaction
        from coda.providers.base import ProviderError
        from coda.tools.todo import render_todos

        window = self.limits.context_window or 200_000
        # Asked for, it summarises all but the latest exchange; on its own, it keeps a
        # recent stretch verbatim so the work in hand reads as it was.
        keep = 0 if trigger == "manual" else min(window // 7, 40_000)
        cut = compaction.choose_cut(self.transcript, keep_tokens=keep)
        if cut is None:
            return CompactOutcome(False, "nothing to compact yet")
        before = self.context_tokens()
        request = compaction.summary_request(self.transcript, cut, focus)
        cfg = TurnConfig(
            model=self.base.model,
            system=self.base.system,
            tools=self.base.tools,
            max_tokens=min(self.limits.max_tokens, 8_000),
        )
        try:
            reply = await self.agent.ask(request, cfg)
        except ProviderError as exc:
            note = f"compaction failed, nothing was changed: {exc.message}"
            return CompactOutcome(False, note, failed=True)
        if self.log is not None:
            self.log.usage(reply.model or cfg.model, reply.usage)
        tail_prompts = sum(1 for m in self.transcript[cut:] if compaction.is_prompt(m))
        earlier = self.prompts[: max(0, len(self.prompts) - tail_prompts)]
        self.transcript[:] = compaction.compacted(
            self.transcript,
            cut,
            reply.text,
            prompts=earlier,
            todos=render_todos(self.tool_ctx.todos),
            prompt_budget_tokens=min(window // 10, 25_000),
        )
        self.usage_from = len(self.transcript)
        if self.log is not None:
            self.log.compaction(self.transcript, self.prompts, trigger)
            self.log.end_turn()
        after = compaction.estimate_all(self.transcript) + len(self.base.system) // 4
        note = f"compacted the conversation ({trigger}): about {before:,} → {after:,} tokens"
        return CompactOutcome(True, note, before, after)


class RewindError(Exception):
    """A rewind that cannot be done; the message says why."""
