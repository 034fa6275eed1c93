"""Command-line entry: parse arguments and hand off. Heavy imports wait until they are needed."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coda import __version__

if TYPE_CHECKING:
    from coda.wiring import RunOptions

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


@dataclass(slots=True)
class Deps:
    """Everything main() touches in the outside world, so tests can pass their own."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=Path.cwd)


def _rule_list(values: list[str] | None) -> tuple[str, ...]:
    """Rules given as repeated flags, or separated by commas or spaces, as peers accept them.

    Separators inside parentheses belong to the rule: "Bash(npm test:*)" stays whole.
    """
    rules: list[str] = []
    for value in values or []:
        depth, current = 0, ""
        for ch in value:
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth = max(0, depth - 1)
            if ch in ", " and depth == 0:
                if current:
                    rules.append(current)
                current = ""
            else:
                current += ch
        if current:
            rules.append(current)
    return tuple(dict.fromkeys(rules))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coda",
        description="A terminal coding agent. Run `coda -p PROMPT` for an unattended run, "
        "or `coda doctor` to check the setup.",
        epilog="Commands: coda doctor (check providers, tools and paths); "
        "coda sessions (list this directory's sessions); "
        "coda mcp (add, list, get, remove, approve, login MCP servers; serve coda's tools).",
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
    parser.add_argument(
        "--permission-mode",
        choices=["default", "acceptEdits", "plan", "bypassPermissions"],
        help="how much runs without asking (default: settings, else default)",
    )
    parser.add_argument(
        "--dangerously-skip-permissions",
        action="store_true",
        help="run every tool without asking (refused as root unless --sandbox)",
    )
    parser.add_argument(
        "--settings", metavar="FILE|JSON", help="extra settings, above project ones"
    )
    parser.add_argument("--sandbox", action="store_true", help="run Bash inside bubblewrap")
    parser.add_argument(
        "-c",
        "--continue",
        dest="continue_session",
        action="store_true",
        help="continue the latest session in this directory",
    )
    parser.add_argument(
        "-r",
        "--resume",
        nargs="?",
        const="",
        metavar="SESSION_ID",
        help="resume a session by id (a prefix will do); without an id, pick one",
    )
    parser.add_argument(
        "--fork-session",
        action="store_true",
        help="with --continue or --resume: carry on under a new session id",
    )
    parser.add_argument(
        "--max-budget-usd",
        type=float,
        metavar="DOLLARS",
        help="stop the run once it has spent this much",
    )
    parser.add_argument(
        "--permission-prompt-tool",
        metavar="MCP_TOOL",
        help="hand permission questions to an MCP tool (needs MCP servers)",
    )
    parser.add_argument(
        "--mcp-config",
        action="append",
        metavar="FILE|JSON",
        help='MCP servers from a file or JSON text ({"mcpServers": …}); repeatable',
    )
    parser.add_argument(
        "--strict-mcp-config",
        action="store_true",
        help="use only the MCP servers given with --mcp-config",
    )
    return parser


def main(argv: list[str] | None = None, *, deps: Deps | None = None) -> int:
    deps = deps or Deps()
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["doctor"]:
        from coda.doctor import run_doctor

        return run_doctor(deps.env, deps.stdout)
    if args_list[:1] == ["mcp"]:
        from coda.mcp.manage import main as mcp_main
        from coda.mcp.manager import probe

        return mcp_main(
            args_list[1:],
            check=probe,
            env=deps.env,
            cwd=deps.cwd,
            stdout=deps.stdout,
            stderr=deps.stderr,
            stdin=deps.stdin,
        )
    if args_list[:1] == ["sessions"]:
        from coda.transcript.listing import run_sessions

        return run_sessions(deps.env, deps.cwd, deps.stdout)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    prompt = args.prompt
    problem = _check_resume_flags(args)
    if problem:
        deps.stderr.write(f"coda: {problem}\n")
        return EXIT_USAGE
    if not args.print and deps.stdin.isatty() and deps.stdout.isatty():
        from coda.interactive import run_interactive

        return run_interactive(
            # Built when the session is, after the prompt is up: it imports the wiring.
            lambda: _run_options(args),
            env=deps.env,
            cwd=deps.cwd,
            first_prompt=prompt,
            stdin=deps.stdin,
            stdout=deps.stdout,
            stderr=deps.stderr,
        )
    if prompt is None and not deps.stdin.isatty():
        prompt = deps.stdin.read()
    if args.resume == "":
        from coda.transcript.listing import recent_sessions_hint

        deps.stderr.write(
            "coda: --resume needs a session id when run unattended.\n"
            + recent_sessions_hint(deps.env, deps.cwd)
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
        run=_run_options(args),
        output_format=args.output_format,
        verbose=args.verbose,
    )
    return run_headless(options, env=deps.env, cwd=deps.cwd, out=deps.stdout, err=deps.stderr)


def _check_resume_flags(args: argparse.Namespace) -> str | None:
    if args.fork_session and not (args.continue_session or args.resume is not None):
        return "--fork-session goes with --continue or --resume"
    if args.continue_session and args.resume:
        return "give either --continue or --resume ID, not both"
    if args.max_budget_usd is not None and not args.max_budget_usd > 0:
        return "--max-budget-usd must be a positive number of dollars"
    return None


def _run_options(args: argparse.Namespace) -> RunOptions:
    from coda.resume import ResumeRequest
    from coda.wiring import RunOptions

    return RunOptions(
        resume=ResumeRequest(
            session_id=args.resume or None,
            latest=args.continue_session,
            fork=args.fork_session,
            pick=args.resume == "",
        ),
        max_budget_usd=args.max_budget_usd,
        model=args.model,
        max_turns=args.max_turns,
        system_prompt=args.system_prompt,
        append_system_prompt=args.append_system_prompt,
        thinking_budget=args.thinking_budget,
        max_tokens=args.max_tokens,
        allowed=_rule_list(args.allowed),
        disallowed=_rule_list(args.disallowed),
        permission_mode="bypassPermissions"
        if args.dangerously_skip_permissions
        else args.permission_mode,
        settings=args.settings,
        sandbox=args.sandbox,
        permission_prompt_tool=args.permission_prompt_tool,
        mcp_configs=tuple(args.mcp_config or ()),
        strict_mcp_config=args.strict_mcp_config,
    )


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
