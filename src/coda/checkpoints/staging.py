"""What a snapshot includes: bringing the session's index up to the workspace."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from coda.checkpoints.store import CheckpointError, ShadowRepo, join, split


def stage(
    repo: ShadowRepo, deadline: float, *, max_ignored_file_bytes: int, max_files: int
) -> None:
    """Bring the session's index up to the workspace: few processes, no per-file ones."""
    workspace = repo.workspace
    _drop_excluded(repo, deadline, max_ignored_file_bytes)
    # Without --directory git lists each new file; "x/" is a nested repository.
    others = repo.git("ls-files", "-z", "--others", "--exclude-standard", deadline=deadline)
    new = [p for p in split(others) if not p.endswith("/") and _addable(workspace, p, None)]
    # With --directory, an ignored directory is one "dir/" line, never walked.
    ignored = repo.git(
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
        deadline=deadline,
    )  # fmt: skip
    limit = max_ignored_file_bytes
    small = [p for p in split(ignored) if not p.endswith("/") and _addable(workspace, p, limit)]
    count = _index_entries(repo.index) + len(new) + len(small)
    if count > max_files:
        raise CheckpointError(
            f"{workspace} has {count:,} files to track, more than the {max_files:,} "
            "checkpoints handle. Add big directories to .gitignore, or start coda in a "
            "smaller directory."
        )
    # Unreadable files are reported with exit 1 and keep their previous content.
    repo.git("add", "-u", "--ignore-errors", ok=(0, 1), deadline=deadline)
    if new or small:
        paths = join(new + small)
        repo.git(
            "update-index", "--add", "--remove", "-z", "--stdin", stdin=paths, deadline=deadline
        )


def _drop_excluded(repo: ShadowRepo, deadline: float, limit: int) -> None:
    """Forget ignored files kept earlier that snapshots now leave out: grown past the
    limit, or inside a directory that became ignored."""
    out = repo.git(
        "ls-files", "-z", "--cached", "--ignored", "--exclude-standard", deadline=deadline
    )
    kept = split(out)
    if not kept:
        return
    drop = {p for p in kept if not _addable(repo.workspace, p, limit, missing_ok=True)}
    parents = sorted({p.rpartition("/")[0] for p in kept if "/" in p})
    if parents:
        out = repo.git(
            "check-ignore",
            "--no-index",
            "-z",
            "--stdin",
            stdin=join(parents),
            ok=(0, 1),
            deadline=deadline,
        )
        ignored_dirs = set(split(out))
        drop.update(p for p in kept if p.rpartition("/")[0] in ignored_dirs)
    if drop:
        repo.git(
            "update-index",
            "--force-remove",
            "-z",
            "--stdin",
            stdin=join(sorted(drop)),
            deadline=deadline,
        )


def _addable(workspace: Path, rel: str, limit: int | None, *, missing_ok: bool = False) -> bool:
    """A readable regular file (no bigger than `limit`, if given) or a symlink."""
    try:
        st = os.lstat(workspace / rel)
    except FileNotFoundError:
        return missing_ok
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return True
    if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
        return False
    return os.access(workspace / rel, os.R_OK)


def _index_entries(index: Path) -> int:
    try:
        with index.open("rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return 0
    if len(head) == 12 and head[:4] == b"DIRC":
        return int(struct.unpack(">I", head[8:12])[0])
    return 0
