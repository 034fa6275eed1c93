"""`coda -p` as a person sees it: on a terminal, interrupted, misconfigured, and `coda doctor`."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.fakes.model_server import ModelServer
from tests.fakes.script import Delay, HTTPFault, Reply, Text, Thinking
from tests.helpers import anthropic_env, clean_env, run_coda

DIM = "\x1b[2m"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("alpha\n")
    return root


def test_thinking_streams_dimmed_on_a_terminal(
    model_server: ModelServer, repo: Path, home: Path
) -> None:
    model_server.enqueue(Reply([Thinking("weighing the options"), Text("The answer.")]))
    env = anthropic_env(model_server, home)
    env.pop("NO_COLOR")
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "coda",
            "-p",
            "q",
            "--thinking-budget",
            "2048",
            "--model",
            "claude-3-7-sonnet-20250219",
        ],
        cwd=str(repo),
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before or ""
    assert child.exitstatus == 0, screen
    plain = re.sub(r"\x1b\[[0-9;]*m", "", screen)
    assert "weighing the options" in plain
    assert plain.index("weighing the options") < plain.index("The answer.")
    # The thinking is dimmed and the answer is not: the last code before it is a reset.
    before_answer = screen[: screen.index("The answer.")]
    assert DIM in before_answer
    assert before_answer.rindex("\x1b[0m") > before_answer.rindex(DIM)


def test_no_color_on_a_terminal(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Reply([Thinking("hmm"), Text("Plain.")]))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "coda", "-p", "think", "--model", "claude-3-7-sonnet-20250219"],
        cwd=str(repo),
        env=anthropic_env(model_server, home),  # NO_COLOR=1
        encoding="utf-8",
        timeout=30,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b[" not in (child.before or "") and "Plain." in (child.before or "")


def test_ctrl_c_mid_turn_exits_cleanly(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(Delay(30, Reply("too late")))
    proc = subprocess.Popen(
        [sys.executable, "-m", "coda", "-p", "slow question"],
        cwd=repo,
        env=anthropic_env(model_server, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not model_server.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert model_server.requests, "coda never sent its request"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert out == ""


def test_bad_key_says_what_to_do(repo: Path, home: Path) -> None:
    with ModelServer(require_key="right-key") as server:
        env = anthropic_env(server, home)
        run = run_coda(["-p", "hi", "--output-format", "json"], cwd=repo, env=env)
        assert len(server.requests) == 1, "an authentication error must not be retried"
    assert run.code == 1
    out = run.json()
    assert out["is_error"] is True and "401" in out["result"]
    assert "Check the API key" in out["result"]


def test_text_mode_error_goes_to_stderr(model_server: ModelServer, repo: Path, home: Path) -> None:
    model_server.enqueue(*[HTTPFault(500)] * 2)
    env = anthropic_env(model_server, home, CODA_MAX_RETRIES="1")
    run = run_coda(["-p", "hi"], cwd=repo, env=env)
    assert run.code == 1 and run.stdout == ""
    assert "HTTP 500" in run.stderr and "try again in a few minutes" in run.stderr


def test_doctor_command(model_server: ModelServer, repo: Path, home: Path) -> None:
    ok = run_coda(["doctor"], cwd=repo, env=anthropic_env(model_server, home))
    assert ok.code == 0, ok.stdout + ok.stderr
    assert "ripgrep" in ok.stdout and model_server.url in ok.stdout
    assert "test-key" not in ok.stdout
    bad = run_coda(["doctor"], cwd=repo, env=clean_env(home))
    assert bad.code == 1
    assert "ANTHROPIC_API_KEY" in bad.stdout
