"""LS: the tree format, what is skipped, ignore patterns and the entry cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from coda.tools.base import ToolContext, ToolError
from coda.tools.ls import MAX_ENTRIES, LSTool
from tests.tools.conftest import text_of, write

ls = LSTool()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, "README.md")
    write(root, "src/app.py")
    write(root, "src/lib/util.py")
    write(root, "src/lib/util.log")
    write(root, "src/__pycache__/app.cpython-311.pyc")
    write(root, "node_modules/left-pad/index.js")
    write(root, ".git/HEAD")
    write(root, ".env")
    write(root, "env/pyvenv.cfg")
    write(root, "env/lib/site.py")
    write(root, "build/out.txt")
    (root / "empty").mkdir()
    return root


async def test_tree_with_directories_marked(tree: Path, ctx: ToolContext) -> None:
    out = await ls.run({"path": str(tree)}, ctx)
    assert text_of(out) == "\n".join(
        [
            f"- {tree}/",
            "  - build/",
            "    - out.txt",
            "  - empty/",
            "  - README.md",
            "  - src/",
            "    - app.py",
            "    - lib/",
            "      - util.log",
            "      - util.py",
        ]
    )
    assert out.summary == "Listed 9 entries"


async def test_ignore_patterns(tree: Path, ctx: ToolContext) -> None:
    out = await ls.run({"path": str(tree), "ignore": ["*.log", "build/", "empty"]}, ctx)
    assert text_of(out) == "\n".join(
        [f"- {tree}/", "  - README.md", "  - src/", "    - app.py", "    - lib/", "      - util.py"]
    )


async def test_relative_path_and_errors(tree: Path) -> None:
    ctx = ToolContext(cwd=tree)
    assert text_of(await ls.run({"path": "src/lib"}, ctx)).splitlines() == [
        f"- {tree}/src/lib/",
        "  - util.log",
        "  - util.py",
    ]
    with pytest.raises(ToolError, match=r"not a directory\. Use Read"):
        await ls.run({"path": "README.md"}, ctx)
    with pytest.raises(ToolError, match="does not exist"):
        await ls.run({"path": "nope"}, ctx)


async def test_empty_directory(tree: Path, ctx: ToolContext) -> None:
    assert text_of(await ls.run({"path": str(tree / "empty")}, ctx)) == (
        f"- {tree}/empty/\n  (no entries)"
    )


async def test_listing_is_capped(tmp_path: Path, ctx: ToolContext) -> None:
    for i in range(MAX_ENTRIES + 20):
        write(tmp_path, f"d/f{i:04}")
    out = await ls.run({"path": str(tmp_path)}, ctx)
    lines = text_of(out).splitlines()
    assert len(lines) == 1 + MAX_ENTRIES + 1
    assert lines[-2] == f"    - f{MAX_ENTRIES - 2:04}"  # "d/" is the first entry
    assert lines[-1].startswith("(Listing cut at 1,000 entries.")
