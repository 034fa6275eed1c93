"""The interactive terminal end to end: the real `coda` in tmux, keys in, screen out."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, Text, Thinking, ToolUse
from tests.helpers import anthropic_env, result_text, run_coda, tool_results
from tests.ui.conftest import StartCoda
from tests.ui.tmux import colour_codes


def user_texts(body: dict[str, object]) -> list[str]:
    """The text blocks of every user message in a recorded Anthropic request."""
    texts = []
    for message in body["messages"]:  # type: ignore[attr-defined]
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
            continue
        texts.extend(b["text"] for b in content if b.get("type") == "text")
    return texts


def sleeping(repo: Path) -> list[int]:
    """Processes running `sleep 30` in the repository."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if argv[:2] == [b"sleep", b"30"] and cwd == str(repo):
            found.append(int(pid))
    return found


def test_a_prompt_streams_its_answer_as_markdown(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    model_server.enqueue(
        Reply(
            [
                Text(
                    "# Plan\n\nThe **answer** is in `calc.py`.\n\n- first step\n- second step\n\n"
                    "```python\ndef add(a, b):\n    return a + b\n```\n\nDone."
                )
            ]
        )
    )
    term = start_coda()
    term.submit("what is here?")
    screen = term.wait_for("Done.")
    term.wait_ready()
    assert "The answer is in calc.py." in screen  # markdown rendered, not shown raw
    assert "• first step\n• second step" in screen
    assert "  def add(a, b):\n      return a + b" in screen
    assert "**" not in screen and "```" not in screen
    assert user_texts(model_server.requests[0].body) == ["what is here?"]


def test_first_prompt_from_the_command_line(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("Started with it."))
    term = start_coda("explain this repo")
    term.wait_for("Started with it.")
    assert user_texts(model_server.requests[0].body) == ["explain this repo"]


def test_approve_one_permission_and_deny_another_with_a_note(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "touch approved.txt"})]),
        Reply("Made it."),
        Reply([ToolUse("Bash", {"command": "touch denied.txt"})]),
        Reply("I will use echo."),
    )
    term = start_coda()
    term.submit("make a file")
    screen = term.wait_for("3. No, and tell coda what to do instead")
    assert "touch approved.txt" in screen
    assert "allow Bash(touch approved.txt)" in screen  # the exact rule "always" would save
    term.send("1")
    term.wait_for("Made it.")
    assert (repo / "approved.txt").exists()
    term.wait_ready()

    term.submit("make another")
    term.wait_for("touch denied.txt")
    term.wait_for("3. No")
    term.send("3")
    term.wait_for("Tell coda what to do instead")
    term.submit("use echo instead")
    term.wait_for("I will use echo.")
    assert not (repo / "denied.txt").exists()
    [denial] = tool_results(model_server.requests[3].body)[-1:]
    assert denial["is_error"] is True
    assert "use echo instead" in result_text(denial)


def test_esc_stops_a_running_bash_call_and_the_next_request_is_valid(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "sleep 30"})]),
        Reply("Understood."),
    )
    term = start_coda("--allowedTools", "Bash(sleep:*)")
    term.submit("wait a while")
    term.wait_for("Running Bash")
    term.wait_until(lambda: sleeping(repo), 5, "sleep 30 to start")
    term.send("Escape")
    seconds = term.wait_ready(timeout=3)
    assert seconds < 1.0, f"the prompt came back after {seconds:.2f}s"
    assert "Interrupted" in term.screen()
    assert "Traceback" not in term.screen()
    term.wait_until(lambda: not sleeping(repo), 3, "the sleep to be killed")

    term.submit("never mind")
    term.wait_for("Understood.")
    results = tool_results(model_server.requests[1].body)
    assert len(results) == 1 and results[0]["is_error"] is True
    assert "Interrupted by the person" in result_text(results[0])
    # model_server's own check (in the fixture) verifies every tool_use has its result.


def test_ctrl_c_stops_a_slow_streaming_reply(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    paragraphs = [Text(f"Paragraph {i} of a long answer.\n\n") for i in range(30)]
    model_server.enqueue(Reply(paragraphs, chunk_delay=0.2), Reply("Short now."))
    term = start_coda()
    term.submit("tell me everything")
    term.wait_for("Paragraph 0 of a long answer.")
    term.send("C-c")
    seconds = term.wait_ready(timeout=3)
    assert seconds < 1.0, f"the prompt came back after {seconds:.2f}s"
    assert "Paragraph 29" not in term.screen()
    assert "Traceback" not in term.screen()

    term.submit("shorter please")
    term.wait_for("Short now.")
    messages = model_server.requests[1].body["messages"]
    # Nothing of the cut-off reply was kept: the first prompt (with the note that it was
    # interrupted) and the second arrive as one user message, as the API merges them.
    assert [m["role"] for m in messages] == ["user"]
    texts = [b["text"] for b in messages[0]["content"]]
    assert texts[0] == "tell me everything" and texts[-1] == "shorter please"
    assert any("interrupted" in t for t in texts[1:-1])


def test_resizing_the_terminal_mid_session(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    words = [Text(f"Line {i}: " + "word " * 12 + "\n\n") for i in range(8)]
    model_server.enqueue(Reply(words, chunk_delay=0.05), Reply("Still here."))
    term = start_coda()
    term.submit("stream something")
    term.wait_for("Line 1:")
    term.resize(40, 20)
    term.wait_for("Line 7:")
    term.wait_ready()
    term.resize(120, 40)
    term.submit("and again")
    term.wait_for("Still here.")
    term.wait_ready()
    assert term.exit_status() is None
    assert "Traceback" not in term.screen()


def test_a_multi_line_paste_is_one_message(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("Got all three."))
    term = start_coda()
    term.paste("first line\nsecond line\nthird line")
    term.wait_for("third line")
    time.sleep(0.2)
    assert len(model_server.requests) == 0  # the newlines in the paste did not send it
    term.send("Enter")
    term.wait_for("Got all three.")
    assert len(model_server.requests) == 1
    assert user_texts(model_server.requests[0].body) == ["first line\nsecond line\nthird line"]


def test_alt_enter_adds_a_line(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply("Two lines."))
    term = start_coda()
    term.type("one")
    term.send("M-Enter")
    term.type("two")
    term.send("Enter")
    term.wait_for("Two lines.")
    assert user_texts(model_server.requests[0].body) == ["one\ntwo"]


def test_shift_tab_cycles_the_permission_mode(start_coda: StartCoda) -> None:
    term = start_coda()
    assert "default mode" in term.visible()
    term.send("BTab")
    term.wait_until(lambda: "acceptEdits mode" in term.visible(), 3, "acceptEdits")
    term.send("BTab")
    term.wait_until(lambda: "plan mode" in term.visible(), 3, "plan")
    term.send("BTab")
    term.wait_until(lambda: "default mode" in term.visible(), 3, "default again")
    term.submit("/permissions")
    term.wait_for("Mode: default")


def test_help_and_cost(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply("Priced."))
    term = start_coda()
    term.submit("/help")
    screen = term.wait_for("ctrl+o")
    for command in ("/clear", "/cost", "/model", "/think", "/permissions", "/status", "/exit"):
        assert command in screen
    term.submit("hello")
    term.wait_for("Priced.")
    term.wait_ready()
    term.submit("/cost")
    screen = term.wait_for("Cost:")
    assert "Input tokens:" in screen and "Output tokens:" in screen
    assert "$" in screen.split("Cost:")[-1]
    term.submit("/resume")
    term.wait_for("No other sessions in this directory")
    term.submit("/mcp")
    term.wait_for("No MCP servers are configured")


def test_ctrl_d_exits_with_status_0(start_coda: StartCoda) -> None:
    term = start_coda()
    term.send("C-d")
    term.wait_until(lambda: term.exit_status() is not None, 5, "coda to exit")
    assert term.exit_status() == 0


def test_two_ctrl_c_on_an_empty_prompt_exit(start_coda: StartCoda) -> None:
    term = start_coda()
    term.type("half a thought")
    term.send("C-c")  # clears the line
    term.wait_until(lambda: "half a thought" not in term.visible(), 3, "the line to clear")
    term.send("C-c")
    term.wait_for("press ctrl+c again to exit")
    assert term.exit_status() is None
    term.send("C-c")
    term.wait_until(lambda: term.exit_status() is not None, 5, "coda to exit")
    assert term.exit_status() == 0


def test_no_color_means_no_colour_codes(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(
        Reply([Text("Some **bold** and `code`:\n\n```python\nx = 1\n```\n")]),
        Reply([ToolUse("Bash", {"command": "touch x.txt"})]),
    )
    term = start_coda()  # NO_COLOR=1
    term.submit("show me")
    term.wait_for("x = 1")
    term.wait_ready()
    term.submit("touch it")
    term.wait_for("3. No")
    screen = term.screen(escapes=True)
    assert colour_codes(screen) == []
    term.send("Escape")
    term.wait_ready()


def test_colour_when_allowed(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply([Text("```python\nx = 1\n```\n")]))
    term = start_coda(color=True)
    term.submit("show me")
    term.wait_for("x = 1")
    assert colour_codes(term.screen(escapes=True))


def test_ascii_glyphs_in_a_c_locale(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply([Thinking("hmm"), Text("- item\n")]))
    term = start_coda(
        "--model", "claude-3-7-sonnet-20250219", "--thinking-budget", "2048", lang="C"
    )
    term.submit("list")
    term.wait_for("- item")
    term.wait_ready()
    screen = term.screen()
    assert "Thought for" in screen
    assert all(ord(c) < 128 for c in screen), [c for c in screen if ord(c) >= 128]


def test_forty_columns(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(
        Reply([Text("A paragraph long enough to wrap several times at forty columns wide.")]),
        Reply(
            [ToolUse("Bash", {"command": "touch a-file-whose-name-is-wider-than-the-screen.txt"})]
        ),
        Reply("Touched."),
    )
    term = start_coda(width=40)
    term.submit("wrap")
    term.wait_for("columns wide.")
    term.wait_ready()
    term.submit("echo")
    term.wait_for("3. No")
    term.send("1")
    term.wait_for("Touched.")
    for line in term.visible().splitlines():
        assert len(line) <= 40


def test_ctrl_o_shows_the_last_thinking(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply([Thinking("weighing option A against option B"), Text("B.")]))
    term = start_coda("--model", "claude-3-7-sonnet-20250219", "--thinking-budget", "2048")
    term.submit("choose")
    term.wait_for("B.")
    term.wait_ready()
    assert "Thought for" in term.screen()
    term.send("C-o")
    term.wait_for("weighing option A against option B")


def test_bang_runs_a_command_and_its_output_joins_the_conversation(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("I see the output."))
    term = start_coda()
    term.submit("!echo from-the-shell")
    term.wait_for("from-the-shell\n")
    term.wait_ready()
    assert len(model_server.requests) == 0
    term.submit("what did it print?")
    term.wait_for("I see the output.")
    texts = user_texts(model_server.requests[0].body)
    assert any("echo from-the-shell" in t and "from-the-shell" in t for t in texts)


def test_hash_note_goes_to_coda_md(start_coda: StartCoda, repo: Path) -> None:
    term = start_coda()
    term.submit("#always run the tests with -q")
    term.wait_for("Noted in ./CODA.md")
    assert (repo / "CODA.md").read_text() == "- always run the tests with -q\n"


def test_at_mention_attaches_the_file(start_coda: StartCoda, model_server: ModelServer) -> None:
    model_server.enqueue(Reply("It says alpha and beta."))
    term = start_coda()
    term.type("what is in @not")
    term.send("Tab")  # completes to @notes.txt
    term.wait_for("@notes.txt")
    term.send("Escape")
    term.type(" ?")
    term.send("Enter")
    term.wait_for("It says alpha and beta.")
    [text] = user_texts(model_server.requests[0].body)
    assert text.startswith("what is in @notes.txt ?")
    assert "alpha" in text and "beta" in text


def test_piped_stdin_runs_unattended(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply("From a pipe."))
    run = run_coda([], cwd=repo, env=anthropic_env(model_server, home), stdin="hi from a pipe")
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "From a pipe."


def test_ctrl_c_still_interrupts_after_a_permission_question(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "touch first.txt"})]),
        Reply("Done."),
        Reply([ToolUse("Bash", {"command": "sleep 30"})]),
        Reply("Stopped."),
    )
    term = start_coda("--allowedTools", "Bash(sleep:*)")
    term.submit("first")
    term.wait_for("3. No")
    term.send("1")
    term.wait_for("Done.")
    term.wait_ready()
    term.submit("now wait")
    term.wait_until(lambda: sleeping(repo), 5, "sleep 30 to start")
    term.send("C-c")
    assert term.wait_ready(timeout=3) < 1.0
    term.wait_until(lambda: not sleeping(repo), 3, "the sleep to be killed")


def test_always_saves_the_rule_and_does_not_ask_again(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "touch one.txt"})]),
        Reply("One."),
        Reply([ToolUse("Bash", {"command": "touch one.txt"})]),
        Reply("Again."),
    )
    term = start_coda()
    term.submit("touch it")
    term.wait_for("3. No")
    term.send("2")
    term.wait_for("One.")
    saved = (repo / ".coda" / "settings.local.json").read_text()
    assert "Bash(touch one.txt)" in saved
    term.wait_ready()
    term.submit("again")
    term.wait_for("Again.")
    assert term.count("Bash wants to run:") == 1


def test_history_is_kept_per_project_and_searchable(
    start_coda: StartCoda, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("First answer."), Reply("Second answer."))
    term = start_coda()
    term.submit("a memorable question")
    term.wait_for("First answer.")
    term.wait_ready()
    term.send("C-d")
    term.wait_until(lambda: term.exit_status() is not None, 5, "coda to exit")

    term = start_coda()
    term.send("C-r")
    term.type("memorable")
    term.wait_for("I-search")
    term.send("Enter")  # ends the search with the found line in the input
    term.wait_until(lambda: "a memorable question" in term.visible(), 3, "the found line")
    term.send("Enter")
    term.wait_for("Second answer.")
    assert user_texts(model_server.requests[1].body) == ["a memorable question"]


def test_a_missing_provider_is_reported_and_exits_2(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    from tests.helpers import clean_env
    from tests.ui.tmux import Terminal

    term = Terminal(
        [], cwd=repo, env={**clean_env(home), "LANG": "C.UTF-8", "TERM": "tmux-256color"}
    )
    try:
        term.wait_until(lambda: term.exit_status() is not None, 10, "coda to exit")
        screen = term.screen()
        assert term.exit_status() == 2, screen
        assert "no model provider is configured" in screen
        assert "Traceback" not in screen
    finally:
        term.close()


def test_an_edit_is_shown_as_a_diff_before_and_after(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    edit = {"file_path": "calc.py", "old_string": "a - b", "new_string": "a + b"}
    model_server.enqueue(
        Reply([ToolUse("Read", {"file_path": "calc.py"})]),
        Reply([ToolUse("Edit", edit)]),
        Reply("Fixed."),
    )
    term = start_coda(color=True)
    term.submit("fix the sign")
    screen = term.wait_for("3. No")
    assert "Edit wants to change calc.py:" in screen
    assert "-a - b" in screen and "+a + b" in screen
    term.send("1")
    screen = term.wait_for("Fixed.")
    assert (repo / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert "-    return a - b" in screen and "+    return a + b" in screen
    coloured = term.screen(escapes=True)
    assert colour_codes(coloured)


def test_esc_at_a_permission_question_interrupts_the_turn(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Bash", {"command": "touch never.txt"})]),
        Reply("Fine."),
    )
    term = start_coda()
    term.submit("touch it")
    term.wait_for("3. No")
    term.send("Escape")
    assert term.wait_ready(timeout=3) < 1.0
    assert "Traceback" not in term.screen()
    term.submit("forget it")
    term.wait_for("Fine.")
    assert not (repo / "never.txt").exists()
    [result] = tool_results(model_server.requests[1].body)
    assert result["is_error"] is True and "Interrupted by the person" in result_text(result)


def test_esc_esc_rewinds_a_write_from_the_menu(
    start_coda: StartCoda, model_server: ModelServer, repo: Path
) -> None:
    model_server.enqueue(
        Reply([ToolUse("Write", {"file_path": "made.txt", "content": "new\n"})]),
        Reply("Made it."),
    )
    term = start_coda("--permission-mode", "acceptEdits")
    term.submit("make a file")
    term.wait_for("Made it.")
    term.wait_ready()
    assert (repo / "made.txt").exists()
    term.send("Escape", "Escape")
    term.wait_for("Rewind to before which prompt?")
    assert "make a file" in term.screen()
    term.send("Enter")
    term.wait_for("What to restore?")
    term.send("Enter")  # the code and the conversation
    term.wait_for("conversation rewound")
    assert not (repo / "made.txt").exists()
    assert "1 file(s) restored: made.txt" in term.screen()
    # The rewound prompt is back in the input line, below the one sent before.
    term.wait_until(lambda: term.count("make a file") >= 2, what="the prompt back in the input")
