"""kill -9 at random points of a scripted 20-turn session, 100 times: `coda --continue`
must resume from a valid transcript every time (the model server checks every request)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Delay, Item, Reply, Respond, Text, Thinking, ToolUse
from tests.helpers import anthropic_env, run_coda

TURNS = 20
RUNS = 100
RESUME_WORD = "RESUMED"


def _last_user_text(body: dict[str, Any]) -> str:
    last = body["messages"][-1]
    content = last["content"]
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content if b.get("type") == "text")


def scripted_model(body: dict[str, Any]) -> Item:
    """Twenty tool-using steps, then an answer; after a resume, an answer at once."""
    if RESUME_WORD in _last_user_text(body):
        return Reply("Resumed where we were.")
    step = sum(1 for m in body["messages"] if m["role"] == "assistant")
    if step >= TURNS:
        return Reply("All twenty steps done.")
    if step % 2:
        call = ToolUse("Write", {"file_path": f"step{step}.txt", "content": f"step {step}\n"})
    else:
        call = ToolUse("Bash", {"command": f"echo {step} >> steps.log"})
    return Delay(0.01, Reply([Thinking(f"step {step}"), Text(f"Step {step}."), call]))


def _one_run(server: ModelServer, base: Path, i: int, delay: float) -> str:
    repo = base / f"repo{i}"
    repo.mkdir()
    env = anthropic_env(server, base / "home")
    args = [
        sys.executable, "-m", "coda", "-p", "do the twenty steps",
        "--permission-mode", "acceptEdits", "--allowedTools", "Bash(echo:*)",
        "--thinking-budget", "2000", "--model", "claude-3-7-sonnet-20250219",
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    project = base / "home" / "data" / "projects" / str(repo).replace("/", "-")
    if i % 5:
        # Most kills land inside the session: the clock starts at its first record, so a
        # slow machine does not turn them all into kills during start-up.
        deadline = time.monotonic() + 20
        while not list(project.glob("*.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    mine = list(project.glob("*.jsonl"))
    run = run_coda(
        ["-c", "-p", f"{RESUME_WORD}: carry on", "--model", "claude-3-7-sonnet-20250219"],
        cwd=repo,
        env=env,
        timeout=60,
    )
    if not mine:
        # Killed before the first record: nothing to continue, and coda says so.
        assert run.code == 2 and "no earlier session" in run.stderr, run.stderr
        return "nothing yet"
    assert run.code == 0, f"run {i} (killed after {delay:.2f}s): {run.stderr}"
    assert "Resumed where we were." in run.stdout
    return "resumed"


def test_kill_nine_at_random_points_then_continue(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    # Every fifth run is killed at a random time from its start, start-up included.
    delays = [rng.uniform(0.0, 1.0) if i % 5 else rng.uniform(0.05, 1.6) for i in range(RUNS)]
    (tmp_path / "home").mkdir()
    with ModelServer(repeat=True) as server:
        server.enqueue(Respond(scripted_model))
        workers = max(2, (os.cpu_count() or 2) * 2)
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(lambda a: _one_run(server, tmp_path, *a), enumerate(delays)))
        # A kill in the middle of sending a request leaves the server half a body: that
        # is the crash itself, not a broken transcript. Every other rule must hold.
        server.violations[:] = [
            v for v in server.violations if "request body is not a JSON object" not in v
        ]
        server.assert_clean()  # pairing and verbatim thinking held in every request
    resumed = outcomes.count("resumed")
    # Most kills land mid-session; the test is only meaningful if they do.
    assert resumed >= RUNS * 0.75, outcomes
    report = {"resumed": resumed, "before any record": outcomes.count("nothing yet")}
    print(json.dumps(report))
