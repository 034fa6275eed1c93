"""Keeping a transcript valid after the person interrupts a turn.

The loop appends a reply only once it has streamed completely, so an interrupted stream
leaves nothing half-written behind. What an interrupt can leave is a reply whose tool calls
never got their results: the API refuses such a transcript, so each call is answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from coda.messages import (
    AssistantMessage,
    Message,
    TextBlock,
    ToolResultBlock,
    UserBlock,
    UserMessage,
)

INTERRUPTED = "Interrupted by the person"
INTERRUPTED_NOTE = "[The person interrupted this turn.]"


def repair_after_interrupt(transcript: Sequence[Message]) -> list[Message]:
    """The transcript as it should continue after an interrupt; the input is not changed.

    - The last reply called tools that never answered: a user message follows with an
      is_error result for each call, in the order of the calls.
    - The turn stopped before any reply to the last user message: that message gets a note
      saying so, so the model does not take the next message as its answer.
    - Otherwise (the turn had just finished) nothing changes.
    """
    messages = list(transcript)
    if not messages:
        return messages
    last = messages[-1]
    if isinstance(last, AssistantMessage):
        calls = last.tool_calls
        if calls:
            results: list[UserBlock] = [
                ToolResultBlock(call.id, [TextBlock(INTERRUPTED)], is_error=True) for call in calls
            ]
            messages.append(UserMessage(results))
        return messages
    if any(isinstance(b, TextBlock) and b.text == INTERRUPTED_NOTE for b in last.content):
        return messages
    # Tool results stay first in the message, as the API requires; the note goes after.
    messages[-1] = UserMessage([*last.content, TextBlock(INTERRUPTED_NOTE)])
    return messages
