"""Compaction: replacing the older part of a long conversation with a summary the model writes.

The session measures the context with `should_compact`, picks where the kept tail starts with
`choose_cut`, sends `summary_request` to the model, and continues with `compacted`. These are
pure functions over typed messages; the only I/O is reading the prompt template.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from coda.messages import (
    AssistantMessage,
    ImageBlock,
    JsonObject,
    Message,
    TextBlock,
    ToolResultBlock,
    UserBlock,
    UserMessage,
    block_to_dict,
)
from coda.prompts import render

CHARS_PER_TOKEN = 4
# Images are billed by pixel area, not by the size of their base64: a typical screenshot.
IMAGE_TOKENS = 1_600

SUMMARY_NOTE = (
    "[The earlier part of this conversation was summarised to free context. The summary "
    "follows; the most recent messages come after it unchanged.]"
)
PROMPTS_HEADING = "The person's messages so far, verbatim, oldest first"
TODOS_HEADING = "The todo list as it stands:"
UNANSWERED = "Not run: the conversation was summarised before this call got its result."


def estimate_tokens(message: Message) -> int:
    """Serialized characters / 4, with each image (also inside a tool result) at IMAGE_TOKENS."""
    images = 0
    blocks: list[JsonObject] = []
    for block in message.content:
        if isinstance(block, ImageBlock):
            images += 1
            continue
        if isinstance(block, ToolResultBlock):
            texts = [b for b in block.content if isinstance(b, TextBlock)]
            images += len(block.content) - len(texts)
            block = ToolResultBlock(block.tool_use_id, list(texts), block.is_error)
        blocks.append(block_to_dict(block))
    serialized = json.dumps({"role": message.role, "content": blocks}, ensure_ascii=False)
    return _tokens(serialized) + images * IMAGE_TOKENS


def estimate_all(messages: Iterable[Message]) -> int:
    return sum(estimate_tokens(m) for m in messages)


def should_compact(context_tokens: int, window: int, share: float) -> bool:
    """Whether the next request would fill more than `share` of the model's context `window`.

    `context_tokens` is the size of the next request: the last response's input_tokens +
    cache_read_input_tokens + cache_creation_input_tokens + output_tokens (the reply is part
    of the next request), plus `estimate_all` of the messages appended since that response
    (tool results, a new prompt). Before any response it is `estimate_all` of the transcript.
    """
    if window <= 0 or not 0 < share <= 1:
        raise ValueError(f"need window > 0 and 0 < share <= 1, got {window} and {share}")
    return context_tokens > share * window


def is_prompt(message: Message) -> bool:
    """A message the person wrote: a user message that answers no tool call."""
    return isinstance(message, UserMessage) and not any(
        isinstance(b, ToolResultBlock) for b in message.content
    )


def choose_cut(messages: Sequence[Message], keep_tokens: int) -> int | None:
    """Where the kept tail starts: messages[:cut] get summarised, messages[cut:] stay as they are.

    The tail may start at a person's prompt or at an assistant message, never between a tool
    call and its result. Among those cuts it takes the earliest whose tail fits in
    `keep_tokens`, preferring a prompt to an assistant message; but it keeps the newest
    complete exchange even past `keep_tokens`, unless that would leave nothing to summarise.
    Between turns that exchange is the newest answered prompt; mid-turn (the transcript ends
    with tool calls or results) it is the newest round of calls and results, so that one long
    turn can be compacted too. None when fewer than two messages would be summarised.
    """
    cuts = _cuts(messages)
    if not cuts:
        return None
    tail = [0] * (len(messages) + 1)
    for i in range(len(messages) - 1, -1, -1):
        tail[i] = tail[i + 1] + estimate_tokens(messages[i])
    newest = _newest_exchange(messages, cuts)
    allowed = [c for c in cuts if c <= newest]
    if not allowed or allowed[-1] < 2:
        allowed = cuts  # keeping that exchange would leave nothing to summarise: let it go
    fits = [c for c in allowed if tail[c] <= keep_tokens]
    prompts = [c for c in fits if is_prompt(messages[c])]
    cut = prompts[0] if prompts else fits[0] if fits else allowed[-1]
    return cut if cut >= 2 else None


def summary_request(messages: Sequence[Message], cut: int, focus: str | None) -> list[Message]:
    """What to send the model for a summary: messages[:cut], then the compact.md instruction.

    The input is not changed: a final user message is copied with the instruction appended
    after its blocks (tool results must stay first); after an assistant message the
    instruction is a new user message.
    """
    if not 0 < cut <= len(messages):
        raise ValueError(f"cut {cut} is outside 1..{len(messages)}")
    head = list(messages[:cut])
    last = head[-1]
    if isinstance(last, AssistantMessage) and last.tool_calls:
        # A cut from choose_cut never does this, but the API refuses an unanswered call.
        results: list[UserBlock] = [
            ToolResultBlock(call.id, [TextBlock(UNANSWERED)], is_error=True)
            for call in last.tool_calls
        ]
        head.append(UserMessage(results))
    instruction = TextBlock(_instruction(focus))
    last = head[-1]
    if isinstance(last, UserMessage):
        head[-1] = UserMessage([*last.content, instruction])
    else:
        head.append(UserMessage([instruction]))
    return head


def compacted(
    messages: Sequence[Message],
    cut: int,
    summary: str,
    *,
    prompts: Sequence[str],
    todos: str,
    prompt_budget_tokens: int,
) -> list[Message]:
    """The conversation after compaction: one user message with the summary, then messages[cut:].

    That first message holds a note, the summary, the person's `prompts` from the summarised
    part (oldest dropped first beyond `prompt_budget_tokens`) and `todos` when not blank. A
    tail that starts with a prompt gets those blocks in front of its first message, so the
    result alternates user/assistant; the tail's messages are otherwise kept as they are.
    """
    if not 0 <= cut <= len(messages):
        raise ValueError(f"cut {cut} is outside 0..{len(messages)}")
    tail = list(messages[cut:])
    if _splits(messages)[cut] or (tail and not _starts_tail(tail[0])):
        raise ValueError(f"a cut at {cut} separates tool calls from their results")
    blocks: list[UserBlock] = [TextBlock(f"{SUMMARY_NOTE}\n\n{summary.strip()}".rstrip())]
    kept, dropped = _fit_prompts([p for p in prompts if p.strip()], prompt_budget_tokens)
    if kept or dropped:
        blocks.append(TextBlock(_prompts_text(kept, dropped)))
    if todos.strip():
        blocks.append(TextBlock(f"{TODOS_HEADING}\n\n{todos.strip()}"))
    return _merge_users([UserMessage(blocks), *tail])


def _tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def _splits(messages: Sequence[Message]) -> list[bool]:
    """For each index 0..len, whether a cut there puts a tool call and its result apart."""
    called: dict[str, int] = {}
    split = [False] * (len(messages) + 1)
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage):
            called.update((call.id, i) for call in message.tool_calls)
            continue
        for block in message.content:
            if isinstance(block, ToolResultBlock) and block.tool_use_id in called:
                for c in range(called[block.tool_use_id] + 1, i + 1):
                    split[c] = True
    return split


def _starts_tail(message: Message) -> bool:
    return isinstance(message, AssistantMessage) or is_prompt(message)


def _cuts(messages: Sequence[Message]) -> list[int]:
    """Every index where a kept tail may start, in order, 0 included when it qualifies."""
    split = _splits(messages)
    return [c for c, m in enumerate(messages) if not split[c] and _starts_tail(m)]


def _newest_exchange(messages: Sequence[Message], cuts: list[int]) -> int:
    """The latest cut that still keeps the newest complete exchange (see choose_cut)."""
    last = messages[-1]
    if is_prompt(last) or (isinstance(last, AssistantMessage) and not last.tool_calls):
        answers = [
            i
            for i, m in enumerate(messages)
            if isinstance(m, AssistantMessage) and not m.tool_calls
        ]
        if not answers:
            return 0
        starts = [c for c in cuts if c < answers[-1] and is_prompt(messages[c])]
        return starts[-1] if starts else 0
    rounds = [
        c for c in cuts if c < len(messages) - 1 and isinstance(messages[c], AssistantMessage)
    ]
    return rounds[-1] if rounds else 0


def _instruction(focus: str | None) -> str:
    extra = f"Pay special attention to: {focus.strip()}" if focus and focus.strip() else ""
    return render("compact", focus=extra).rstrip()


def _fit_prompts(prompts: list[str], budget: int) -> tuple[list[str], int]:
    """The newest prompts that fit in `budget` tokens, oldest first, and how many were dropped.

    Only a newest prompt that alone exceeds the budget is cut, keeping its head and tail.
    """
    kept: list[str] = []
    used = 0
    for text in reversed(prompts):
        used += _tokens(text)
        if used > budget:
            break
        kept.append(text)
    kept.reverse()
    if not kept and prompts and budget > 0:
        kept = [_shorten(prompts[-1], budget * CHARS_PER_TOKEN)]
    return kept, len(prompts) - len(kept)


def _shorten(text: str, chars: int) -> str:
    half = max(1, chars // 2)
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n[… {left_out} characters left out …]\n{text[-half:]}"


def _prompts_text(kept: list[str], dropped: int) -> str:
    if not kept:
        return f"{PROMPTS_HEADING}: all {dropped} were left out to save space."
    note = f" ({dropped} older ones were left out to save space)" if dropped else ""
    body = "\n\n".join(f"<message>\n{text}\n</message>" for text in kept)
    return f"{PROMPTS_HEADING}{note}:\n\n{body}"


def _merge_users(messages: list[Message]) -> list[Message]:
    """Consecutive user messages as one, so the conversation alternates."""
    out: list[Message] = []
    for message in messages:
        previous = out[-1] if out else None
        if isinstance(message, UserMessage) and isinstance(previous, UserMessage):
            out[-1] = UserMessage([*previous.content, *message.content])
        else:
            out.append(message)
    return out
