"""Rewind end to end, in process on a real session: files changed by Edit, Write and a
Bash `rm`/`mv` come back byte for byte, the conversation goes back, and the user's own
git state is never touched."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from coda.messages import UserMessage
from coda.permissions.base import PermissionRequest, PromptAnswer
from coda.transcript.sessions import load
from coda.ui.glyphs import ASCII
from coda.ui.repl import Repl
from coda.ui.screen import Screen
from coda.wiring import RunOptions
from tests.fakes.model_server import ModelServer
from tests.fakes.script import Reply, ToolUse
from tests.helpers import anthropic_env

SHELL = "bash -c 'rm gone.txt; mv old_name.txt new_name.txt'"
OUTSIDE = Path("/tmp") / f"coda-rewind-outside-{os.getpid()}.txt"


def tree_hashes(root: Path) -> dict[str, tuple[str, int]]:
    """path → (sha256, mode) for every file outside .git."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or path.is_dir():
            continue
        out[str(rel)] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode)
    return out


def git_dir_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / ".git").rglob("*")):
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


class Approve:
    """A person who says yes to every question, and remembers what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def ask(self, request: PermissionRequest) -> PromptAnswer:
        self.asked.append(request.tool)
        return PromptAnswer("once")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "calc.py").write_bytes(b"def add(a, b):\r\n    return a + b\r\n")  # CRLF
    (root / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (root / "gone.txt").write_text("delete me\n")
    (root / "old_name.txt").write_text("rename me\n")
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / "small.log").write_text("ignored but small\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=root, check=True)
    (root / "pkg" / "mod.py").write_text("X = 2\n")  # an unstaged change of the person's
    subprocess.run([*git, "add", "pkg/mod.py"], cwd=root, check=True)  # ...now staged
    return root


@pytest.fixture
async def repl(model_server: ModelServer, repo: Path, tmp_path: Path) -> AsyncIterator[Repl]:
    home = tmp_path / "home"
    home.mkdir()
    screen = Screen(io.StringIO(), color=False, glyphs=ASCII, width=100)
    options = RunOptions(permission_mode="acceptEdits")
    repl = Repl(
        options, env=anthropic_env(model_server, home), cwd=repo, screen=screen, stdin_fd=None
    )
    approvals = Approve()
    repl.prompter = approvals  # type: ignore[assignment]
    assert await repl.ready()
    yield repl
    await repl.close()
    OUTSIDE.unlink(missing_ok=True)


def script_changes(server: ModelServer) -> None:
    server.enqueue(
        Reply([ToolUse("Read", {"file_path": "calc.py"})]),
        Reply(
            [
                ToolUse(
                    "Edit", {"file_path": "calc.py", "old_string": "a + b", "new_string": "b + a"}
                )
            ]
        ),
        Reply([ToolUse("Write", {"file_path": "pkg/new.py", "content": "NEW = True\n"})]),
        Reply([ToolUse("Bash", {"command": SHELL})]),
        Reply([ToolUse("Bash", {"command": "echo changed >> small.log"})]),
        Reply([ToolUse("Read", {"file_path": str(OUTSIDE)})]),
        Reply([ToolUse("Write", {"file_path": str(OUTSIDE), "content": "overwritten\n"})]),
        Reply("All changed."),
    )


async def test_rewind_restores_files_and_conversation(
    repl: Repl, repo: Path, model_server: ModelServer
) -> None:
    OUTSIDE.write_text("outside the workspace\n")
    before, git_before = tree_hashes(repo), git_dir_hash(repo)
    status_before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
    ).stdout
    script_changes(model_server)
    await repl.handle("change everything")
    after = tree_hashes(repo)
    assert after != before
    assert "gone.txt" not in after and "new_name.txt" in after and "pkg/new.py" in after
    assert OUTSIDE.read_text() == "overwritten\n"
    assert repl.session.transcript

    await repl.handle("/rewind 1 both")
    assert tree_hashes(repo) == before  # every byte and mode, the small ignored file too
    assert git_dir_hash(repo) == git_before  # the person's .git is untouched
    assert OUTSIDE.read_text() == "outside the workspace\n"  # kept before Write changed it
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert status == status_before
    assert repl.session.transcript == [] and repl.session.checkpoint_refs == []
    assert repl._keys.typeahead == "change everything"  # the prompt is back in the input

    # The rewind is in the transcript: a resume rebuilds the rewound conversation.
    log = repl.session.log
    assert log is not None
    assert load(log.path).session.messages == []


async def test_rewind_code_only_keeps_the_conversation(
    repl: Repl, repo: Path, model_server: ModelServer
) -> None:
    model_server.enqueue(Reply("nothing changed yet"))
    await repl.handle("first")
    middle = tree_hashes(repo)
    script_changes(model_server)
    await repl.handle("second")
    messages = list(repl.session.transcript)
    await repl.handle("/rewind 1 code")
    assert tree_hashes(repo) == middle
    assert repl.session.transcript == messages  # the conversation stays
    # The model's earlier reads no longer vouch for the files: it must read again.
    assert repl.session.tool_ctx.read_files == {}

    model_server.enqueue(Reply("back to the first"))
    await repl.handle("/rewind 2 conversation")
    assert [type(m) for m in repl.session.transcript] == []
    await repl.handle("again")
    body = model_server.requests[-1].body
    assert len(body["messages"]) == 1 and isinstance(repl.session.transcript[0], UserMessage)
