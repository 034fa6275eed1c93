"""Shell-analysis figures: the time to analyse a command line and judge its commands against the
read-only list, over the permission corpus, warm and cold.

    python bench/analysis.py [--rounds 20] [--json FILE]

Warm figures are per command line: `analyse()` plus `read_only_reason()` for every command it
lists, the grammar already loaded. The cold figure is the first call in a fresh interpreter,
which imports tree-sitter and loads the Bash grammar; it is measured in a child process so that
nothing this script imported first can hide it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.permissions.corpus

from bench.common import compile_coda  # noqa: E402
from tests.permissions.corpus import BENIGN, DANGEROUS  # noqa: E402

from coda.permissions.readonly import read_only_reason  # noqa: E402
from coda.permissions.shell_analysis import analyse  # noqa: E402

_COLD = """
import time
started = time.perf_counter()
from coda.permissions.shell_analysis import analyse
from coda.permissions.readonly import read_only_reason
imported = time.perf_counter()
for cmd in analyse("git log --oneline | head -20").commands:
    read_only_reason(cmd)
done = time.perf_counter()
print(imported - started, done - imported)
"""


def judge(line: str) -> None:
    for cmd in analyse(line).commands:
        read_only_reason(cmd)


def warm(lines: list[str], rounds: int) -> list[float]:
    judge("ls")  # load the grammar
    samples: list[float] = []
    for _ in range(rounds):
        for line in lines:
            started = time.perf_counter()
            judge(line)
            samples.append(time.perf_counter() - started)
    return samples


def cold(runs: int) -> tuple[float, float]:
    """Median (import of the modules, first call) in fresh interpreters."""
    compile_coda()
    imports, calls = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _COLD], capture_output=True, text=True, check=True
        ).stdout.split()
        imports.append(float(out[0]))
        calls.append(float(out[1]))
    return statistics.median(imports), statistics.median(calls)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    lines = DANGEROUS + BENIGN
    samples = warm(lines, args.rounds)
    longest = max(lines, key=len)
    long_samples = warm([longest], 200)
    import_s, first_call_s = cold(args.cold_runs)
    figures = {
        "lines": len(lines),
        "samples": len(samples),
        "warm_median_ms": statistics.median(samples) * 1000,
        "warm_p95_ms": percentile(samples, 0.95) * 1000,
        "warm_max_ms": max(samples) * 1000,
        "longest_line_chars": len(longest),
        "longest_line_median_ms": statistics.median(long_samples) * 1000,
        "cold_module_import_ms": import_s * 1000,
        "cold_first_call_ms": first_call_s * 1000,
    }
    for name, value in figures.items():
        print(f"{name:26} {value:10.3f}" if isinstance(value, float) else f"{name:26} {value:6}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
