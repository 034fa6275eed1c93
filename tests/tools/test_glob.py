"""Glob: rg --files with ignore rules, newest first, capped; and the walk used without rg."""

from __future__ import annotations

from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolError
from coda.tools.glob import MAX_RESULTS, GlobTool
from tests.tools.conftest import git_init, text_of, write

glob = GlobTool()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    git_init(root)
    write(root, ".gitignore", "build/\n*.log\n!keep.log\n")
    write(root, "src/app.py", mtime=1_000)
    write(root, "src/util.py", mtime=3_000)
    write(root, "src/deep/x.py", mtime=2_000)
    write(root, "setup.py", mtime=500)
    write(root, "README.md", mtime=4_000)
    write(root, "build/gen.py", mtime=9_000)
    write(root, "debug.log", mtime=9_000)
    write(root, "keep.log", mtime=100)
    write(root, ".hidden.py", mtime=9_000)
    write(root, ".github/workflows/ci.yml", mtime=9_000)
    write(root, "src/sub/.gitignore", "secret.py\n")
    write(root, "src/sub/secret.py", mtime=9_000)
    write(root, "src/sub/open.py", mtime=1_500)
    return root


async def run(tool: GlobTool, args: dict[str, str], ctx: ToolContext) -> list[str]:
    text = text_of(await tool.run(args, ctx))
    return [] if text == "No files found" else text.splitlines()


async def test_newest_first_absolute_and_gitignore_honoured(repo: Path, ctx: ToolContext) -> None:
    found = await run(glob, {"pattern": "**/*.py", "path": str(repo)}, ctx)
    assert found == [
        str(repo / "src/util.py"),
        str(repo / "src/deep/x.py"),
        str(repo / "src/sub/open.py"),
        str(repo / "src/app.py"),
        str(repo / "setup.py"),
    ]


async def test_pattern_without_slash_matches_at_any_depth(repo: Path, ctx: ToolContext) -> None:
    found = await run(glob, {"pattern": "*.log", "path": str(repo)}, ctx)
    assert found == [str(repo / "keep.log")]


async def test_path_defaults_to_cwd_and_can_be_relative(repo: Path) -> None:
    ctx = ToolContext(cwd=repo)
    assert await run(glob, {"pattern": "*.md"}, ctx) == [str(repo / "README.md")]
    assert await run(glob, {"pattern": "*.py", "path": "src/deep"}, ctx) == [
        str(repo / "src/deep/x.py")
    ]


async def test_absolute_pattern_searches_under_its_fixed_part(repo: Path, ctx: ToolContext) -> None:
    found = await run(glob, {"pattern": f"{repo}/src/*.py"}, ctx)
    assert found == [str(repo / "src/util.py"), str(repo / "src/app.py")]


async def test_hidden_paths_only_when_the_pattern_names_them(repo: Path, ctx: ToolContext) -> None:
    assert await run(glob, {"pattern": "*.yml", "path": str(repo)}, ctx) == []
    found = await run(glob, {"pattern": ".github/**/*.yml", "path": str(repo)}, ctx)
    assert found == [str(repo / ".github/workflows/ci.yml")]


async def test_braces(repo: Path, ctx: ToolContext) -> None:
    found = await run(glob, {"pattern": "*.{md,log}", "path": str(repo)}, ctx)
    assert found == [str(repo / "README.md"), str(repo / "keep.log")]


async def test_no_files_found(repo: Path, ctx: ToolContext) -> None:
    out = await glob.run({"pattern": "**/*.rs", "path": str(repo)}, ctx)
    assert text_of(out) == "No files found"


async def test_results_are_capped_with_a_note(tmp_path: Path, ctx: ToolContext) -> None:
    for i in range(MAX_RESULTS + 5):
        write(tmp_path, f"f{i:04}.txt", mtime=10_000 + i)
    out = await glob.run({"pattern": "*.txt"}, ctx)
    lines = text_of(out).splitlines()
    assert len(lines) == MAX_RESULTS + 1
    assert lines[0] == str(tmp_path / f"f{MAX_RESULTS + 4:04}.txt")
    assert lines[-1].startswith("(Showing the 1,000 most recently modified of 1,005 files.")
    assert out.summary == "Found 1,005 files"


async def test_bad_path(repo: Path, ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="does not exist"):
        await glob.run({"pattern": "*", "path": str(repo / "nope")}, ctx)
    with pytest.raises(ToolError, match="not a directory"):
        await glob.run({"pattern": "*", "path": str(repo / "setup.py")}, ctx)


@pytest.mark.parametrize(
    "pattern", ["**/*.py", "*.py", "src/*.py", "*.{md,log}", ".github/**/*.yml", "**/*"]
)
async def test_without_rg_the_walk_gives_the_same_answer(
    repo: Path, ctx: ToolContext, no_rg: str | None, pattern: str
) -> None:
    assert no_rg is None
    fallback = GlobTool(locate_rg=lambda: no_rg)
    args = {"pattern": pattern, "path": str(repo)}
    expected = await run(glob, args, ctx)
    assert expected, "the case should find something"
    assert await run(fallback, args, ctx) == expected


async def test_match_all_still_honours_ignore_rules(repo: Path, ctx: ToolContext) -> None:
    # rg's own --glob would let "**/*" override .gitignore and list .git and build/.
    found = await run(glob, {"pattern": "**/*", "path": str(repo)}, ctx)
    rel = sorted(str(Path(p).relative_to(repo)) for p in found)
    assert rel == [
        "README.md",
        "keep.log",
        "setup.py",
        "src/app.py",
        "src/deep/x.py",
        "src/sub/open.py",
        "src/util.py",
    ]


async def test_missing_literal_directory_finds_nothing(repo: Path, ctx: ToolContext) -> None:
    out = await glob.run({"pattern": "lib/**/*.py", "path": str(repo)}, ctx)
    assert text_of(out) == "No files found"
