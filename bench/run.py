"""coda's speed and size figures, measured in one run so that ratios are fair on a noisy machine.

    python bench/run.py [--runs N] [--json FILE]

See bench/README.md for what each figure means and the targets it is held to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import compile_coda, report, scripted_server  # noqa: E402
from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.fakes.script import item_from_json  # noqa: E402


@dataclass
class Timing:
    median_s: float
    peak_rss_mib: float


def time_command(argv: list[str], *, runs: int, cwd: Path, env: dict[str, str]) -> Timing:
    """Median wall time and the largest peak RSS over `runs` runs of a command.

    Peak RSS comes from GNU time, a small C parent: a child's ru_maxrss as seen from this
    Python process would start from this process's own size at the fork.
    """
    walls: list[float] = []
    peak_kib = 0
    gnu_time = shutil.which("time") or "/usr/bin/time"
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.run(
            [gnu_time, "-f", "%M", *argv],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr}")
        peak_kib = max(peak_kib, int(proc.stderr.strip().splitlines()[-1]))
    return Timing(statistics.median(walls), peak_kib / 1024)


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# demo\nA calculator.\n" * 20)
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def _bench_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(
        HOME=str(home),
        CODA_CONFIG_DIR=str(home / "config"),
        CODA_DATA_DIR=str(home / "data"),
        ANTHROPIC_API_KEY="bench",
    )
    return env


TWO_TURN: list[Any] = [
    {"blocks": [{"type": "tool_use", "name": "Read", "input": {"file_path": "README.md"}}]},
    "It is a calculator.",
]
PROMPT = ["-p", "What does this repository do?", "--model", "sonnet"]


def headless_figures(runs: int, coda: str, repo: Path, home: Path) -> dict[str, Any]:
    """The 2-turn task: the model reads a file, then answers. The server answers instantly.

    The server runs in its own process, so it does not compete with this one for the GIL.
    """
    env = _bench_env(home)
    script = home / "script.json"
    with scripted_server(TWO_TURN, script) as url:
        env["ANTHROPIC_BASE_URL"] = url
        timing = time_command([coda, *PROMPT], runs=runs, cwd=repo, env=env)
    # The request size is deterministic; read it off an in-process server that records it.
    with ModelServer() as recorder:
        recorder.enqueue(*(item_from_json(item) for item in TWO_TURN))
        env["ANTHROPIC_BASE_URL"] = recorder.anthropic_base_url
        subprocess.run([coda, *PROMPT], cwd=repo, env=env, check=True, capture_output=True)
        first = recorder.requests[0].body
        recorder.assert_clean()
    prefix = {"system": first["system"], "tools": first["tools"]}
    spine_tools = [t for t in first["tools"] if t["name"] in ("Read", "Glob", "Grep", "LS")]
    spine = {"system": first["system"], "tools": spine_tools}
    return {
        "first_request_system_and_four_spine_tools_bytes": len(json.dumps(spine).encode()),
        "two_turn_wall_s": timing.median_s,
        "two_turn_peak_rss_mib": timing.peak_rss_mib,
        "first_request_system_and_tools_bytes": len(json.dumps(prefix).encode()),
        "first_request_body_bytes": len(json.dumps(first).encode()),
        "tools": [t["name"] for t in first["tools"]],
    }


def grep_figures(runs: int, tree: Path) -> dict[str, Any]:
    """coda's Grep tool (in process, as the agent runs it) against raw rg on the same tree."""
    from coda.tools.base import ToolContext
    from coda.tools.registry import builtin_tools
    from coda.tools.ripgrep import find_rg

    grep = next(t for t in builtin_tools() if t.name == "Grep")
    rg = find_rg()
    assert rg is not None, "ripgrep is missing"
    ctx = ToolContext(cwd=tree)
    args = {"pattern": "def __init__", "output_mode": "content", "-n": True}

    def ours() -> None:
        asyncio.run(grep.run(dict(args), ctx))

    def raw() -> None:
        subprocess.run(
            [str(rg), "-n", "-e", "def __init__", str(tree)],
            stdout=subprocess.DEVNULL,
            check=False,
        )

    def median(fn: Any) -> float:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    ours_s, raw_s = median(ours), median(raw)
    return {
        "grep_tree": str(tree),
        "grep_coda_s": ours_s,
        "grep_rg_s": raw_s,
        "grep_ratio": ours_s / raw_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    coda = shutil.which("coda")
    if coda is None:
        raise SystemExit("install coda first: pip install -e .")
    python = sys.executable
    compile_coda()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        (root / "home").mkdir()
        env = dict(os.environ)
        bare = time_command([python, "-c", "pass"], runs=args.runs, cwd=repo, env=env)
        version = time_command([coda, "--version"], runs=args.runs, cwd=repo, env=env)
        figures: dict[str, Any] = {
            "python_c_pass_s": bare.median_s,
            "coda_version_s": version.median_s,
            "version_ratio": version.median_s / bare.median_s,
        }
        figures.update(headless_figures(args.runs, coda, repo, root / "home"))
        figures["two_turn_vs_python_ratio"] = figures["two_turn_wall_s"] / bare.median_s
        stdlib = Path(os.__file__).parent
        figures.update(grep_figures(max(3, args.runs // 3), stdlib))
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
