"""Building each model request from the session: system prompt, tools, history, caching."""

from __future__ import annotations

from coda.messages import AssistantMessage, Message, UserMessage


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


def merge_consecutive(messages: list[Message]) -> list[Message]:
    """The conversation as the API wants it: roles alternating.

    A resumed session can end with the person's prompt or with tool results and no reply
    (coda was stopped there); the next prompt then follows a user message. The API would
    merge the two itself; doing it here keeps the request valid on every server. The
    transcript is not changed. Tool results stay first in a merged message.
    """
    out: list[Message] = []
    for message in messages:
        last = out[-1] if out else None
        if isinstance(message, UserMessage) and isinstance(last, UserMessage):
            out[-1] = UserMessage([*last.content, *message.content])
        elif isinstance(message, AssistantMessage) and isinstance(last, AssistantMessage):
            merged = AssistantMessage([*last.content, *message.content], id=message.id)
            merged.model, merged.usage = message.model, message.usage
            out[-1] = merged
        else:
            out.append(message)
    return out
