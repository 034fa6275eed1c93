"""The pure reducer that turns stream events into a message."""

from __future__ import annotations

from coda.messages import RedactedThinkingBlock, TextBlock, ThinkingBlock, ToolUseBlock, Usage
from coda.providers.base import (
    BlockStart,
    BlockStop,
    InputJsonDelta,
    MessageDelta,
    MessageStart,
    MessageStop,
    SignatureDelta,
    Snapshot,
    StreamRetry,
    TextDelta,
    ThinkingDelta,
    UsageUpdate,
    accumulate,
    accumulate_event,
)


def test_interleaved_thinking_and_tools() -> None:
    events = [
        MessageStart("msg_1", "claude", Usage(input_tokens=10, cache_read_input_tokens=5)),
        BlockStart(0, ThinkingBlock("")),
        ThinkingDelta(0, "first "),
        ThinkingDelta(0, "thought"),
        SignatureDelta(0, "sig-A"),
        BlockStop(0),
        BlockStart(1, ToolUseBlock("t1", "Read", {})),
        InputJsonDelta(1, ""),
        InputJsonDelta(1, '{"file_path": '),
        InputJsonDelta(1, '"a.py"}'),
        BlockStop(1),
        BlockStart(2, RedactedThinkingBlock("opaque")),
        BlockStop(2),
        BlockStart(3, ThinkingBlock("")),
        ThinkingDelta(3, "second"),
        SignatureDelta(3, "sig-B"),
        BlockStop(3),
        BlockStart(4, TextBlock("")),
        TextDelta(4, "done"),
        BlockStop(4),
        MessageDelta("tool_use", UsageUpdate(output_tokens=42)),
        MessageStop(),
    ]
    msg = accumulate(events)
    assert msg.content == [
        ThinkingBlock("first thought", "sig-A"),
        ToolUseBlock("t1", "Read", {"file_path": "a.py"}),
        RedactedThinkingBlock("opaque"),
        ThinkingBlock("second", "sig-B"),
        TextBlock("done"),
    ]
    assert msg.stop_reason == "tool_use"
    assert msg.usage == Usage(10, 42, 0, 5)


def test_malformed_tool_json_is_reported_not_raised() -> None:
    msg = accumulate(
        [
            MessageStart("m", "x", Usage()),
            BlockStart(0, ToolUseBlock("t1", "Read", {})),
            InputJsonDelta(0, '{"file_path": "a.py"'),
            BlockStop(0),
            BlockStart(1, ToolUseBlock("t2", "Read", {})),
            InputJsonDelta(1, "[1, 2]"),
            BlockStop(1),
            MessageStop(),
        ]
    )
    first, second = msg.tool_calls
    assert first.input == {} and first.input_error and "not valid JSON" in first.input_error
    assert second.input_error and "JSON object" in second.input_error


def test_retry_discards_partial_message() -> None:
    snap = Snapshot()
    for event in [
        MessageStart("m", "x", Usage()),
        BlockStart(0, TextBlock("")),
        TextDelta(0, "par"),
    ]:
        snap = accumulate_event(snap, event)
    snap = accumulate_event(snap, StreamRetry(1, 0.0, "cut"))
    assert snap.message.content == [] and not snap.complete


def test_block_start_is_copied_not_shared() -> None:
    start = BlockStart(0, TextBlock(""))
    accumulate([start, TextDelta(0, "x"), MessageStop()])
    assert start.block == TextBlock("")
