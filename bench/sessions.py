"""Session figures: the prompt cache over a 30-turn session, what the transcript costs a
turn, and resuming a 1,000-turn transcript.

    python bench/sessions.py [--runs N] [--verbose] [--json FILE]

Three measurements in one run (about 30 s here):

1. A scripted 30-prompt session, driven in process as the terminal UI drives it
   (`wire_session`, then `session.submit` per prompt), against the fake model server with
   its Anthropic prompt-cache accounting. Every turn calls one or two tools (Read, Grep,
   Bash `ls`) on a small generated repository. Figure: cache reads over all input tokens.
2. `SessionLog.sync()` and `end_turn()` (the fsync) timed directly over 200 realistic turns.
3. A generated 1,000-turn transcript: `coda.transcript.sessions.load()` in process, and
   `coda -c -p hi` against `coda -p hi` on an empty data directory, both as subprocesses.

See bench/README.md for the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from bench.common import compile_coda, report  # noqa: E402
from tests.fakes.model_server import ModelServer, Recorded  # noqa: E402
from tests.fakes.script import Reply, Text, ToolUse  # noqa: E402
from tests.helpers import anthropic_env, clean_env  # noqa: E402

from coda.messages import (  # noqa: E402
    AssistantMessage,
    Message,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    UserMessage,
    user_text,
)
from coda.transcript.log import SessionLog  # noqa: E402
from coda.transcript.sessions import load  # noqa: E402
from coda.transcript.store import transcript_path  # noqa: E402

TARGET_CACHE_READ_SHARE = 0.90
TARGET_WRITE_MEDIAN_MS = 2.0
TARGET_RESUME_S = 0.5
MODEL = "sonnet"
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "iota", "kappa", "lambda"]


def _prose(rnd: random.Random, chars: int) -> str:
    words: list[str] = []
    size = 0
    while size < chars:
        word = rnd.choice(WORDS)
        words.append(word)
        size += len(word) + 1
    return " ".join(words)


# -- 1. the prompt cache over a 30-turn session


def make_repo(root: Path, modules: int) -> Path:
    """A git repository of `modules` Python files of 3–5 KB each, and a README."""
    rnd = random.Random(1)
    repo = root / "repo"
    pkg = repo / "src" / "pkg"
    pkg.mkdir(parents=True)
    (repo / "README.md").write_text("# pkg\n\nHandlers for the demo service.\n")
    for k in range(modules):
        lines = [f'"""Module {k}: handlers and their helpers."""', ""]
        for j in range(rnd.randint(6, 10)):
            name = f"handler_{k}" if j == 0 else f"helper_{k}_{j}"
            lines += [
                f"def {name}(request, *, retries={j}):",
                f'    """{_prose(rnd, 70)}."""',
                f"    items = [x for x in request.items if x.kind == {WORDS[j]!r}]",
                "    for item in items:",
                f"        item.weight = item.weight * {j + 1} + len(item.name)",
                f"    return sorted(items, key=lambda x: x.weight)[:{j + 5}]",
                "",
            ]
        (pkg / f"mod{k:02d}.py").write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def turn_script(k: int, rnd: random.Random) -> list[Reply]:
    """The model's replies for prompt `k`: one or two tool calls, then the answer."""
    module = f"src/pkg/mod{k:02d}.py"
    answer = Reply(f"handler_{k} filters the request's items and sorts them. {_prose(rnd, 500)}")
    if k % 3 == 0:
        read = ToolUse("Read", {"file_path": module})
        return [Reply([Text(f"I'll read {module}."), read]), answer]
    if k % 3 == 1:
        grep = {"pattern": f"def handler_{k}\\b", "output_mode": "content", "-n": True}
        return [
            Reply([ToolUse("Grep", grep)]),
            Reply([Text("Found it."), ToolUse("Read", {"file_path": module})]),
            answer,
        ]
    calls = [ToolUse("Bash", {"command": "ls -la src/pkg"}), ToolUse("Read", {"file_path": module})]
    return [Reply([Text("Let me look around."), *calls]), answer]


class Quiet:
    """An observer that shows nothing: the figures come from the server's records."""

    def stream_event(self, event: object) -> None:
        pass

    def message(self, message: object) -> None:
        pass

    def tool_done(self, name: str, output: object, is_error: bool) -> None:
        pass


async def drive(env: dict[str, str], repo: Path, prompts: list[str]) -> tuple[Usage, list[int]]:
    """Run the prompts in one session; returns its usage totals and, per prompt, how many
    requests the server had seen when it finished."""
    from coda.permissions.prompter import NeverAsk
    from coda.wiring import RunOptions, wire_session

    wired = wire_session(
        RunOptions(model=MODEL, allowed=("Bash(ls:*)",)),
        env=env,
        cwd=repo,
        observer=Quiet(),
        prompter=NeverAsk(),
        record=lambda _decision: None,
        headless=True,
    )
    session = wired.session
    marks: list[int] = []
    try:
        for prompt in prompts:
            result = await session.submit(prompt)
            if result.subtype != "success":
                raise SystemExit(f"turn {prompt!r} failed: {result.error}")
            marks.append(session.totals.requests)
        errors = [
            block
            for message in session.transcript
            if isinstance(message, UserMessage)
            for block in message.content
            if isinstance(block, ToolResultBlock) and block.is_error
        ]
        if errors:
            raise SystemExit(f"a tool call failed: {errors[0].text}")
    finally:
        if session.log is not None:
            session.log.close()
        await session.tool_ctx.aclose()
        await wired.setup.provider.aclose()
    return session.totals.usage, marks


def cache_figures(root: Path, turns: int, verbose: bool) -> dict[str, Any]:
    repo = make_repo(root, turns)
    rnd = random.Random(2)
    prompts = [
        f"Prompt {k + 1}: what does handler_{k} do, and what calls it? {_prose(rnd, 80)}"
        for k in range(turns)
    ]
    with ModelServer(cache=True) as server:
        for k in range(turns):
            server.enqueue(*turn_script(k, rnd))
        env = anthropic_env(server, root / "home-cache")
        totals, marks = asyncio.run(drive(env, repo, prompts))
        server.assert_clean()
        usages = [s.usage for s in server.sent]
        requests = list(server.requests)
    read = sum(u.cache_read_input_tokens for u in usages)
    written = sum(u.cache_creation_input_tokens for u in usages)
    plain = sum(u.input_tokens for u in usages)
    if (read, written, plain) != (
        totals.cache_read_input_tokens,
        totals.cache_creation_input_tokens,
        totals.input_tokens,
    ):
        raise SystemExit(f"the session's totals {totals} differ from what the server sent")
    if verbose:
        print_breakdown(requests, usages, marks)
    return {
        "cache_turns": turns,
        "cache_requests": len(usages),
        "cache_input_tokens": plain,
        "cache_creation_tokens": written,
        "cache_read_tokens": read,
        "cache_read_share": read / (plain + written + read),
    }


def print_breakdown(requests: list[Recorded], usages: list[Any], marks: list[int]) -> None:
    """Per request: its turn, size, where the breakpoints sit, and what the cache did."""
    print(f"{'req':>4} {'turn':>4} {'msgs':>4} {'marks':>14} {'input':>7} {'write':>7} {'read':>7}")
    turn = 0
    for i, (request, usage) in enumerate(zip(requests, usages, strict=True)):
        while turn < len(marks) and i >= marks[turn]:
            turn += 1
        messages = request.body["messages"]
        marks_at = [
            j
            for j, m in enumerate(messages)
            if isinstance(m["content"], list) and m["content"][-1].get("cache_control")
        ]
        print(
            f"{i:>4} {turn + 1:>4} {len(messages):>4} {marks_at!s:>14} "
            f"{usage.input_tokens:>7} {usage.cache_creation_input_tokens:>7} "
            f"{usage.cache_read_input_tokens:>7}"
        )


# -- 2. the transcript's cost per turn


def write_figures(root: Path, turns: int) -> dict[str, Any]:
    """Time what the session pays the transcript in one turn: a sync after each message
    (prompt, reply with a tool call, a 5 KB tool result, the answer) and the fsync."""
    rnd = random.Random(3)
    log = SessionLog(root / "write.jsonl", session_id="bench", cwd=root, model="bench")
    messages: list[Message] = []
    per_turn: list[float] = []
    fsyncs: list[float] = []

    def timed(fn: Callable[[], None]) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    for k in range(turns):
        spent = 0.0
        prompt = user_text(f"Turn {k}: {_prose(rnd, 120)}")
        log.mark_prompt(prompt, prompt.content[0].text)  # type: ignore[union-attr]
        call = ToolUseBlock(f"toolu_{k:06d}", "Read", {"file_path": f"src/mod{k}.py"})
        turn_messages: list[Message] = [
            prompt,
            _reply([TextBlock("Reading it."), call], rnd),
            UserMessage([ToolResultBlock(call.id, [TextBlock(_prose(rnd, 5_000))])]),
            _reply([TextBlock(_prose(rnd, 600))], rnd),
        ]
        for message in turn_messages:
            messages.append(message)
            spent += timed(lambda: log.sync(messages))
        fsync = timed(log.end_turn)
        fsyncs.append(fsync)
        per_turn.append(spent + fsync)
    log.close()
    per_turn.sort()
    return {
        "write_turns": turns,
        "write_turn_median_ms": statistics.median(per_turn) * 1000,
        "write_turn_p95_ms": per_turn[int(len(per_turn) * 0.95)] * 1000,
        "write_fsync_median_ms": statistics.median(fsyncs) * 1000,
    }


@functools.cache
def _model() -> tuple[str, int]:
    """The id and context window of the model `MODEL` names."""
    from coda.providers.catalog import resolve_model

    info = resolve_model(MODEL).info
    assert info is not None
    return info.id, info.context_window


def _reply(content: list[Any], rnd: random.Random, context: int = 20_000) -> AssistantMessage:
    stop = "tool_use" if any(isinstance(b, ToolUseBlock) for b in content) else "end_turn"
    message = AssistantMessage(content, id=f"msg_{rnd.getrandbits(64):016x}", stop_reason=stop)
    message.model = _model()[0]
    message.usage = Usage(3, 200, 1_500, context)
    return message


# -- 3. resuming a 1,000-turn transcript


def write_long_transcript(path: Path, cwd: Path, turns: int) -> tuple[int, int]:
    """A transcript as a session of `turns` prompts leaves it, compacted where coda's
    auto-compaction would have compacted it. Returns the size of the conversation at the
    end in tokens (what the last reply's usage reports) and the number of compactions."""
    from coda import compaction

    model, window = _model()
    rnd = random.Random(4)
    log = SessionLog(path, session_id=path.stem, cwd=cwd, model=model)
    messages: list[Message] = []
    prompts: list[str] = []
    system = 4_000  # the system prompt and tools
    context, compactions = system, 0
    for k in range(turns):
        prompt_text = f"Turn {k}: {_prose(rnd, 120)}"
        log.checkpoint(k + 1, None, prompt_text)
        prompt = user_text(prompt_text)
        log.mark_prompt(prompt, prompt_text)
        prompts.append(prompt_text)
        signature = base64.b64encode(rnd.randbytes(300)).decode()
        call = ToolUseBlock(f"toolu_{k:06d}", "Read", {"file_path": f"src/mod{k % 50}.py"})
        thinking = ThinkingBlock(_prose(rnd, 600), signature)
        result = ToolResultBlock(call.id, [TextBlock(_prose(rnd, 2_000))])
        turn = [prompt, _reply([thinking, TextBlock("Reading it."), call], rnd, context)]
        turn.append(UserMessage([result]))
        turn.append(_reply([TextBlock(_prose(rnd, 400))], rnd, context + 700))
        for message in turn:
            messages.append(message)
            log.sync(messages)
        log.snapshot(k + 1, f"{rnd.getrandbits(160):040x}")
        context += compaction.estimate_all(turn)
        if compaction.should_compact(context, window, 0.85):
            compactions += 1
            _compact(log, messages, prompts, model, window)
            context = system + compaction.estimate_all(messages)
    log.close()
    return context, compactions


def _compact(
    log: SessionLog, messages: list[Message], prompts: list[str], model: str, window: int
) -> None:
    """What Session.compact leaves in the transcript, with a made-up summary."""
    from coda import compaction

    cut = compaction.choose_cut(messages, keep_tokens=min(window // 7, 40_000))
    assert cut is not None
    tail_prompts = sum(1 for m in messages[cut:] if compaction.is_prompt(m))
    summary = "## Goal\nWork through the numbered turns.\n## Next step\nKeep going."
    log.usage(model, Usage(10, 2_000, 0, int(window * 0.85)))
    messages[:] = compaction.compacted(
        messages,
        cut,
        summary,
        prompts=prompts[: len(prompts) - tail_prompts],
        todos="",
        prompt_budget_tokens=min(window // 10, 25_000),
    )
    log.compaction(messages, prompts, "auto")
    log.end_turn()


def run_cli(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time of one run, and the API time coda reports for it."""
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr}")
    result = json.loads(proc.stdout)
    return wall, result["duration_api_ms"] / 1000


def resume_figures(root: Path, turns: int, runs: int) -> dict[str, Any]:
    coda = Path(sys.executable).with_name("coda")
    if not coda.exists():
        found = shutil.which("coda")
        if found is None:
            raise SystemExit("install coda first: pip install -e .")
        coda = Path(found)
    repo = root / "resume-repo"
    repo.mkdir()
    home = root / "home-resume"
    env_long = {**clean_env(home), "CODA_DATA_DIR": str(root / "data-long")}
    path = transcript_path(env_long, repo, "0bench00-0000-4000-8000-000000001000")
    context, compactions = write_long_transcript(path, repo, turns)

    loads = []
    for _ in range(runs):
        started = time.perf_counter()
        loaded = load(path)
        loads.append(time.perf_counter() - started)
    if loaded.session.turns != turns or loaded.warnings:
        raise SystemExit(f"the generated transcript reads back wrong: {loaded.warnings}")

    with ModelServer(repeat=True) as server:
        server.enqueue(Reply("Hello."))
        extra = {
            "ANTHROPIC_API_KEY": "bench",
            "ANTHROPIC_BASE_URL": server.anthropic_base_url,
            "CODA_CHECKPOINTS": "0",
        }
        env_long.update(extra)
        env_empty = {**clean_env(home), **extra, "CODA_DATA_DIR": str(root / "data-empty")}
        args = ["-p", "hi", "--model", MODEL, "--output-format", "json"]
        long_runs, empty_runs = [], []
        for _ in range(runs + 1):  # the first pair warms the page cache
            empty_runs.append(run_cli([str(coda), *args], cwd=repo, env=env_empty))
            long_runs.append(run_cli([str(coda), "-c", *args], cwd=repo, env=env_long))
        bodies = [r.body for r in server.requests]
    if len(bodies) != 2 * (runs + 1):
        raise SystemExit(f"expected one request per run, the server saw {len(bodies)}")
    resumed_body = max(bodies, key=lambda b: len(b["messages"]))
    empty_wall = statistics.median(w for w, _ in empty_runs[1:])
    long_wall = statistics.median(w for w, _ in long_runs[1:])
    empty_local = statistics.median(w - api for w, api in empty_runs[1:])
    long_local = statistics.median(w - api for w, api in long_runs[1:])
    return {
        "resume_turns": turns,
        "resume_transcript_mib": path.stat().st_size / 2**20,
        "resume_request_mib": len(json.dumps(resumed_body).encode()) / 2**20,
        "resume_compactions": compactions,
        "resume_context_tokens": context,
        "resume_load_s": statistics.median(loads),
        "resume_cli_empty_s": empty_wall,
        "resume_cli_continue_s": long_wall,
        "resume_cli_extra_s": long_wall - empty_wall,
        "resume_cli_extra_without_api_s": long_local - empty_local,
    }


# -- the run


# figure → (≥ or ≤, target)
TARGETS: Mapping[str, tuple[str, float]] = {
    "cache_read_share": ("≥", TARGET_CACHE_READ_SHARE),
    "write_turn_median_ms": ("≤", TARGET_WRITE_MEDIAN_MS),
    "resume_load_s": ("≤", TARGET_RESUME_S),
    "resume_cli_extra_s": ("≤", TARGET_RESUME_S),
}


def met(figures: Mapping[str, Any], key: str) -> bool:
    sign, target = TARGETS[key]
    value = float(figures[key])
    return value >= target if sign == "≥" else value <= target


def summary(figures: Mapping[str, Any], command: str) -> None:
    print(f"\n{command}")
    print(f"{'figure':<22} {'value':>9}  {'target':<8}  met")
    for key, (sign, target) in TARGETS.items():
        shown = f"{figures[key]:>9.4f}"
        print(f"{key:<22} {shown}  {sign} {target:<6}  {'yes' if met(figures, key) else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="repetitions of the resume timings")
    parser.add_argument("--turns", type=int, default=30, help="prompts in the cached session")
    parser.add_argument("--write-turns", type=int, default=200)
    parser.add_argument("--resume-turns", type=int, default=1_000)
    parser.add_argument("--verbose", action="store_true", help="print every request's cache use")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    compile_coda()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coda-bench-sessions-") as tmp:
        root = Path(tmp).resolve()
        started = time.perf_counter()
        figures.update(cache_figures(root, args.turns, args.verbose))
        figures.update(write_figures(root, args.write_turns))
        figures.update(resume_figures(root, args.resume_turns, args.runs))
        figures["bench_seconds"] = time.perf_counter() - started
    report(figures, args.json)
    summary(figures, "python bench/sessions.py " + " ".join(sys.argv[1:] if argv is None else argv))
    return 0 if all(met(figures, key) for key in TARGETS) else 2


if __name__ == "__main__":
    sys.exit(main())
