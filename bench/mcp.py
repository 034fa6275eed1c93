"""MCP start-up figures (issue 7), each measured against a run without servers in one go.

    python bench/mcp.py [--runs 7] [--json FILE]

- no_servers_imports_sdk: whether a headless run with no MCP server configured imports the
  SDK at all (python -X importtime of a real `coda -p` run); the target is that it does not,
  so the extra start-up time is the config lookup alone (`has_servers_us`, measured in process).
- first_request_*: wall time from spawning `coda -p` to the fake model server receiving the
  first request, with 3 stdio servers (the npm reference server, `everything`) configured
  and with none; medians over the runs, and the differences. `cached`: the servers' tool
  lists are known from an earlier run (every run after the first), so the request goes out
  while they start; `first_run`: no list yet (cache removed), so it waits for them.
- never_answers_*: a server that reads its stdin and never answers initialize, with
  MCP_TIMEOUT=2000: the run still reaches the model, and how long after the timeout.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import ROOT, compile_coda, report

sys.path.insert(0, str(ROOT))

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply
from tests.helpers import anthropic_env

EVERYTHING = ROOT / "tests" / "mcp" / "npm" / "node_modules" / ".bin" / "mcp-server-everything"
SILENT = [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"]


def first_request_s(server: ModelServer, repo: Path, env: dict[str, str], args: list[str]) -> float:
    """Seconds from spawning coda to the model server receiving its first request."""
    before = len(server.requests)
    server.enqueue(Reply("ok"))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "coda", "-p", "hi", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise SystemExit(f"coda failed: {proc.stderr}")
    return server.requests[before].at - started


def sdk_imported(repo: Path, env: dict[str, str], server: ModelServer) -> bool:
    server.enqueue(Reply("ok"))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "coda", "-p", "hi"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    return any(m == "mcp" or m.startswith(("mcp.", "mcp_types")) for m in modules)


def has_servers_us(repo: Path, env: dict[str, str]) -> float:
    from coda.mcp.config import has_servers

    runs = 2_000
    started = time.perf_counter()
    for _ in range(runs):
        has_servers(repo, env)
    return (time.perf_counter() - started) / runs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not EVERYTHING.exists():
        raise SystemExit("run `npm ci --prefix tests/mcp/npm` first")
    compile_coda()
    servers = {f"e{i}": {"command": "node", "args": [str(EVERYTHING), "stdio"]} for i in range(3)}
    three = ["--mcp-config", json.dumps({"mcpServers": servers})]
    silent = [
        "--mcp-config",
        json.dumps({"mcpServers": {"silent": {"command": SILENT[0], "args": SILENT[1:]}}}),
    ]
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ModelServer() as server:
        root = Path(tmp)
        repo, home = root / "repo", root / "home"
        repo.mkdir()
        home.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        env = anthropic_env(server, home, CODA_CHECKPOINTS="0")
        figures["no_servers_imports_sdk"] = sdk_imported(repo, env, server)
        figures["has_servers_us"] = has_servers_us(repo, env)
        first_request_s(server, repo, env, three)  # warm the disk cache and node
        none: list[float] = []
        cold: list[float] = []
        warm: list[float] = []
        for _ in range(args.runs):  # interleaved, so load drifts hit all alike
            none.append(first_request_s(server, repo, env, []))
            shutil.rmtree(home / "data" / "mcp-cache", ignore_errors=True)
            cold.append(first_request_s(server, repo, env, three))
            warm.append(first_request_s(server, repo, env, three))
        base = statistics.median(none)
        figures["first_request_no_servers_s"] = base
        figures["first_request_3_stdio_cached_s"] = statistics.median(warm)
        figures["first_request_3_stdio_cached_extra_s"] = statistics.median(warm) - base
        figures["first_request_3_stdio_first_run_s"] = statistics.median(cold)
        figures["first_request_3_stdio_first_run_extra_s"] = statistics.median(cold) - base
        slow_env = {**env, "MCP_TIMEOUT": "2000"}
        figures["never_answers_first_request_s"] = first_request_s(server, repo, slow_env, silent)
        figures["never_answers_after_timeout_s"] = figures["never_answers_first_request_s"] - 2.0
    report(figures, args.json)


if __name__ == "__main__":
    main()
