"""What a tool is: its spec, the context it runs in, what it returns, and input validation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from coda.messages import ImageBlock, JsonObject, TextBlock


class ToolError(Exception):
    """A failure to report to the model as an is_error result; the loop goes on."""


@dataclass(slots=True)
class FileStamp:
    """What a Read saw, so later edits can tell whether the file changed since."""

    mtime_ns: int
    size: int
    sha256: str


TodoStatus = Literal["pending", "in_progress", "completed"]


@dataclass(slots=True)
class TodoItem:
    content: str
    status: TodoStatus
    # The present-tense form shown while the item is in progress ("Running the tests").
    active_form: str = ""


class SessionResource(Protocol):
    """Something a tool starts that must end with the session (a shell, a server job)."""

    async def aclose(self) -> None: ...


class Sandbox(Protocol):
    """Runs commands confined (bubblewrap on Linux): turns a command line into a confined one."""

    def wrap(
        self, argv: list[str], *, cwd: Path, env: dict[str, str], extra_writable: list[Path]
    ) -> tuple[list[str], dict[str, str]]:
        """The argv and env to spawn instead. `extra_writable` are paths outside the
        workspace the runner itself needs to write (its state file's directory)."""
        ...


@dataclass(slots=True)
class CachedPage:
    fetched_at: float  # time.monotonic()
    url: str  # the final URL after redirects
    markdown: str


@dataclass(slots=True)
class ToolContext:
    """Session state the tools share. One per session; tools mutate it in place."""

    cwd: Path
    # Paths the model has read in this session, keyed by resolved absolute path.
    read_files: dict[Path, FileStamp] = field(default_factory=dict)
    # The model accepts image content in tool results.
    supports_images: bool = True
    # The model's task list, replaced whole by each TodoWrite call.
    todos: list[TodoItem] = field(default_factory=list)
    # Long-lived things tools started, by name ("shell"): closed when the session ends.
    resources: dict[str, SessionResource] = field(default_factory=dict)
    # WebFetch results by URL, reused for 15 minutes.
    web_cache: dict[str, CachedPage] = field(default_factory=dict)
    # When set, every Bash command (foreground and background) runs through it.
    sandbox: Sandbox | None = None
    # Called with a file's path before Write or Edit changes it: checkpoints keep files
    # outside the workspace this way (the workspace itself is snapshotted whole).
    before_write: Callable[[Path], None] | None = None

    async def preserve(self, path: Path) -> None:
        if self.before_write is not None:
            await asyncio.to_thread(self.before_write, path)

    async def aclose(self) -> None:
        """End everything the tools started; safe to call more than once."""
        while self.resources:
            _, resource = self.resources.popitem()
            await resource.aclose()


@dataclass(slots=True)
class ToolOutput:
    content: list[TextBlock | ImageBlock]
    is_error: bool = False
    # One short line for the person ("Read 120 lines"), not sent to the model.
    summary: str = ""
    # What the person should see in full, when it differs from the summary (a diff).
    display: str = ""
    # Content from outside the workspace's control (web pages, MCP servers), which the
    # injection guard screens and the model is told to treat as data.
    untrusted: bool = False

    @classmethod
    def text(cls, text: str, *, summary: str = "", is_error: bool = False) -> ToolOutput:
        return cls([TextBlock(text)], is_error=is_error, summary=summary)


class Tool(Protocol):
    name: str
    description: str
    input_schema: JsonObject

    def is_mutating(self, args: JsonObject) -> bool:
        """True when the call may change anything. When in doubt, a tool says True."""
        ...

    async def run(self, args: JsonObject, ctx: ToolContext) -> ToolOutput: ...


def load_description(name: str) -> str:
    """Tool descriptions are prompts, so they live as files beside the tools."""
    return (Path(__file__).parent / "descriptions" / f"{name}.md").read_text("utf-8").strip()


def plural(count: int, noun: str) -> str:
    """ "1 file", "2 files": summaries are read by people."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def validate_input(schema: JsonObject, args: Any) -> list[str]:
    """Check the model's input against the subset of JSON Schema that tools use.

    Returns problems worded for the model; an empty list means the input is usable.
    """
    if not isinstance(args, dict):
        return [f"input must be an object, got {type(args).__name__}"]
    problems: list[str] = []
    properties: dict[str, JsonObject] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in args:
            problems.append(f"missing required field {name!r}")
    for name, value in args.items():
        prop = properties.get(name)
        if prop is None:
            if schema.get("additionalProperties", True) is False:
                problems.append(f"unknown field {name!r}")
            continue
        problems.extend(_check_value(name, prop, value))
    return problems


def _check_value(name: str, prop: JsonObject, value: Any) -> list[str]:
    kind = prop.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        ok = isinstance(value, _JSON_TYPES[kind])
        # bool is an int subclass in Python but not an integer in JSON.
        if ok and kind in ("integer", "number") and isinstance(value, bool):
            ok = False
        if not ok:
            return [f"field {name!r} must be {kind}, got {type(value).__name__}"]
    if "enum" in prop and value not in prop["enum"]:
        return [f"field {name!r} must be one of {prop['enum']}, got {value!r}"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in prop and value < prop["minimum"]:
            return [f"field {name!r} must be at least {prop['minimum']}"]
        if "maximum" in prop and value > prop["maximum"]:
            return [f"field {name!r} must be at most {prop['maximum']}"]
    return []
