"""Command-line entry: parse arguments and hand off. Heavy imports wait until they are needed."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from coda import __version__

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass(slots=True)
class Deps:
    """Everything main() touches in the outside world, so tests can pass their own."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=Path.cwd)


def _tool_list(values: list[str] | None) -> frozenset[str]:
    """Tool names given as repeated flags, commas or spaces, as peers accept them."""
    names: set[str] = set()
    for value in values or []:
        names.update(part for part in value.replace(",", " ").split() if part)
    return frozenset(names)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coda",
        description="A terminal coding agent. Run `coda -p PROMPT` for an unattended run, "
        "or `coda doctor` to check the setup.",
        epilog="Commands: coda doctor (check providers, tools and paths).",
    )
    parser.add_argument("prompt", nargs="?", help="the prompt (read from stdin when absent)")
    parser.add_argument(
        "-p", "--print", action="store_true", help="run unattended and print the result"
    )
    parser.add_argument("--version", action="version", version=f"{__version__} (coda)")
    parser.add_argument("--output-format", choices=["text", "json", "stream-json"], default="text")
    parser.add_argument(
        "--model", help="provider/id, a catalog id, or an alias (sonnet, opus, haiku)"
    )
    parser.add_argument("--max-turns", type=int, help="stop after this many model replies")
    parser.add_argument("--system-prompt", help="replace coda's system prompt")
    parser.add_argument("--append-system-prompt", help="add text to the end of the system prompt")
    parser.add_argument("--thinking-budget", type=int, help="extended thinking budget in tokens")
    parser.add_argument("--max-tokens", type=int, help="maximum output tokens per reply")
    parser.add_argument(
        "--allowedTools",
        "--allowed-tools",
        dest="allowed",
        action="append",
        metavar="TOOLS",
        help="tools that may run without asking",
    )
    parser.add_argument(
        "--disallowedTools",
        "--disallowed-tools",
        dest="disallowed",
        action="append",
        metavar="TOOLS",
        help="tools that are removed and refused",
    )
    parser.add_argument("--verbose", action="store_true", help="report each tool call on stderr")
    return parser


def main(argv: list[str] | None = None, *, deps: Deps | None = None) -> int:
    deps = deps or Deps()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["doctor"]:
        from coda.doctor import run_doctor

        return run_doctor(deps.env, deps.stdout)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    prompt = args.prompt
    if prompt is None and not deps.stdin.isatty():
        prompt = deps.stdin.read()
    if not args.print and prompt is None:
        deps.stderr.write(
            "coda: the interactive terminal is not built yet (it arrives with the terminal UI "
            'issue). Run unattended with: coda -p "your prompt"\n'
        )
        return EXIT_USAGE
    if not prompt or not prompt.strip():
        deps.stderr.write(
            'coda: no prompt given. Usage: coda -p "your prompt" (or pipe it on stdin)\n'
        )
        return EXIT_USAGE
    from coda.headless import HeadlessOptions, run_headless

    options = HeadlessOptions(
        prompt=prompt,
        output_format=args.output_format,
        model=args.model,
        max_turns=args.max_turns,
        system_prompt=args.system_prompt,
        append_system_prompt=args.append_system_prompt,
        thinking_budget=args.thinking_budget,
        max_tokens=args.max_tokens,
        allowed=_tool_list(args.allowed),
        disallowed=_tool_list(args.disallowed),
        verbose=args.verbose,
    )
    return run_headless(options, env=deps.env, cwd=deps.cwd, out=deps.stdout, err=deps.stderr)


def entry() -> None:
    # coda runs on asyncio only. httpcore2 imports trio whenever it is installed, which
    # costs ~80 ms per start; hiding it from the console script (never from a program
    # that imports coda as a library) keeps start-up fast.
    if "trio" not in sys.modules:
        sys.modules["trio"] = None  # type: ignore[assignment]
    try:
        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("\ncoda: interrupted\n")
        code = 130
    sys.exit(code)
