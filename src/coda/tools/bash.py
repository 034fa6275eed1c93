"""Bash: run a command in the session's shell, in the foreground or as a background job."""

from __future__ import annotations

from coda.messages import JsonObject
from coda.tools.base import ToolContext, ToolError, ToolOutput, load_description
from coda.tools.jobs import get_jobs
from coda.tools.shell import CommandResult, get_shell, signal_name

DEFAULT_TIMEOUT_MS = 120_000
# Longer requests are clamped to this rather than refused: the model asked for "long".
MAX_TIMEOUT_MS = 600_000


class BashTool:
    name = "Bash"

    def __init__(self) -> None:
        self.description = load_description(self.name)
        self.input_schema: JsonObject = {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command to run"},
                "timeout": {
                    "type": "number",
                    "minimum": 1,
                    "description": f"Timeout in milliseconds (default {DEFAULT_TIMEOUT_MS}, "
                    f"max {MAX_TIMEOUT_MS})",
                },
                "description": {
                    "type": "string",
                    "description": "What the command does, in 5-10 words, for the person",
                },
                "run_in_background": {
                    "type": "boolean",
                    "description": "Start it as a background job and return its id at once",
                },
            },
            "required": ["command"],
            "additionalProperties": False,
        }

    def is_mutating(self, args: JsonObject) -> bool:
        return True

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput:
        command: str = args["command"]
        if not command.strip():
            raise ToolError("The command is empty.")
        label = (args.get("description") or "").strip()
        shell = get_shell(ctx)
        if args.get("run_in_background"):
            job = await get_jobs(ctx).start(command, shell)
            text = (
                f"Started in the background with id {job.id}. Read its new output with "
                f'BashOutput(bash_id="{job.id}"); stop it with KillShell(shell_id="{job.id}").'
            )
            return ToolOutput.text(text, summary=f"Started `{short_command(command)}` as {job.id}")
        requested = float(args.get("timeout") or DEFAULT_TIMEOUT_MS)
        timeout_ms = min(requested, MAX_TIMEOUT_MS)
        result = await shell.run(command, timeout_ms / 1000)
        text = _report(result, timeout_ms, clamped=requested > MAX_TIMEOUT_MS)
        summary = f"{label or f'Ran `{short_command(command)}`'} ({_outcome(result)})"
        return ToolOutput.text(text, summary=summary, is_error=result.timed_out)


def _report(result: CommandResult, timeout_ms: float, clamped: bool) -> str:
    parts = []
    output = result.output.text().removesuffix("\n")
    if output:
        parts.append(output)
    code = result.returncode
    if result.timed_out:
        limit = f"{timeout_ms:,.0f} ms" + (" (the maximum)" if clamped else "")
        parts.append(f"Command timed out after {limit}; it and everything it started were stopped.")
    elif code is not None and code < 0:
        parts.append(f"Killed by signal {signal_name(-code)}")
    elif code:
        parts.append(f"Exit code {code}")
    if result.stopped_leftovers:
        parts.append(
            "Processes the command left running in the background were stopped. "
            "Use run_in_background for servers and watchers."
        )
    if result.cwd_reset:
        parts.append(f"(The directory {result.cwd_reset} no longer exists; ran in {result.cwd}.)")
    return "\n".join(parts) or "(no output)"


def _outcome(result: CommandResult) -> str:
    seconds = f"{result.seconds:.1f} s" if result.seconds < 10 else f"{result.seconds:.0f} s"
    if result.timed_out:
        return f"timed out after {seconds}"
    code = result.returncode
    if code is not None and code < 0:
        return f"killed by {signal_name(-code)}, {seconds}"
    return f"exit {code}, {seconds}"


def short_command(command: str, width: int = 60) -> str:
    first = command.strip().splitlines()[0]
    if len(first) > width or "\n" in command.strip():
        return first[: width - 1] + "…"
    return first
