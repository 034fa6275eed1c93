"""What the sandbox costs a command: `true` through the Bash tool, sandboxed and not.

    python bench/sandbox.py [--runs N] [--json FILE]

The runs are interleaved (plain, sandboxed, sandboxed with an allowlist, plain, ...) so that
load on a noisy machine falls on all three alike; the figures are medians of wall time per
Bash call, measured in process as the agent makes them. Target (issue 4): the median overhead
of the default sandbox (no network) is at most 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from coda.permissions.sandbox import BubblewrapSandbox  # noqa: E402
from coda.tools.base import ToolContext  # noqa: E402
from coda.tools.bash import BashTool  # noqa: E402

TARGET_MS = 30.0


async def measure(runs: int, workspace: Path) -> dict[str, Any]:
    bash = BashTool()
    contexts = {
        "plain": ToolContext(cwd=workspace),
        "sandboxed": ToolContext(cwd=workspace, sandbox=BubblewrapSandbox([workspace])),
        "sandboxed_with_allowlist": ToolContext(
            cwd=workspace, sandbox=BubblewrapSandbox([workspace], allowed_domains=["pypi.org"])
        ),
    }
    for ctx in contexts.values():
        if ctx.sandbox is not None:
            ctx.resources["sandbox"] = ctx.sandbox  # type: ignore[assignment]
    walls: dict[str, list[float]] = {name: [] for name in contexts}
    try:
        for i in range(runs + 3):
            for name, ctx in contexts.items():
                started = time.perf_counter()
                out = await bash.run({"command": "true"}, ctx)
                elapsed = time.perf_counter() - started
                if out.is_error or out.content[0].text != "(no output)":  # type: ignore[union-attr]
                    raise SystemExit(f"{name}: `true` failed: {out.content}")
                if i >= 3:  # the first runs warm caches and start the proxy
                    walls[name].append(elapsed)
    finally:
        for ctx in contexts.values():
            await ctx.aclose()
    medians = {name: statistics.median(values) * 1000 for name, values in walls.items()}
    return {
        "runs": runs,
        "plain_median_ms": round(medians["plain"], 2),
        "sandboxed_median_ms": round(medians["sandboxed"], 2),
        "sandboxed_with_allowlist_median_ms": round(medians["sandboxed_with_allowlist"], 2),
        "sandbox_overhead_ms": round(medians["sandboxed"] - medians["plain"], 2),
        "allowlist_overhead_ms": round(medians["sandboxed_with_allowlist"] - medians["plain"], 2),
        "target_overhead_ms": TARGET_MS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    problem = BubblewrapSandbox.check()
    if problem is not None:
        print(f"cannot measure: {problem}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="coda-bench-sandbox-") as tmp:
        workspace = Path(tmp).resolve() / "ws"
        workspace.mkdir()
        figures = asyncio.run(measure(args.runs, workspace))
    for name, value in figures.items():
        print(f"{name:38} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["sandbox_overhead_ms"] <= TARGET_MS else 2


if __name__ == "__main__":
    sys.exit(main())
