"""Replaying records: compaction, checkpoints, snapshots and rewinds rebuild the same state."""

from __future__ import annotations

from pathlib import Path

from coda.messages import AssistantMessage, Message, TextBlock, Usage, user_text
from coda.transcript.log import SessionLog
from coda.transcript.sessions import list_sessions, load


def _reply(text: str, cost_tokens: int = 1_000_000) -> AssistantMessage:
    message = AssistantMessage([TextBlock(text)])
    message.model = "claude-sonnet-5-5"
    message.usage = Usage(input_tokens=cost_tokens)
    return message


def _turn(log: SessionLog, transcript: list[Message], prompt: str, cp: int) -> int:
    n = log.checkpoint(cp, None, prompt)
    message = user_text(prompt)
    log.mark_prompt(message, prompt)
    transcript += [message, _reply(f"answer to {prompt}")]
    log.sync(transcript)
    return n


def test_rewind_and_compaction_replay_to_the_live_state(tmp_path: Path) -> None:
    path = tmp_path / "s1.jsonl"
    log = SessionLog(path, session_id="s1", cwd=tmp_path, model="m")
    transcript: list[Message] = []
    n1 = _turn(log, transcript, "one", 1)
    log.snapshot(1, "a" * 40)
    n2 = _turn(log, transcript, "two", 2)
    _turn(log, transcript, "three", 3)
    # Rewind the conversation to before "two".
    transcript[:] = transcript[:2]
    log.rewind(n2, transcript, code=True, conversation=True)
    _turn(log, transcript, "four", 4)
    # Compact: the conversation becomes a summary plus the last exchange.
    compacted: list[Message] = [user_text("summary"), *transcript[-1:]]
    log.compaction(compacted, ["one", "four"], "manual")
    transcript[:] = compacted
    log.close()

    session = load(path).session
    texts = [m.content[0].text for m in session.messages]  # type: ignore[union-attr]
    assert texts == ["summary", "answer to four"]
    assert session.prompts == ["one", "four"]
    assert session.turns == 4  # rewound prompts still count as sent
    assert [c.prompt for c in session.checkpoints] == ["one", "four"]
    assert session.checkpoints[0].commit == "a" * 40  # filled in by the snapshot record
    assert session.next_checkpoint_id == 5
    # The states saved at checkpoints allow a later rewind after resume.
    assert [m.role for m in session.saved[n1].messages] == []
    assert session.saved[n2].prompts == ["one"]


def test_listing_counts_prompts_and_cost(tmp_path: Path) -> None:
    log = SessionLog(tmp_path / "s1.jsonl", session_id="s1", cwd=tmp_path, model="m")
    transcript: list[Message] = []
    _turn(log, transcript, "hello\nworld", 1)
    _turn(log, transcript, "again", 2)
    log.usage("claude-sonnet-5-5", Usage(output_tokens=1_000_000))  # a summary request
    log.close()
    (tmp_path / "empty.jsonl").write_text("")

    def price(model: str, usage: Usage) -> float | None:
        return usage.input_tokens / 1e6 * 3 + usage.output_tokens / 1e6 * 15

    [info] = list_sessions(tmp_path, price)
    assert info.session_id == "s1" and info.turns == 2
    assert info.first_prompt == "hello\nworld"
    assert info.cost_usd == 3 + 3 + 15

    def unknown(model: str, usage: Usage) -> float | None:
        return None

    assert list_sessions(tmp_path, unknown)[0].cost_usd is None


def test_fork_copies_records_under_a_new_header(tmp_path: Path) -> None:
    old = tmp_path / "old.jsonl"
    log = SessionLog(old, session_id="old", cwd=tmp_path, model="m")
    transcript: list[Message] = []
    _turn(log, transcript, "one", 1)
    log.close()
    loaded = load(old)
    original = old.read_bytes()
    fork = SessionLog(
        tmp_path / "new.jsonl", session_id="new", cwd=tmp_path, model="m", forked_from="old"
    )
    fork.copy_records(loaded.raw.records)
    fork.assume_written(loaded.session.stored_messages)
    fork.sync(loaded.session.messages)  # nothing to add
    fork.close()
    new = load(tmp_path / "new.jsonl")
    assert new.session.session_id == "new" and new.session.forked_from == "old"
    assert len(new.session.messages) == 2 and new.session.prompts == ["one"]
    assert old.read_bytes() == original and len(new.raw.records) == len(loaded.raw.records)
