"""Compaction: where to cut, what to ask the model, and the conversation that comes out."""

from __future__ import annotations

import itertools
import random

import pytest

from coda.compaction import (
    IMAGE_TOKENS,
    choose_cut,
    compacted,
    estimate_all,
    estimate_tokens,
    is_prompt,
    should_compact,
    summary_request,
)
from coda.messages import (
    AssistantMessage,
    ImageBlock,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    UserBlock,
    UserMessage,
    message_to_dict,
)
from tests.fakes.invariants import check_tool_pairing

HEADINGS = (
    "## Goal",
    "## Decisions",
    "## Files touched and their state",
    "## Open todos",
    "## Errors met",
    "## Next step",
)


class Transcript:
    """Builds a realistic conversation: prompts, thinking, tool rounds, results, answers."""

    def __init__(self, seed: int = 0) -> None:
        self.messages: list[Message] = []
        self.prompts: list[str] = []
        self._rng = random.Random(seed)
        self._ids = 0

    def prompt(self, text: str) -> Transcript:
        self.prompts.append(text)
        self.messages.append(UserMessage([TextBlock(text)]))
        return self

    def round(self, calls: int = 1) -> Transcript:
        uses = []
        for _ in range(calls):
            self._ids += 1
            uses.append(
                ToolUseBlock(f"toolu_{self._ids:04}", "Read", {"path": f"src/m{self._ids}.py"})
            )
        thinking = ThinkingBlock(f"I should read {calls} files. " * 3, signature=f"sig-{self._ids}")
        self.messages.append(AssistantMessage([thinking, *uses], stop_reason="tool_use"))
        results: list[UserBlock] = [
            ToolResultBlock(u.id, [TextBlock("line of code\n" * self._rng.randint(5, 400))])
            for u in uses
        ]
        self.messages.append(UserMessage(results))
        return self

    def answer(self, text: str = "Done.") -> Transcript:
        thinking = ThinkingBlock("Summing up. " * 4, signature=f"sig-answer-{len(self.messages)}")
        self.messages.append(AssistantMessage([thinking, TextBlock(text)], stop_reason="end_turn"))
        return self

    def turn(self, text: str, rounds: int) -> Transcript:
        self.prompt(text)
        for _ in range(rounds):
            self.round(self._rng.choice([1, 1, 2, 3]))
        return self.answer(f"Answer to: {text}")


def sample_transcripts() -> dict[str, list[Message]]:
    between = Transcript(1)
    for i, rounds in enumerate([0, 3, 1, 6, 0, 2, 4]):
        between.turn(f"request {i}: " + "please look at this " * (i + 1), rounds)
    mid_turn = Transcript(2).turn("first", 2).turn("second", 1).prompt("third, a long one")
    for _ in range(25):
        mid_turn.round(2)
    one_long_turn = Transcript(3).prompt("do everything")
    for _ in range(40):
        one_long_turn.round()
    one_long_turn.answer()
    new_prompt = Transcript(4).turn("a", 3).turn("b", 5).turn("c", 2).prompt("d, just asked")
    return {
        "between": between.messages,
        "mid_turn": mid_turn.messages,
        "one_long_turn": one_long_turn.messages,
        "new_prompt": new_prompt.messages,
    }


def assert_valid_cut(messages: list[Message], cut: int) -> None:
    assert 2 <= cut < len(messages)
    head_calls = {
        c.id for m in messages[:cut] if isinstance(m, AssistantMessage) for c in m.tool_calls
    }
    tail_results = {
        b.tool_use_id
        for m in messages[cut:]
        if isinstance(m, UserMessage)
        for b in m.content
        if isinstance(b, ToolResultBlock)
    }
    assert not head_calls & tail_results, f"cut {cut} splits {head_calls & tail_results}"
    assert not any(isinstance(b, ToolResultBlock) for b in messages[cut].content)


def assert_sendable(messages: list[Message]) -> None:
    """Starts with the person, alternates, and pairs every call with its result."""
    assert messages and isinstance(messages[0], UserMessage)
    roles = [m.role for m in messages]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    assert check_tool_pairing([message_to_dict(m) for m in messages]) == []
    for message in messages:
        assert all(not (isinstance(b, TextBlock) and not b.text) for b in message.content)


# -- estimates and the trigger ---------------------------------------------------------------


def test_estimate_is_serialized_chars_over_four() -> None:
    small = estimate_tokens(UserMessage([TextBlock("x")]))
    big = estimate_tokens(UserMessage([TextBlock("x" * 4001)]))
    assert big - small == 1000
    assert estimate_all([UserMessage([TextBlock("x")])] * 3) == 3 * small


def test_images_count_as_a_fixed_size_not_their_base64() -> None:
    text_only = UserMessage([TextBlock("look")])
    image = ImageBlock("image/png", "A" * 400_000)
    with_image = UserMessage([TextBlock("look"), image])
    assert (
        IMAGE_TOKENS <= estimate_tokens(with_image) - estimate_tokens(text_only) < IMAGE_TOKENS + 30
    )
    in_result = UserMessage([ToolResultBlock("t1", [TextBlock("shot"), image, image])])
    assert 2 * IMAGE_TOKENS < estimate_tokens(in_result) < 2 * IMAGE_TOKENS + 40


def test_should_compact_past_the_share_of_the_window() -> None:
    assert not should_compact(160_000, 200_000, 0.8)
    assert should_compact(160_001, 200_000, 0.8)
    assert should_compact(200_001, 200_000, 1.0)
    with pytest.raises(ValueError):
        should_compact(1, 0, 0.5)
    with pytest.raises(ValueError):
        should_compact(1, 100, 1.5)


def test_is_prompt() -> None:
    assert is_prompt(UserMessage([TextBlock("hi")]))
    assert not is_prompt(UserMessage([ToolResultBlock("t", [TextBlock("r")]), TextBlock("hi")]))
    assert not is_prompt(AssistantMessage([TextBlock("hi")]))


# -- choosing the cut ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["between", "mid_turn", "one_long_turn", "new_prompt"])
def test_every_cut_is_valid_and_shrinks_as_keep_grows(name: str) -> None:
    messages = sample_transcripts()[name]
    total = estimate_all(messages)
    previous = len(messages)
    seen = set()
    for keep in range(0, total + 2000, max(1, total // 300)):
        cut = choose_cut(messages, keep)
        if cut is None:
            previous = 0
            continue
        assert_valid_cut(messages, cut)
        assert cut <= previous, f"keep {keep}: cut {cut} after {previous}"
        previous = cut
        seen.add(cut)
        request = summary_request(messages, cut, None)
        assert_sendable(request)
    assert len(seen) >= 2  # the loop explored more than one cut
    assert choose_cut(messages, total) is None  # everything fits: nothing worth summarising


def test_the_newest_answered_exchange_stays_even_past_keep() -> None:
    messages = sample_transcripts()["between"]
    last_prompt = max(i for i, m in enumerate(messages) if is_prompt(m))
    assert choose_cut(messages, 0) == last_prompt
    tail = estimate_all(messages[last_prompt:])
    assert choose_cut(messages, tail - 1) == last_prompt


def test_the_earliest_fitting_prompt_wins() -> None:
    messages = sample_transcripts()["between"]
    prompts = [i for i, m in enumerate(messages) if is_prompt(m)]
    # Exactly enough for the tail from the third-newest prompt on.
    keep = estimate_all(messages[prompts[-3] :])
    assert choose_cut(messages, keep) == prompts[-3]
    assert choose_cut(messages, keep - 1) == prompts[-2]


def test_a_prompt_is_preferred_to_an_earlier_assistant_cut() -> None:
    messages = sample_transcripts()["between"]
    prompts = [i for i, m in enumerate(messages) if is_prompt(m)]
    # Room for the whole previous turn but its prompt: an assistant cut would fit earlier.
    keep = estimate_all(messages[prompts[-2] + 1 :])
    assert isinstance(messages[prompts[-2] + 1], AssistantMessage)
    assert choose_cut(messages, keep) == prompts[-1]


def test_one_long_turn_is_cut_at_an_assistant_message() -> None:
    messages = sample_transcripts()["one_long_turn"]
    keep = estimate_all(messages) // 4
    cut = choose_cut(messages, keep)
    assert cut is not None and cut > 2
    assert isinstance(messages[cut], AssistantMessage)
    assert estimate_all(messages[cut:]) <= keep < estimate_all(messages[cut - 2 :])


def test_mid_turn_keeps_at_least_the_newest_round() -> None:
    messages = sample_transcripts()["mid_turn"]
    assert isinstance(messages[-1], UserMessage) and not is_prompt(messages[-1])
    assert choose_cut(messages, 0) == len(messages) - 2
    # With room, the tail reaches back to the current turn's prompt, not further.
    third = max(i for i, m in enumerate(messages) if is_prompt(m))
    assert choose_cut(messages, estimate_all(messages[third:])) == third


def test_a_new_unanswered_prompt_keeps_the_exchange_before_it() -> None:
    messages = sample_transcripts()["new_prompt"]
    prompts = [i for i, m in enumerate(messages) if is_prompt(m)]
    assert choose_cut(messages, 0) == prompts[-2]


def test_nothing_worth_summarising() -> None:
    assert choose_cut([], 0) is None
    short = Transcript().turn("hi", 0).messages
    assert choose_cut(short, 0) is None
    single = Transcript().turn("hi", 3).messages
    # One turn, nothing to keep it apart from: the only way is to cut inside it.
    cut = choose_cut(single, 0)
    assert cut is not None and isinstance(single[cut], AssistantMessage)


def test_no_cut_falls_between_a_call_and_a_late_result() -> None:
    # An odd transcript (say, resumed from elsewhere) whose result comes two messages late:
    # the prompt and the assistant message in between are no place to cut.
    late = Transcript().turn("a", 1).messages
    call = AssistantMessage([ToolUseBlock("toolu_late", "Bash", {})])
    late += [call, UserMessage([TextBlock("wait")]), AssistantMessage([TextBlock("ok")])]
    late += [UserMessage([ToolResultBlock("toolu_late", [TextBlock("done")])])]
    late += [AssistantMessage([TextBlock("fine")])]
    cuts = {choose_cut(late, keep) for keep in range(0, estimate_all(late) + 10, 5)}
    assert not cuts & {5, 6, 7}
    assert 8 in cuts


# -- the summary request ---------------------------------------------------------------------


def test_summary_request_after_an_answer_adds_the_instruction_as_a_new_message() -> None:
    messages = sample_transcripts()["between"]
    cut = choose_cut(messages, 0)
    assert cut is not None and isinstance(messages[cut - 1], AssistantMessage)
    request = summary_request(messages, cut, "the flaky auth test")
    assert request[:cut] == messages[:cut]
    assert all(a is b for a, b in zip(request[:cut], messages[:cut], strict=True))
    last = request[-1]
    assert len(request) == cut + 1 and is_prompt(last)
    text = last.content[-1]
    assert isinstance(text, TextBlock)
    positions = [text.text.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    assert text.text.rstrip().endswith("Pay special attention to: the flaky auth test")
    assert_sendable(request)


def test_summary_request_after_tool_results_appends_to_a_copy() -> None:
    messages = sample_transcripts()["one_long_turn"]
    cut = choose_cut(messages, 2000)
    assert cut is not None
    results = messages[cut - 1]
    assert isinstance(results, UserMessage) and not is_prompt(results)
    before = list(results.content)
    request = summary_request(messages, cut, None)
    assert len(request) == cut
    last = request[-1]
    assert last is not results and results.content == before  # the input is untouched
    assert last.content[:-1] == before  # tool results first, instruction after
    instruction = last.content[-1]
    assert isinstance(instruction, TextBlock) and "## Next step" in instruction.text
    assert "Pay special attention" not in instruction.text
    assert_sendable(request)


def test_summary_request_answers_a_dangling_call() -> None:
    messages = Transcript().turn("a", 1).prompt("b").round(2).messages
    request = summary_request(messages, len(messages) - 1, "  ")
    answered = request[-1]
    assert isinstance(answered, UserMessage)
    calls = messages[-2]
    assert isinstance(calls, AssistantMessage)
    ids = [b.tool_use_id for b in answered.content if isinstance(b, ToolResultBlock)]
    assert ids == [c.id for c in calls.tool_calls]
    assert all(b.is_error for b in answered.content if isinstance(b, ToolResultBlock))
    assert isinstance(answered.content[-1], TextBlock)
    assert "Pay special attention" not in answered.content[-1].text
    assert_sendable(request)
    with pytest.raises(ValueError):
        summary_request(messages, 0, None)


# -- the compacted conversation ----------------------------------------------------------------


def first_text(messages: list[Message]) -> str:
    return "\n".join(b.text for b in messages[0].content if isinstance(b, TextBlock))


@pytest.mark.parametrize("name", ["between", "mid_turn", "one_long_turn", "new_prompt"])
def test_compacted_is_sendable_and_keeps_the_tail(name: str) -> None:
    messages = sample_transcripts()[name]
    for keep in range(0, estimate_all(messages), 997):
        cut = choose_cut(messages, keep)
        if cut is None:
            continue
        prompts = [m.content[0].text for m in messages[:cut] if is_prompt(m)]  # type: ignore[union-attr]
        out = compacted(
            messages, cut, "## Goal\nship it", prompts=prompts, todos="", prompt_budget_tokens=10**6
        )
        assert_sendable(out)
        tail = messages[cut:]
        if isinstance(tail[0], AssistantMessage):
            assert len(out) == len(tail) + 1
            assert all(a is b for a, b in zip(out[1:], tail, strict=True))
        else:
            assert len(out) == len(tail)
            assert out[0].content[-len(tail[0].content) :] == tail[0].content
            assert all(a is b for a, b in zip(out[1:], tail[1:], strict=True))
        kept_thinking = [b for m in tail for b in m.content if isinstance(b, ThinkingBlock)]
        out_thinking = [b for m in out for b in m.content if isinstance(b, ThinkingBlock)]
        assert out_thinking == kept_thinking and kept_thinking
        assert all(p in first_text(out) for p in prompts)
        assert "ship it" in first_text(out)


def test_compacted_first_message_holds_note_summary_prompts_and_todos() -> None:
    messages = sample_transcripts()["between"]
    cut = choose_cut(messages, 0)
    assert cut is not None
    out = compacted(
        messages,
        cut,
        "## Goal\nFix the parser.",
        prompts=["first ask", "second ask"],
        todos="- [ ] add a test\n- [x] read parser.py",
        prompt_budget_tokens=1000,
    )
    text = first_text(out)
    order = [
        text.index("summarised"),
        text.index("Fix the parser."),
        text.index("The person's messages so far, verbatim"),
        text.index("first ask"),
        text.index("second ask"),
        text.index("- [ ] add a test"),
    ]
    assert order == sorted(order)
    assert "left out" not in text
    # The tail's prompt comes last in the same message, after the summary blocks.
    tail_prompt = messages[cut].content[0]
    assert out[0].content[-1] is tail_prompt
    no_todos = compacted(messages, cut, "s", prompts=[], todos="  \n", prompt_budget_tokens=10)
    assert "todo" not in first_text(no_todos) and "verbatim" not in first_text(no_todos)


def test_prompts_over_budget_drop_the_oldest_and_say_how_many() -> None:
    t = Transcript()
    for i in range(200):
        t.turn(f"prompt #{i:03}: " + "x" * 35, 0)  # 48 characters, 12 tokens each
    messages = t.messages
    cut = choose_cut(messages, 0)
    assert cut == len(messages) - 2
    prompts = t.prompts[:-1]  # the last one stays in the tail
    everything = compacted(
        messages, cut, "s", prompts=prompts, todos="", prompt_budget_tokens=12 * 199
    )
    assert "prompt #003: " in first_text(everything) and "left out" not in first_text(everything)
    assert all(p in first_text(everything) for p in prompts)

    some = compacted(messages, cut, "s", prompts=prompts, todos="", prompt_budget_tokens=12 * 50)
    text = first_text(some)
    assert "(149 older ones were left out to save space)" in text
    assert "prompt #003: " not in text and "prompt #148: " not in text
    assert all(p in text for p in prompts[-50:])
    assert text.index("prompt #149: ") < text.index("prompt #198: ")

    none = compacted(messages, cut, "s", prompts=prompts, todos="", prompt_budget_tokens=0)
    assert "all 199 were left out" in first_text(none)


def test_a_single_prompt_over_budget_keeps_its_head_and_tail() -> None:
    messages = Transcript().turn("a", 1).turn("b", 1).messages
    cut = choose_cut(messages, 0)
    assert cut is not None
    huge = "HEAD " + "middle " * 2000 + " TAIL"
    older = "an older, short prompt"
    out = compacted(messages, cut, "s", prompts=[older, huge], todos="", prompt_budget_tokens=100)
    text = first_text(out)
    assert "HEAD " in text and " TAIL" in text and "characters left out" in text
    assert older not in text and "(1 older ones were left out" in text
    assert len(text) < 1000


def test_compacted_with_an_empty_tail_or_a_bad_cut() -> None:
    messages = sample_transcripts()["one_long_turn"]
    out = compacted(messages, len(messages), "s", prompts=["p"], todos="", prompt_budget_tokens=9)
    assert len(out) == 1 and is_prompt(out[0])
    results_at = next(i for i, m in enumerate(messages) if isinstance(m, UserMessage) and i > 0)
    with pytest.raises(ValueError, match="separates"):
        compacted(messages, results_at, "s", prompts=[], todos="", prompt_budget_tokens=9)


def test_compacted_merges_consecutive_user_messages_in_the_tail() -> None:
    # After an interrupt the transcript may hold the results, then the next prompt.
    messages = Transcript().turn("a", 1).turn("b", 1).prompt("c").round().messages
    messages.append(UserMessage([TextBlock("d, after an interrupt")]))
    messages.append(AssistantMessage([TextBlock("ok")]))
    cut = choose_cut(messages, 0)
    assert cut is not None
    out = compacted(messages, cut, "s", prompts=[], todos="", prompt_budget_tokens=9)
    assert_sendable(out)
