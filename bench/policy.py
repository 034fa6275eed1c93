"""Time the whole permission check of one Bash command, as the loop pays it.

    python bench/policy.py [--rounds 5]

analyse() alone is in bench/analysis.py; this adds rule matching, path checks and the
suggested rule, over the benign and dangerous corpora.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.permissions.corpus import BENIGN, DANGEROUS  # noqa: E402

from coda.messages import ToolUseBlock  # noqa: E402
from coda.permissions.paths import Workspace  # noqa: E402
from coda.permissions.policy import PolicyConfig, RulePolicy  # noqa: E402
from coda.permissions.prompter import NeverAsk  # noqa: E402
from coda.permissions.rules import parse_rule  # noqa: E402
from coda.tools.base import ToolContext  # noqa: E402
from coda.tools.registry import builtin_tools  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    bash = next(t for t in builtin_tools() if t.name == "Bash")
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        config = PolicyConfig(
            mode="default",
            workspace=Workspace([repo]),
            allow=[parse_rule("Bash(npm test:*)"), parse_rule("Bash(make)")],
            deny=[parse_rule("Bash(rm -rf:*)")],
        )
        policy = RulePolicy(config, ToolContext(cwd=repo), NeverAsk(), headless=True)
        commands = [c.replace("SENTINEL", f"{tmp}/s") for c in (*BENIGN, *DANGEROUS)]
        started = time.perf_counter()
        policy.evaluate(bash, ToolUseBlock("t", "Bash", {"command": "ls"}))
        cold = time.perf_counter() - started
        samples = []
        for _ in range(args.rounds):
            for command in commands:
                call = ToolUseBlock("t", "Bash", {"command": command})
                started = time.perf_counter()
                policy.evaluate(bash, call)
                samples.append(time.perf_counter() - started)
    samples.sort()
    print(f"{'commands':<22} {len(commands)}")
    print(f"{'cold_first_check_ms':<22} {cold * 1000:.2f}")
    print(f"{'median_ms':<22} {statistics.median(samples) * 1000:.3f}")
    print(f"{'p95_ms':<22} {samples[int(len(samples) * 0.95)] * 1000:.3f}")
    print(f"{'target_median_ms':<22} 5.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
