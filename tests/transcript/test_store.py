"""The transcript file: append-only records, healing a torn line, skipping corrupt ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from coda.messages import (
    AssistantMessage,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    UserMessage,
    message_from_dict,
    message_to_dict,
    user_text,
)
from coda.transcript.log import SessionLog
from coda.transcript.sessions import load
from coda.transcript.store import TranscriptWriter, project_slug, read_transcript


def _reply(text: str, calls: list[ToolUseBlock] | None = None) -> AssistantMessage:
    message = AssistantMessage([ThinkingBlock("hmm", "sig=="), TextBlock(text), *(calls or [])])
    message.model, message.id = "claude-sonnet-5-5", "msg_1"
    message.usage = Usage(10, 5, 2, 3, 1)
    return message


def test_slug_is_readable_and_unique_for_long_paths() -> None:
    assert project_slug(Path("/work/my repo")) == "-work-my-repo"
    a = project_slug(Path("/x/" + "a" * 300))
    b = project_slug(Path("/x/" + "a" * 299 + "b"))
    assert a != b and len(a) <= 120


def test_messages_round_trip_through_the_wire_shape() -> None:
    call = ToolUseBlock("toolu_1", "Read", {"file_path": "a.py"})
    for message in (
        user_text("hi"),
        _reply("x", [call]),
        UserMessage([ToolResultBlock("toolu_1", [TextBlock("out")], is_error=True)]),
    ):
        back = message_from_dict(json.loads(json.dumps(message_to_dict(message))))
        assert message_to_dict(back) == message_to_dict(message)


def test_each_record_is_one_line_and_numbers_increase(tmp_path: Path) -> None:
    path = tmp_path / "p" / "s.jsonl"
    writer = TranscriptWriter(path)
    assert [writer.write({"type": "x", "v": i}) for i in range(3)] == [0, 1, 2]
    writer.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert [json.loads(line)["n"] for line in lines[:-1]] == [0, 1, 2]
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_torn_last_line_is_healed_without_rewriting(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    writer = TranscriptWriter(path)
    writer.write({"type": "x"})
    writer.close()
    with path.open("ab") as f:
        f.write(b'{"type": "message", "n": 1, "mess')  # coda died mid-write
    before = path.read_bytes()
    raw = read_transcript(path)
    assert raw.torn and raw.corrupt == 0 and len(raw.records) == 1
    writer = TranscriptWriter(path, next_n=raw.next_n)
    writer.write({"type": "y"})
    writer.close()
    after = path.read_bytes()
    assert after.startswith(before)  # appended, never rewritten
    again = read_transcript(path)
    assert [r["type"] for r in again.records] == ["x", "y"]
    assert again.corrupt == 1 and not again.torn  # the fragment is now a skipped line


def test_corrupt_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(
        b'{"type":"a","n":0}\nnot json\n[1,2]\n{"no":"type"}\n\xff\xfe\n{"type":"b","n":1}\n'
    )
    raw = read_transcript(path)
    assert [r["type"] for r in raw.records] == ["a", "b"]
    assert raw.corrupt == 4 and not raw.torn
    assert any("skipped 4 unreadable lines" in w for w in raw.warnings(path))


def _log(path: Path) -> SessionLog:
    return SessionLog(path, session_id="s1", cwd=Path("/w"), model="claude-sonnet-5-5")


def test_sync_appends_new_messages_and_truncates_replaced_ones(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    log = _log(path)
    prompt = user_text("first")
    log.mark_prompt(prompt, "first")
    transcript = [prompt, _reply("one")]
    log.sync(transcript)
    log.sync(transcript)  # nothing new: nothing written
    assert len(read_transcript(path).records) == 3  # header + 2 messages
    transcript[-1] = _reply("replaced")  # e.g. an interrupt's repair
    log.sync(transcript)
    log.close()
    types = [r["type"] for r in read_transcript(path).records]
    assert types == ["session", "message", "message", "truncate", "message"]
    session = load(path).session
    assert [m.role for m in session.messages] == ["user", "assistant"]
    last = session.messages[-1]
    assert isinstance(last, AssistantMessage) and last.text == "replaced"
    assert last.usage == Usage(10, 5, 2, 3, 1) and last.model == "claude-sonnet-5-5"
    assert session.prompts == ["first"] and session.first_prompt == "first"
    assert isinstance(last.content[0], ThinkingBlock) and last.content[0].signature == "sig=="


def test_dangling_tool_use_is_answered_on_load(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    log = _log(path)
    call = ToolUseBlock("toolu_9", "Bash", {"command": "make"})
    log.sync([user_text("build"), _reply("running", [call])])  # killed before the result
    log.close()
    loaded = load(path)
    messages = loaded.session.messages
    assert len(messages) == 3 and loaded.session.repaired == 1
    result = messages[-1].content[0]
    assert isinstance(result, ToolResultBlock) and result.tool_use_id == "toolu_9"
    assert result.is_error and "stopped" in result.text
    assert any("had no result" in w for w in loaded.warnings)


def test_results_for_unknown_calls_are_dropped(tmp_path: Path) -> None:
    # A lost line took the reply with the call; its result must not dangle either.
    path = tmp_path / "s1.jsonl"
    log = _log(path)
    orphan = UserMessage([ToolResultBlock("toolu_gone", [TextBlock("x")]), TextBlock("note")])
    log.sync([user_text("a"), _reply("b"), orphan])
    log.close()
    last = load(path).session.messages[-1]
    assert isinstance(last, UserMessage) and last.content == [TextBlock("note")]
