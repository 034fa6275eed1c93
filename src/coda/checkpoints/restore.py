"""Writing a snapshot's files back into the workspace, byte for byte."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from coda.checkpoints.store import CheckpointError, ShadowRepo

_SYMLINK, EXECUTABLE, _GITLINK = "120000", "100755", "160000"


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What `restore` did. Workspace paths are relative; files outside it are absolute."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # In the snapshot, but now occupied by something snapshots leave out (a big ignored file,
    # a directory with excluded content) or not writable: left as they are.
    skipped: list[str] = field(default_factory=list)
    # The snapshot taken just before restoring: restoring it undoes the rewind.
    before: str = ""


@dataclass(frozen=True, slots=True)
class Change:
    status: str  # A, D, M or T, from `git diff-tree --no-renames`
    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str
    path: str


def diff(repo: ShadowRepo, a: str, b: str, deadline: float) -> list[Change]:
    out = repo.git("diff-tree", "-r", "--no-renames", "-z", a, b, deadline=deadline)
    fields = out.split(b"\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        old_mode, new_mode, old_sha, new_sha, status = meta.decode().lstrip(":").split()
        changes.append(Change(status[0], old_mode, new_mode, old_sha, new_sha, os.fsdecode(path)))
    return changes


def delete(workspace: Path, changes: Iterable[Change]) -> tuple[list[str], list[str]]:
    deleted: list[str] = []
    skipped: list[str] = []
    for change in changes:
        if not _safe(change.path):
            skipped.append(change.path)
            continue
        try:
            os.unlink(workspace / change.path)
        except FileNotFoundError:
            continue
        except OSError:
            skipped.append(change.path)
            continue
        deleted.append(change.path)
    return deleted, skipped


def write(
    workspace: Path, changes: list[Change], read_blob: BlobReader
) -> tuple[list[str], list[str]]:
    written: list[str] = []
    skipped: list[str] = []
    dirs_ok: set[str] = set()
    for change in changes:
        try:
            done = _write_one(workspace, change, read_blob, dirs_ok)
        except OSError:
            done = False
        (written if done else skipped).append(change.path)
    return written, skipped


def _write_one(workspace: Path, change: Change, read_blob: BlobReader, dirs_ok: set[str]) -> bool:
    rel = change.path
    if change.new_mode == _GITLINK or not _safe(rel) or not _parents_ok(workspace, rel, dirs_ok):
        return False
    path = workspace / rel
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        try:
            os.rmdir(path)  # left empty by the deletions; one with content is kept
        except OSError:
            return False
        st = None
    elif st is not None and change.status == "A":
        return False  # a file snapshots leave out (big, ignored) holds the path
    regular = {change.old_mode, change.new_mode} <= {"100644", EXECUTABLE}
    if change.old_sha == change.new_sha and regular and st and stat.S_ISREG(st.st_mode):
        os.chmod(path, _permissions(st.st_mode, change.new_mode == EXECUTABLE))
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    write_entry(path, change.new_mode, read_blob(change.new_sha), st)
    return True


def _parents_ok(workspace: Path, rel: str, dirs_ok: set[str]) -> bool:
    """Every existing ancestor is a real directory: never write through a symlink, and
    never replace a file that snapshots leave out with a directory."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if prefix in dirs_ok:
            continue
        try:
            st = os.lstat(workspace / prefix)
        except FileNotFoundError:
            return True  # the rest is created
        if not stat.S_ISDIR(st.st_mode):
            return False
        dirs_ok.add(prefix)
    return True


def prune(workspace: Path, paths: list[str]) -> None:
    """Remove directories the deletions left empty, up to the workspace."""
    dirs = {str(Path(p).parent) for p in paths} - {"."}
    for d in sorted(dirs, key=len, reverse=True):
        current = workspace / d
        while current != workspace and current.is_relative_to(workspace):
            try:
                current.rmdir()
            except OSError:
                break
            current = current.parent


class BlobReader:
    """One `git cat-file --batch` for all the blobs a restore writes."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, deadline: float) -> None:
        self._argv, self._env, self._cwd, self._deadline = argv, env, cwd, deadline
        self._proc: subprocess.Popen[bytes] | None = None

    def __call__(self, sha: str) -> bytes:
        if time.monotonic() > self._deadline:
            raise CheckpointError("restoring took longer than the checkpoint timeout; stopped")
        if self._proc is None:
            self._proc = subprocess.Popen(
                [*self._argv, "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                cwd=self._cwd,
                env=self._env,
            )
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(sha.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) != 3:
            raise CheckpointError(f"object {sha} is missing from the checkpoint store")
        data = _read_exactly(stdout, int(header[2]))
        stdout.read(1)  # the newline after each object
        return data

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.kill()
            self._proc.wait()
            if self._proc.stdout:
                self._proc.stdout.close()


# -- helpers --------------------------------------------------------------------------------


def _safe(rel: str) -> bool:
    """Never touch anything inside a `.git`, whatever a tree claims."""
    parts = rel.split("/")
    return not any(p.lower() == ".git" or p in ("", ".", "..") for p in parts)


def _permissions(mode: int, executable: bool) -> int:
    perm = mode & 0o7777
    return perm | ((perm & 0o444) >> 2) if executable else perm & ~0o111


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise CheckpointError("git cat-file stopped early while restoring")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_entry(path: Path, mode: str, data: bytes, old: os.stat_result | None) -> None:
    """Put a file or symlink at `path` by renaming a finished temporary file over it, keeping
    the old file's permission bits apart from the executable bit."""
    tmp = path.with_name(f".coda-restore-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        if mode == _SYMLINK:
            os.symlink(os.fsdecode(data), tmp)
        else:
            executable = mode == EXECUTABLE
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(tmp, flags, 0o777 if executable else 0o666)  # the umask applies
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if old is not None and stat.S_ISREG(old.st_mode):
                    os.fchmod(fd, _permissions(old.st_mode, executable))
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
