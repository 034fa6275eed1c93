"""Workspace-tool figures: Grep and Glob on a 100,000-file tree against raw rg, a one-line
Edit in a 10 MB file, and the peak RSS of reading a window of a 2 GB file.

    python bench/workspace.py [--files 100000] [--tree DIR] [--runs 5] [--json FILE]

The tree is generated once (about 15 s) and reused from --tree. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import report

from coda.tools.base import ToolContext
from coda.tools.registry import builtin_tools
from coda.tools.ripgrep import find_rg

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "iota", "kappa", "lambda"]


def make_tree(root: Path, count: int) -> None:
    """`count` small source files, 200 to a directory, 2% of lines a function definition."""
    marker = root / ".complete"
    if marker.exists() and marker.read_text() == str(count):
        return
    rnd = random.Random(42)
    for i in range(count):
        folder = root / f"pkg{i // 4000}" / f"mod{(i // 200) % 20}"
        if i % 200 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"def handle_request_{j}(self): return {j}"
            if rnd.random() < 0.02
            else " ".join(rnd.choice(WORDS) for _ in range(8))
            for j in range(30)
        ]
        name = f"f{i}.py" if i % 3 else f"f{i}.txt"
        (folder / name).write_text("\n".join(lines) + "\n")
    marker.write_text(str(count))


def median_time(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def search_figures(tree: Path, runs: int) -> dict[str, Any]:
    tools = {t.name: t for t in builtin_tools()}
    ctx = ToolContext(cwd=tree)
    rg = find_rg()
    if rg is None:
        raise SystemExit("ripgrep is missing")

    def tool(name: str, args: dict[str, Any]) -> Callable[[], object]:
        return lambda: asyncio.run(tools[name].run(dict(args), ctx))

    def raw(*args: str) -> Callable[[], object]:
        # Output to a pipe, as coda reads it: rg is faster writing to /dev/null.
        return lambda: subprocess.run([rg, *args], cwd=tree, stdout=subprocess.PIPE, check=False)

    pattern = r"def handle_request_7\b"
    pairs = {
        "grep_content": (
            tool("Grep", {"pattern": pattern, "output_mode": "content"}),
            raw("-n", "-e", pattern),
        ),
        "grep_files": (tool("Grep", {"pattern": pattern}), raw("-l", "-e", pattern)),
        # Glob's contract is newest first, so the raw equivalent sorts by mtime too.
        "glob": (
            tool("Glob", {"pattern": "**/*.py"}),
            raw("--files", "--glob", "*.py", "--sortr=modified"),
        ),
        "glob_vs_unsorted_rg": (
            tool("Glob", {"pattern": "**/*.py"}),
            raw("--files", "--glob", "*.py"),
        ),
    }
    figures: dict[str, Any] = {}
    for name, (ours, theirs) in pairs.items():
        ours(), theirs()  # warm the page cache for both
        ours_s, theirs_s = median_time(ours, runs), median_time(theirs, runs)
        figures[f"{name}_coda_s"] = ours_s
        figures[f"{name}_rg_s"] = theirs_s
        figures[f"{name}_ratio"] = ours_s / theirs_s
    return figures


def edit_figure(workdir: Path) -> dict[str, Any]:
    tools = {t.name: t for t in builtin_tools()}
    if "Edit" not in tools:
        return {"edit_10mb_s": None}
    target = workdir / "big.py"
    lines = [
        f"value_{i} = {i}  # some padding text for a realistic line length\n"
        for i in range(160_000)
    ]
    target.write_text("".join(lines))
    size_mib = target.stat().st_size / 2**20
    ctx = ToolContext(cwd=workdir)
    asyncio.run(tools["Read"].run({"file_path": str(target), "limit": 10}, ctx))
    started = time.perf_counter()
    out = asyncio.run(
        tools["Edit"].run(
            {
                "file_path": str(target),
                "old_string": "value_80000 = 80000",
                "new_string": "value_80000 = -1",
            },
            ctx,
        )
    )
    elapsed = time.perf_counter() - started
    assert not out.is_error, out
    return {"edit_10mb_s": elapsed, "edit_file_mib": round(size_mib, 1)}


READ_WINDOW = """
import asyncio, sys
from pathlib import Path
from coda.tools.base import ToolContext
from coda.tools.registry import builtin_tools
read = next(t for t in builtin_tools() if t.name == "Read")
out = asyncio.run(read.run({"file_path": sys.argv[1], "offset": 1_000_000, "limit": 101},
                           ToolContext(cwd=Path(sys.argv[1]).parent)))
assert "1000000" in out.content[0].text, out.content[0].text[:200]
# VmHWM, not ru_maxrss: the latter starts from the forking parent's size.
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def read_figure(workdir: Path) -> dict[str, Any]:
    """Lines 1,000,000-1,000,100 of a 2 GB file: 2,000-byte lines, written sparsely fast."""
    big = workdir / "two_gb.txt"
    line_len = 2048
    total_lines = (2 * 2**30) // line_len
    with big.open("wb") as f:
        # Real text, written in 64 MB slabs of one repeated block to keep this quick.
        block = b"".join(
            f"{i:>10} ".encode().ljust(line_len - 1, b"x") + b"\n" for i in range(1, 4097)
        )
        written = 0
        while written < total_lines:
            f.write(block)
            written += 4096
    # Line numbers repeat every 4,096 lines; the read checks the window's text is there.
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", READ_WINDOW, str(big)], capture_output=True, text=True, check=True
    )
    elapsed = time.perf_counter() - started
    big.unlink()
    return {
        "read_2gb_window_peak_rss_mib": int(proc.stdout.strip()) / 1024,
        "read_2gb_window_s": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument(
        "--tree", type=Path, default=Path(tempfile.gettempdir()) / "coda-bench-tree"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-read", action="store_true", help="skip the 2 GB file")
    args = parser.parse_args(argv)
    make_tree(args.tree, args.files)
    figures: dict[str, Any] = {"tree_files": args.files}
    figures.update(search_figures(args.tree, args.runs))
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(edit_figure(Path(tmp)))
        if not args.skip_read:
            figures.update(read_figure(Path(tmp)))
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
