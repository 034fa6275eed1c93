"""Checkpoint figures: incremental snapshots and a restore on a 10,000-file git repository,
against a bare `git status` in the same workspace and the same run.

    python bench/checkpoints.py [--files 10000] [--changed 10] [--runs 15] [--json FILE]

The workspace is generated in a temporary directory each run (a few seconds). See
bench/README.md.
"""

from __future__ import annotations

import argparse
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

from coda.checkpoints import Checkpoints

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "iota", "kappa", "lambda"]


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_workspace(root: Path, count: int) -> list[Path]:
    """`count` committed source files, 100 to a directory, plus an ignored node_modules of
    2,000 files and a small ignored .env, as a real project has."""
    rnd = random.Random(42)
    files = []
    for i in range(count):
        folder = root / f"pkg{i // 2000}" / f"mod{(i // 100) % 20}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"f{i}.py"
        path.write_text("\n".join(" ".join(rnd.choices(WORDS, k=8)) for _ in range(30)) + "\n")
        files.append(path)
    for i in range(2000):
        dep = root / "node_modules" / f"dep{i // 100}" / f"m{i}.js"
        dep.parent.mkdir(parents=True, exist_ok=True)
        dep.write_text(f"module.exports = {i}\n")
    (root / ".gitignore").write_text("node_modules/\n.env\n")
    (root / ".env").write_text("TOKEN=bench\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "bench workspace")
    return files


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def touch_some(files: list[Path], changed: int, rnd: random.Random, tag: str) -> None:
    for path in rnd.sample(files, changed):
        with path.open("a") as f:
            f.write(f"# {tag}\n")


def figures(root: Path, files: list[Path], changed: int, runs: int) -> dict[str, Any]:
    store = root.parent / "data" / "shadow.git"
    rnd = random.Random(7)
    first = Checkpoints(root, store, "bench-1")
    figures: dict[str, Any] = {"files": len(files), "changed_files": changed}
    figures["first_snapshot_s"] = timed(lambda: first.snapshot("first"))
    # A second session starts from the first one's index: no file is hashed again.
    second = Checkpoints(root, store, "bench-2")
    figures["first_snapshot_seeded_s"] = timed(lambda: second.snapshot("first"))

    status = ["git", "status", "--porcelain"]
    snapshot_s, status_s, restore_s, unchanged_s = [], [], [], []
    for run in range(runs):
        touch_some(files, changed, rnd, f"run {run}")
        snapshot_s.append(timed(lambda run=run: first.snapshot(f"run {run}")))
        status_s.append(timed(lambda: subprocess.run(status, cwd=root, capture_output=True)))
        unchanged_s.append(timed(lambda: first.snapshot("nothing changed")))
    for run in range(runs):
        target = first.snapshot(f"restore target {run}")
        touch_some(files, changed, rnd, f"restore {run}")
        started = time.perf_counter()
        result = first.restore(target)
        restore_s.append(time.perf_counter() - started)
        assert len(result.written) == changed, result
    figures["snapshot_s"] = statistics.median(snapshot_s)
    figures["snapshot_unchanged_s"] = statistics.median(unchanged_s)
    figures["git_status_s"] = statistics.median(status_s)
    figures["snapshot_vs_git_status_ratio"] = figures["snapshot_s"] / figures["git_status_s"]
    figures["restore_s"] = statistics.median(restore_s)
    figures["restore_vs_git_status_ratio"] = figures["restore_s"] / figures["git_status_s"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=10)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "workspace"
        root.mkdir()
        files = make_workspace(root, args.files)
        report(figures(root, files, args.changed, args.runs), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
