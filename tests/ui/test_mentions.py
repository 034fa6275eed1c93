"""@path mentions: which words name files, completion, and attaching through Read and LS."""

from __future__ import annotations

from pathlib import Path

from coda.tools.base import ToolContext
from coda.ui.mentions import attach_mentions, mentioned_paths, path_completions


def tree(root: Path) -> Path:
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "src" / "api.py").write_text("")
    (root / ".hidden").write_text("")
    (root / "README.md").write_text("# readme\n")
    return root


def test_only_mentions_of_existing_paths_count(tmp_path: Path) -> None:
    tree(tmp_path)
    text = "see @src/app.py, mail me@example.com, use @property and @README.md."
    assert mentioned_paths(text, tmp_path) == [
        ("src/app.py", tmp_path / "src" / "app.py"),
        ("README.md", tmp_path / "README.md"),
    ]


def test_path_completions(tmp_path: Path) -> None:
    tree(tmp_path)
    assert path_completions("", tmp_path) == [("README.md", False), ("src/", True)]
    assert path_completions("src/ap", tmp_path) == [("src/api.py", False), ("src/app.py", False)]
    assert path_completions(".h", tmp_path) == [(".hidden", False)]
    assert path_completions("nowhere/x", tmp_path) == []


async def test_attached_files_read_like_the_read_tool(tmp_path: Path) -> None:
    tree(tmp_path)
    ctx = ToolContext(cwd=tmp_path)
    attached = await attach_mentions("explain @src/app.py and @src", ctx)
    assert attached.files == ["src/app.py", "src"]
    assert attached.prompt.startswith("explain @src/app.py and @src\n\n")
    assert '<attached path="src/app.py">' in attached.prompt
    assert "print('hi')" in attached.prompt
    assert "api.py" in attached.prompt  # the directory's listing
    # A later Edit of the mentioned file needs no separate Read.
    assert (tmp_path / "src" / "app.py").resolve() in ctx.read_files


async def test_no_mentions_leave_the_prompt_alone(tmp_path: Path) -> None:
    attached = await attach_mentions("just words", ToolContext(cwd=tmp_path))
    assert attached.prompt == "just words" and attached.files == []


def test_completion_offers_mcp_prompts_and_resources(tmp_path: Path) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from coda.ui.mentions import make_completer

    (tmp_path / "everywhere.txt").write_text("x")
    offered = (
        [("/mcp__everything__args-prompt", "A prompt with arguments")],
        [("@everything:demo://resource/static/document/features.md", "features.md")],
    )
    completer = make_completer([("/mcp", "MCP servers")], tmp_path, lambda: offered)

    def complete(text: str) -> list[str]:
        found = completer.get_completions(Document(text), CompleteEvent())  # type: ignore[attr-defined]
        return [c.text for c in found]

    assert complete("/mcp") == ["/mcp", "/mcp__everything__args-prompt"]
    assert complete("/mcp__e") == ["/mcp__everything__args-prompt"]
    # A resource and a file both start with "@ev": both are offered.
    assert complete("read @ev") == [
        "@everything:demo://resource/static/document/features.md",
        "@everywhere.txt",
    ]
    assert complete("read @everything:demo://resource/static/document/f")[0].endswith("features.md")
