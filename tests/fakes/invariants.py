"""Rules every request must keep, the ones the real APIs reject with a 400 when broken."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_CACHE_MARKERS = 4
THINKING_TYPES = ("thinking", "redacted_thinking")


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def check_anthropic(body: dict[str, Any]) -> list[str]:
    problems = _check_shape(body)
    problems += check_tool_pairing(body.get("messages") or [])
    problems += check_cache_markers(body)
    problems += check_thinking_config(body)
    return problems


def _check_shape(body: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            problems.append(f"{key}: field required")
    for i, message in enumerate(body.get("messages") or []):
        if message.get("role") not in ("user", "assistant"):
            problems.append(f"messages.{i}: role must be user or assistant")
        for block in blocks_of(message):
            if block.get("type") == "text" and not block.get("text"):
                problems.append(f"messages.{i}: text content blocks must be non-empty")
    return problems


def check_tool_pairing(messages: list[dict[str, Any]]) -> list[str]:
    """Each tool_use is answered by exactly one tool_result, first in the next user message."""
    problems = []
    seen_ids: set[str] = set()
    for i, message in enumerate(messages):
        blocks = blocks_of(message)
        if message.get("role") == "user":
            asked = _tool_use_ids(messages[i - 1]) if i > 0 else []
            answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
            for unknown in sorted({str(a) for a in answered} - set(asked)):
                problems.append(
                    f"messages.{i}: tool_result for unknown tool_use id {unknown!r} "
                    "(not in the previous assistant message)"
                )
            kinds = [b.get("type") == "tool_result" for b in blocks]
            if any(kinds) and kinds != sorted(kinds, reverse=True):
                problems.append(f"messages.{i}: tool_result blocks must come first in the content")
            continue
        ids = _tool_use_ids(message)
        for call_id in ids:
            if call_id in seen_ids:
                problems.append(f"messages.{i}: duplicate tool_use id {call_id!r}")
            seen_ids.add(call_id)
        if not ids:
            continue
        following = messages[i + 1] if i + 1 < len(messages) else None
        if following is None or following.get("role") != "user":
            problems.append(
                f"messages.{i}: tool_use ids {ids} have no tool_result in an immediately "
                "following user message"
            )
            continue
        answered = [
            b.get("tool_use_id") for b in blocks_of(following) if b.get("type") == "tool_result"
        ]
        for call_id in ids:
            count = answered.count(call_id)
            if count != 1:
                problems.append(
                    f"messages.{i}: tool_use id {call_id!r} answered by {count} tool_result "
                    f"blocks in messages.{i + 1} (needs exactly 1)"
                )
    return problems


def _tool_use_ids(message: dict[str, Any]) -> list[str]:
    if message.get("role") != "assistant":
        return []
    return [str(b.get("id")) for b in blocks_of(message) if b.get("type") == "tool_use"]


def check_cache_markers(body: dict[str, Any]) -> list[str]:
    marked = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    system = body.get("system")
    if isinstance(system, list):
        marked += [b for b in system if isinstance(b, dict)]
    for message in body.get("messages") or []:
        for block in blocks_of(message):
            marked.append(block)
            if block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                marked += [b for b in block["content"] if isinstance(b, dict)]
    count = sum(1 for b in marked if b.get("cache_control") is not None)
    if count > MAX_CACHE_MARKERS:
        return [f"{count} cache_control markers; at most {MAX_CACHE_MARKERS} are allowed"]
    return []


def check_thinking_config(body: dict[str, Any]) -> list[str]:
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return []
    problems = []
    # The API accepts temperature 1 (its default) with thinking, nothing else.
    if body.get("temperature") not in (None, 1):
        problems.append("thinking is enabled: temperature may only be 1")
    if body.get("top_k") is not None:
        problems.append("thinking is enabled: top_k must not be set")
    tool_choice = body.get("tool_choice")
    if isinstance(tool_choice, dict) and tool_choice.get("type") in ("any", "tool"):
        problems.append("thinking is enabled: tool_choice may not force tool use")
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        problems.append(f"thinking.budget_tokens must be >= 1024, got {budget!r}")
    elif isinstance(body.get("max_tokens"), int) and budget >= body["max_tokens"]:
        max_tokens = body["max_tokens"]
        problems.append(
            f"max_tokens ({max_tokens}) must be greater than thinking.budget_tokens ({budget})"
        )
    return problems


def check_openai(body: dict[str, Any]) -> list[str]:
    """Each assistant tool call is answered by exactly one following role "tool" message."""
    problems = [f"{key}: field required" for key in ("model", "messages") if key not in body]
    expected: list[str] = []
    answered: list[str] = []

    def settle(at: int) -> None:
        for call_id in expected:
            count = answered.count(call_id)
            if count != 1:
                problems.append(
                    f"messages before {at}: tool_call id {call_id!r} answered by {count} "
                    "tool messages (needs exactly 1)"
                )

    messages = body.get("messages") or []
    for i, message in enumerate(messages):
        if message.get("role") == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in expected:
                problems.append(f"messages.{i}: tool message for unknown tool_call_id {call_id!r}")
            answered.append(call_id)
            continue
        settle(i)
        expected, answered = [], []
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                expected.append(call.get("id"))
                arguments = (call.get("function") or {}).get("arguments")
                if not isinstance(arguments, str):
                    problems.append(f"messages.{i}: tool call arguments must be a JSON string")
    settle(len(messages))
    return problems


@dataclass
class _SentReply:
    thinking: list[tuple[str, ...]]
    has_tool_use: bool


def _thinking_key(block: dict[str, Any]) -> tuple[str, ...]:
    if block.get("type") == "thinking":
        return ("thinking", str(block.get("thinking")), str(block.get("signature")))
    return ("redacted_thinking", str(block.get("data")))


class ThinkingLedger:
    """Remembers the thinking the server sent, to check that it comes back verbatim.

    An assistant message in a later request is matched to a sent reply by its tool_use ids,
    or else by its text. Thinking blocks present must equal the sent ones; in the last
    assistant message of a reply that also called a tool they must be present, as the API
    requires. A thinking block anywhere whose signature or text matches a sent block but
    not both has been tampered with. Blocks the server never saw are not judged.
    """

    def __init__(self) -> None:
        self._by_tool_id: dict[str, _SentReply] = {}
        self._by_text: dict[str, _SentReply] = {}
        self._text_of_signature: dict[str, str] = {}
        self._signatures_of_text: dict[str, set[str]] = {}

    def record(self, content: list[dict[str, Any]]) -> None:
        """`content`: the reply's blocks as Message JSON."""
        thinking = [_thinking_key(b) for b in content if b.get("type") in THINKING_TYPES]
        if not thinking:
            return
        tool_ids = [str(b["id"]) for b in content if b.get("type") == "tool_use"]
        sent = _SentReply(thinking, bool(tool_ids))
        for block in content:
            if block.get("type") == "thinking":
                self._text_of_signature[block["signature"]] = block["thinking"]
                self._signatures_of_text.setdefault(block["thinking"], set()).add(
                    block["signature"]
                )
        for call_id in tool_ids:
            self._by_tool_id[call_id] = sent
        text = "".join(b["text"] for b in content if b.get("type") == "text")
        if text:
            self._by_text[text] = sent

    def check(self, messages: list[dict[str, Any]]) -> list[str]:
        problems = []
        assistants = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
        for i in assistants:
            blocks = blocks_of(messages[i])
            present = [_thinking_key(b) for b in blocks if b.get("type") in THINKING_TYPES]
            problems += self._check_tampering(i, blocks)
            sent = self._match(blocks)
            if sent is None:
                continue
            if present and present != sent.thinking:
                problems.append(
                    f"messages.{i}: thinking blocks differ from the ones the server sent "
                    "(they must come back verbatim, in order)"
                )
            elif not present and i == assistants[-1] and sent.has_tool_use:
                problems.append(
                    f"messages.{i}: the thinking blocks of this tool-calling reply were "
                    "dropped; the API requires them in the last assistant message"
                )
        return problems

    def _check_tampering(self, i: int, blocks: list[dict[str, Any]]) -> list[str]:
        problems = []
        for block in blocks:
            if block.get("type") != "thinking":
                continue
            text, signature = block.get("thinking"), block.get("signature")
            if signature in self._text_of_signature:
                if self._text_of_signature[signature] != text:
                    problems.append(f"messages.{i}: thinking text was changed (signature kept)")
            elif text in self._signatures_of_text:
                problems.append(f"messages.{i}: thinking signature was changed (text kept)")
        return problems

    def _match(self, blocks: list[dict[str, Any]]) -> _SentReply | None:
        for block in blocks:
            if block.get("type") == "tool_use" and str(block.get("id")) in self._by_tool_id:
                return self._by_tool_id[str(block.get("id"))]
        text = "".join(str(b.get("text")) for b in blocks if b.get("type") == "text")
        return self._by_text.get(text) if text else None
