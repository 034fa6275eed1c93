"""Building each model request from the session: system prompt, tools, history, caching."""

from __future__ import annotations

from coda.messages import Message, UserMessage


def cache_breakpoints(messages: list[Message]) -> tuple[int, ...]:
    """Message indexes that end a cached prefix.

    The newest message is marked so the next request can read everything up to it, and
    the user message before it is marked so this request reads what the last one wrote.
    With the system-prompt breakpoint that makes three, under the API's limit of four.
    """
    users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
    marks = users[-2:]
    if messages and len(messages) - 1 not in marks:
        marks = [*marks[-1:], len(messages) - 1]
    return tuple(marks)
