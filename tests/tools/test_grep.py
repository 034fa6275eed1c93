"""Grep: rg arguments and output modes, error reporting, caps, and the Python fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from coda.tools.base import ToolContext, ToolError
from coda.tools.grep import MAX_OUTPUT_CHARS, GrepTool
from tests.tools.conftest import git_init, text_of, write

grep = GrepTool()

APP = """import os

def main():
    print("Hello World")
    return 0
# TODO: remove
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git_init(root)
    write(root, ".gitignore", "ignored/\n")
    write(root, "src/app.py", APP, mtime=1_000)
    write(root, "src/util.py", "def helper():\n    return 'hello'\n", mtime=3_000)
    write(root, "src/web.js", "function hello() {}\n", mtime=2_000)
    write(root, "README.md", "Hello docs\n-flag option\n", mtime=4_000)
    write(root, "ignored/x.py", "Hello ignored\nhello\n", mtime=9_000)
    write(root, ".hidden.py", "hello hidden\n", mtime=9_000)
    write(root, ".cache/y.py", "hello cached\n", mtime=9_000)
    return root


async def search(repo: Path, tool: GrepTool = grep, **args: Any) -> str:
    return text_of(await tool.run({"path": str(repo), **args}, ToolContext(cwd=repo)))


async def test_files_with_matches_is_the_default_newest_first(repo: Path) -> None:
    out = await grep.run({"pattern": "hello"}, ToolContext(cwd=repo))
    assert text_of(out) == f"{repo}/src/util.py\n{repo}/src/web.js"
    assert out.summary == "Found 2 files"


async def test_ignore_case(repo: Path) -> None:
    assert await search(repo, pattern="hello", **{"-i": True}) == "\n".join(
        [f"{repo}/README.md", f"{repo}/src/util.py", f"{repo}/src/web.js", f"{repo}/src/app.py"]
    )


async def test_content_with_and_without_line_numbers(repo: Path) -> None:
    numbered = await search(repo, pattern="return", output_mode="content")
    assert numbered == (
        f"{repo}/src/app.py:5:    return 0\n{repo}/src/util.py:2:    return 'hello'"
    )
    plain = await search(repo, pattern="return", output_mode="content", **{"-n": False})
    assert plain == f"{repo}/src/app.py:    return 0\n{repo}/src/util.py:    return 'hello'"


async def test_single_file_content_has_no_file_prefix(repo: Path) -> None:
    out = await search(repo / "src/app.py", pattern="return", output_mode="content")
    assert out == "5:    return 0"


async def test_count(repo: Path) -> None:
    out = await grep.run(
        {"pattern": "o", "output_mode": "count", "path": "src"}, ToolContext(cwd=repo)
    )
    assert text_of(out) == f"{repo}/src/app.py:3\n{repo}/src/util.py:1\n{repo}/src/web.js:1"
    assert out.summary == "Found 5 matching lines in 3 files"


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"-C": 1}, ["-3-def main():", ":4:    print", "-5-    return 0"]),
        ({"-B": 2}, ["-2-", "-3-def main():", ":4:    print"]),
        ({"-A": 1}, [":4:    print", "-5-    return 0"]),
    ],
)
async def test_context_lines(repo: Path, context: dict[str, int], expected: list[str]) -> None:
    out = await search(repo, pattern="print", output_mode="content", **context)
    lines = out.splitlines()
    assert len(lines) == len(expected)
    for line, tail in zip(lines, expected, strict=True):
        assert line.startswith(f"{repo}/src/app.py{tail}")


async def test_context_is_ignored_outside_content_mode(repo: Path) -> None:
    assert await search(repo, pattern="print", **{"-C": 3}) == f"{repo}/src/app.py"


async def test_type_and_glob_filters(repo: Path) -> None:
    # As with rg, a file the type selects is searched even when hidden; a hidden dir is not.
    assert await search(repo, pattern="hello", type="py") == (
        f"{repo}/.hidden.py\n{repo}/src/util.py"
    )
    assert await search(repo, pattern="hello", glob="*.js") == f"{repo}/src/web.js"
    # A glob with a slash is relative to the searched path, not to the session's cwd.
    elsewhere = ToolContext(cwd=repo.parent)
    out = await grep.run({"pattern": "hello", "path": "repo", "glob": "src/*.py"}, elsewhere)
    assert text_of(out) == f"{repo}/src/util.py"
    assert await search(repo, pattern="hello", glob="**/*.{js,md}", **{"-i": True}) == (
        f"{repo}/README.md\n{repo}/src/web.js"
    )


async def test_unknown_type_is_reported(repo: Path) -> None:
    with pytest.raises(ToolError, match="unrecognized file type"):
        await search(repo, pattern="x", type="nosuchtype")


async def test_multiline(repo: Path) -> None:
    pattern = r"main\(\):.*print"
    assert await search(repo, pattern=pattern, output_mode="content") == "No matches found"
    out = await search(repo, pattern=pattern, output_mode="content", multiline=True)
    assert out == f'{repo}/src/app.py:3:def main():\n{repo}/src/app.py:4:    print("Hello World")'


async def test_head_limit(repo: Path) -> None:
    out = await search(repo, pattern="o", output_mode="content", head_limit=2)
    assert out.splitlines() == [
        f"{repo}/README.md:1:Hello docs",
        f"{repo}/README.md:2:-flag option",
        "(Showing the first 2 of 7 lines.)",
    ]
    files = await search(repo, pattern="o", head_limit=1)
    assert files == f"{repo}/README.md\n(Showing the first 1 of 4 files.)"


async def test_bad_regex_is_a_tool_error(repo: Path) -> None:
    with pytest.raises(ToolError, match="regex parse error"):
        await search(repo, pattern="foo(")


async def test_pattern_starting_with_a_dash(repo: Path) -> None:
    out = await search(repo, pattern="-flag", output_mode="content")
    assert out == f"{repo}/README.md:2:-flag option"


async def test_no_matches(repo: Path) -> None:
    out = await grep.run({"pattern": "zebra"}, ToolContext(cwd=repo))
    assert text_of(out) == "No matches found"


async def test_missing_path(repo: Path) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await search(repo / "nope", pattern="x")


async def test_huge_output_is_cut_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, "many.txt", "".join(f"match number {i}\n" for i in range(20_000)))
    out = await search(tmp_path, pattern="match", output_mode="content")
    body, _, note = out.rpartition("\n")
    assert MAX_OUTPUT_CHARS - 100 < len(body) <= MAX_OUTPUT_CHARS
    last = body.splitlines()[-1]
    shown = int(last.split(":")[1])
    assert last == f"{tmp_path}/many.txt:{shown}:match number {shown - 1}"
    assert note.startswith(f"(Output cut at 30,000 characters; {20_000 - shown:,} more lines")


async def test_giant_lines_are_shortened(tmp_path: Path) -> None:
    write(tmp_path, "min.js", "var a=1;" * 5000 + "needle\n")
    out = await search(tmp_path / "min.js", pattern="var", output_mode="content")
    assert len(out) < 1000
    assert "omitted" in out


FALLBACK_CASES: list[dict[str, Any]] = [
    {"pattern": "hello"},
    {"pattern": "hello", "-i": True},
    {"pattern": "return", "output_mode": "content"},
    {"pattern": "return", "output_mode": "content", "-n": False},
    {"pattern": "o", "output_mode": "count"},
    {"pattern": "print", "output_mode": "content", "-C": 1},
    {"pattern": "o", "output_mode": "content", "-A": 1, "-B": 1},
    {"pattern": "hello", "type": "py", "-i": True},
    {"pattern": "hello", "glob": "*.{js,md}", "-i": True},
    {"pattern": "hello", "glob": "src/*.py", "-i": True},
    {"pattern": "o", "output_mode": "count", "path": "src/app.py"},
    {"pattern": r"main\(\):.*print", "output_mode": "content", "multiline": True},
    {"pattern": "o", "output_mode": "content", "head_limit": 3},
    {"pattern": "-flag", "output_mode": "content"},
    {"pattern": "zebra"},
]


@pytest.mark.parametrize("args", FALLBACK_CASES, ids=str)
async def test_fallback_without_rg_matches_rg(
    repo: Path, no_rg: str | None, args: dict[str, Any]
) -> None:
    assert no_rg is None
    fallback = GrepTool(locate_rg=lambda: no_rg)
    assert await search(repo, fallback, **args) == await search(repo, **args)


async def test_fallback_reports_bad_regex_and_unknown_type(repo: Path, no_rg: str | None) -> None:
    fallback = GrepTool(locate_rg=lambda: no_rg)
    with pytest.raises(ToolError, match="regex parse error"):
        await search(repo, fallback, pattern="foo(")
    with pytest.raises(ToolError, match="unrecognized file type"):
        await search(repo, fallback, pattern="x", type="nosuchtype")


async def test_fallback_content_is_in_path_order_like_rg(tmp_path: Path, no_rg: str | None) -> None:
    # rg --sort=path puts a/x.py before b.py; a walk yielding files before subdirectories would not.
    for rel in ["b.py", "a/x.py", "a/z/y.py", "c.py", "B.py"]:
        write(tmp_path, rel, "needle\n")
    args = {"pattern": "needle", "output_mode": "content"}
    expected = await search(tmp_path, **args)
    assert [line.removeprefix(f"{tmp_path}/") for line in expected.splitlines()] == [
        "B.py:1:needle",
        "a/x.py:1:needle",
        "a/z/y.py:1:needle",
        "b.py:1:needle",
        "c.py:1:needle",
    ]
    assert await search(tmp_path, GrepTool(locate_rg=lambda: no_rg), **args) == expected


async def test_an_rg_that_cannot_run_falls_back(repo: Path, tmp_path: Path) -> None:
    broken = write(tmp_path, "bin/rg", "this is not an executable format\n")
    broken.chmod(0o755)
    args = {"pattern": "return", "output_mode": "content"}
    fallback = GrepTool(locate_rg=lambda: str(broken))
    assert await search(repo, fallback, **args) == await search(repo, **args)
