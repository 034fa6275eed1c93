"""Transcript repair after an interrupt: every tool call answered, nothing half-streamed."""

from __future__ import annotations

from coda.messages import (
    AssistantMessage,
    Message,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    user_text,
)
from coda.ui.repair import INTERRUPTED, INTERRUPTED_NOTE, repair_after_interrupt


def calls(*ids: str) -> AssistantMessage:
    return AssistantMessage(
        [TextBlock("Running.")] + [ToolUseBlock(i, "Bash", {"command": "sleep 30"}) for i in ids]
    )


def test_unanswered_tool_calls_get_an_error_result_each_in_order() -> None:
    transcript: list[Message] = [user_text("go"), calls("t1", "t2")]
    repaired = repair_after_interrupt(transcript)
    assert repaired[:2] == transcript
    last = repaired[2]
    assert isinstance(last, UserMessage)
    results = [b for b in last.content if isinstance(b, ToolResultBlock)]
    assert [(b.tool_use_id, b.is_error, b.text) for b in results] == [
        ("t1", True, INTERRUPTED),
        ("t2", True, INTERRUPTED),
    ]
    assert len(results) == len(last.content)


def test_the_input_is_not_changed() -> None:
    transcript: list[Message] = [user_text("go"), calls("t1")]
    repair_after_interrupt(transcript)
    assert len(transcript) == 2


def test_an_interrupt_before_any_reply_notes_it_on_the_prompt() -> None:
    transcript: list[Message] = [user_text("go")]
    repaired = repair_after_interrupt(transcript)
    assert repaired == [UserMessage([TextBlock("go"), TextBlock(INTERRUPTED_NOTE)])]
    assert repair_after_interrupt(repaired) == repaired  # once is enough


def test_an_interrupt_after_tool_results_keeps_them_first() -> None:
    results = UserMessage([ToolResultBlock("t1", [TextBlock("ok")])])
    transcript: list[Message] = [user_text("go"), calls("t1"), results]
    last = repair_after_interrupt(transcript)[-1]
    assert isinstance(last, UserMessage)
    assert isinstance(last.content[0], ToolResultBlock)
    assert last.content[-1] == TextBlock(INTERRUPTED_NOTE)


def test_a_finished_turn_is_left_alone() -> None:
    transcript: list[Message] = [user_text("go"), AssistantMessage([TextBlock("Done.")])]
    assert repair_after_interrupt(transcript) == transcript
    assert repair_after_interrupt([]) == []
