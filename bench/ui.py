"""The interactive terminal's figures (issue 5), measured in one run so that ratios are fair.

    python bench/ui.py [--runs N] [--turns N] [--json FILE]

- launch: `coda` on a pseudo-terminal until its input prompt is drawn, against bare
  `python3 -c pass` started the same way, in the same run;
- render: CPU time to show a streamed 2,000-line markdown answer, against writing the
  same chunks unrendered; each in a fresh process, so rich's first import counts;
- memory: RSS of one process after N scripted turns through the real REPL object;
- interrupt: Esc to the prompt being drawn again, during a streaming reply and during
  a Bash `sleep 30`, on a pseudo-terminal against the real `coda`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import compile_coda, report, scripted_server  # noqa: E402

sys.path.insert(0, str(ROOT / "src"))

from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.fakes.script import Reply, Text, ToolUse  # noqa: E402

# The status line under the prompt, at 100 columns, once the session is built; before
# that (providers still loading in a thread) it says "starting…" and keys already work.
READY = b"of context"
INPUT_READY = (b"starting", READY)
CPR_REQUEST, CPR_ANSWER = b"\x1b[6n", b"\x1b[1;1R"


# ---------------------------------------------------------------- a pseudo-terminal


class Pty:
    """A child on a 100x30 pseudo-terminal that answers cursor-position requests."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.output = b""

    def wait_for(
        self, marker: bytes | tuple[bytes, ...], *, after: int = 0, timeout: float = 20.0
    ) -> float:
        """Seconds from start until `marker` (or any of several) appears past `after`."""
        markers = marker if isinstance(marker, tuple) else (marker,)
        deadline = time.perf_counter() + timeout
        while not any(m in self.output[after:] for m in markers):
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"{marker!r} did not appear: {self.output[-400:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                raise TimeoutError(f"the child ended: {self.output[-400:]!r}") from None
            if CPR_REQUEST in data:
                os.write(self.fd, CPR_ANSWER)
            self.output += data
        return time.perf_counter() - self.started

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def coda_env(home: Path, base_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(
        HOME=str(home),
        CODA_CONFIG_DIR=str(home / "config"),
        CODA_DATA_DIR=str(home / "data"),
        ANTHROPIC_API_KEY="bench",
        ANTHROPIC_BASE_URL=base_url,
        PYTHONPATH=str(ROOT / "src"),
        LANG="C.UTF-8",
        TERM="xterm-256color",
    )
    env.pop("NO_COLOR", None)
    return env


# ---------------------------------------------------------------- launch


def launch_figures(runs: int, repo: Path, home: Path) -> dict[str, Any]:
    env = coda_env(home)
    coda = [sys.executable, "-m", "coda"]
    bare = [sys.executable, "-c", "import os; os.write(1, b'of context')"]
    coda_s: list[float] = []
    session_s: list[float] = []
    bare_s: list[float] = []
    for _ in range(runs):  # interleaved, so both see the same machine load
        term = Pty(bare, env, repo)
        try:
            bare_s.append(term.wait_for(READY))
        finally:
            term.close()
        term = Pty(coda, env, repo)
        try:
            coda_s.append(term.wait_for(INPUT_READY))
            session_s.append(term.wait_for(READY))
        finally:
            term.close()
    launch, python = statistics.median(coda_s), statistics.median(bare_s)
    return {
        "launch_to_prompt_s": launch,
        "launch_to_session_ready_s": statistics.median(session_s),
        "launch_python_c_pass_s": python,
        "launch_ratio": launch / python,
    }


# ---------------------------------------------------------------- rendering


def markdown_answer(lines: int = 2000) -> str:
    out: list[str] = []
    i = 0
    while len(out) < lines:
        i += 1
        out += [
            f"## Step {i}",
            "",
            f"This is paragraph {i}: it has **bold**, `code`, _emphasis_ and a "
            f"[link](https://example.com/{i}), and it runs on long enough to wrap once.",
            "",
            "- a list item with `inline code`",
            "- a second item",
            "  - a nested item",
            "",
            "```python",
            f"def step_{i}(values: list[int]) -> int:",
            "    # add them up",
            f"    return sum(v * {i} for v in values)",
            "```",
            "",
            "| name | value |",
            "|------|-------|",
            f"| step | {i} |",
            "",
            "Plain prose with no markup at all, the most common kind of line in an answer.",
            "",
        ]
    return "\n".join(out[:lines]) + "\n"


def render_child(mode: str) -> None:
    """Stream the answer in ~4-character deltas (a token each) to /dev/null; print CPU s."""
    text = markdown_answer()
    deltas = [text[i : i + 4] for i in range(0, len(text), 4)]
    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    started = time.process_time()
    if mode == "raw":
        for delta in deltas:
            sink.write(delta)
            sink.flush()
    else:
        from coda.messages import TextBlock, Usage
        from coda.providers.base import BlockStart, BlockStop, MessageStart, TextDelta
        from coda.ui.glyphs import UNICODE
        from coda.ui.screen import Screen
        from coda.ui.view import TerminalView

        screen = Screen(sink, color=True, glyphs=UNICODE, width=100, force_terminal=True)
        view = TerminalView(screen, cwd=ROOT)
        view.begin_turn()
        view.stream_event(MessageStart("msg", "model", Usage()))
        view.stream_event(BlockStart(0, TextBlock("")))
        for delta in deltas:
            view.stream_event(TextDelta(0, delta))
        view.stream_event(BlockStop(0))
        view.end_turn()
    sink.flush()
    print(json.dumps({"cpu_s": time.process_time() - started, "deltas": len(deltas)}))


def render_figures(runs: int) -> dict[str, Any]:
    def cpu(mode: str) -> float:
        proc = subprocess.run(
            [sys.executable, __file__, "--render-child", mode],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        return float(json.loads(proc.stdout)["cpu_s"])

    rendered = statistics.median(cpu("rendered") for _ in range(runs))
    raw = statistics.median(cpu("raw") for _ in range(runs))
    return {
        "render_2000_lines_cpu_s": rendered,
        "print_2000_lines_raw_cpu_s": raw,
        "render_budget_s": 1.5 * raw + 0.5,
    }


# ---------------------------------------------------------------- memory


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_figures(turns: int, repo: Path, home: Path) -> dict[str, Any]:
    """Drive the real Repl in this process; the model server runs in its own process."""
    script = home / "script.json"
    answer = "Here is what I found:\n\n- a point\n- another\n\n```py\nx = 1\n```\n"
    items: list[Any] = [answer] * 9 + [
        {"blocks": [{"type": "tool_use", "name": "Read", "input": {"file_path": "README.md"}}]},
        answer,
    ]
    with scripted_server(items, script) as url:
        return asyncio.run(_turns(turns, repo, coda_env(home, url)))


async def _turns(turns: int, repo: Path, env: dict[str, str]) -> dict[str, Any]:
    from coda.ui.glyphs import UNICODE
    from coda.ui.repl import Repl
    from coda.ui.screen import Screen
    from coda.wiring import RunOptions

    sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    screen = Screen(sink, color=True, glyphs=UNICODE, width=100, force_terminal=True)
    repl = Repl(RunOptions(), env=env, cwd=repo, screen=screen, stdin_fd=None)
    after_first = 0.0
    started = time.perf_counter()
    for turn in range(turns):
        await repl.handle(f"question number {turn}: what does this do?")
        if turn == 0:
            after_first = rss_mib()
    seconds = time.perf_counter() - started
    messages = len(repl.session.transcript)
    await repl.close()
    import resource

    return {
        "turns": turns,
        "turns_wall_s": seconds,
        "transcript_messages": messages,
        "rss_after_first_turn_mib": after_first,
        f"rss_after_{turns}_turns_mib": rss_mib(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# ---------------------------------------------------------------- interrupts


def interrupt_figures(runs: int, repo: Path, home: Path) -> dict[str, Any]:
    streaming: list[float] = []
    bash: list[float] = []
    long_reply = [Text(f"Paragraph {i} of a long answer.\n\n") for i in range(60)]
    with ModelServer() as server:
        env = coda_env(home, server.anthropic_base_url)
        argv = [sys.executable, "-m", "coda", "--allowedTools", "Bash(sleep:*)"]
        for _ in range(runs):
            server.enqueue(
                Reply(long_reply, chunk_delay=0.05),
                Reply([ToolUse("Bash", {"command": "sleep 30"})]),
            )
            term = Pty(argv, env, repo)
            try:
                term.wait_for(READY)
                term.write(b"stream\r")
                term.wait_for(b"Paragraph 2 of")
                streaming.append(_esc_to_prompt(term))
                term.write(b"run it\r")
                term.wait_for(b"Running Bash", after=len(term.output))
                time.sleep(0.3)  # `sleep 30` has started
                bash.append(_esc_to_prompt(term))
            finally:
                term.close()
        server.violations.clear()  # the bench ends sessions mid-turn on purpose
    return {
        "interrupt_streaming_median_s": statistics.median(streaming),
        "interrupt_streaming_max_s": max(streaming),
        "interrupt_bash_median_s": statistics.median(bash),
        "interrupt_bash_max_s": max(bash),
    }


def _esc_to_prompt(term: Pty) -> float:
    mark = len(term.output)
    sent = time.perf_counter()
    term.write(b"\x1b")
    term.wait_for(READY, after=mark, timeout=10)
    return time.perf_counter() - sent


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--render-child", choices=["raw", "rendered"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.render_child:
        render_child(args.render_child)
        return 0
    compile_coda()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = root / "repo"
        repo.mkdir()
        (repo / "README.md").write_text("# demo\nA calculator.\n")
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        home = root / "home"
        home.mkdir()
        figures.update(launch_figures(args.runs, repo, home))
        figures.update(render_figures(max(3, args.runs // 2)))
        figures.update(interrupt_figures(max(3, args.runs // 2), repo, home))
        figures.update(memory_figures(args.turns, repo, home))
    report(figures, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
