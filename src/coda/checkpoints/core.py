"""The `Checkpoints` object: snapshot, restore and preserve for one session's workspace."""

from __future__ import annotations

import time
from pathlib import Path

from coda.checkpoints.external import record, restore_external
from coda.checkpoints.restore import BlobReader, RestoreReport, delete, diff, prune, write
from coda.checkpoints.staging import stage
from coda.checkpoints.store import CheckpointError, ShadowRepo, split


class Checkpoints:
    """Snapshots of `workspace` for one session, stored in the shared shadow repo `store`."""

    def __init__(
        self,
        workspace: Path,
        store: Path,
        session_id: str,
        *,
        max_ignored_file_bytes: int = 1 << 20,
        timeout: float = 30.0,
        max_files: int = 100_000,
        git: str | None = None,
    ) -> None:
        self._repo = ShadowRepo(workspace, store, session_id, timeout=timeout, git=git)
        self.workspace = self._repo.workspace
        self.store = self._repo.store
        self.session_id = session_id
        self.max_ignored_file_bytes = max_ignored_file_bytes
        self.max_files = max_files

    @property
    def timeout(self) -> float:
        """Seconds each operation may take in all."""
        return self._repo.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self._repo.timeout = value

    # -- public API ---------------------------------------------------------------------------

    def snapshot(self, label: str) -> str:
        """Record the workspace as it is now; returns the snapshot's commit id."""
        return self._snapshot(label, self._repo.deadline())

    def restore(self, commit: str) -> RestoreReport:
        """Make every path snapshots cover match `commit` exactly; leave the rest alone."""
        repo = self._repo
        deadline = repo.deadline()
        repo.prepare(deadline)
        target = repo.resolve(commit, deadline)
        before = self._snapshot(f"before restoring {target[:12]}", deadline)
        changes = diff(repo, before, target, deadline)
        deleted, skipped = delete(self.workspace, (c for c in changes if c.status == "D"))
        # Before writing, so a file can take the place of a directory it replaced.
        prune(self.workspace, deleted)
        writes = [c for c in changes if c.status != "D"]
        with BlobReader(repo.argv(), repo.environment(), self.workspace, deadline) as read_blob:
            written, not_written = write(self.workspace, writes, read_blob)
            external = restore_external(repo, target, before, read_blob, deadline)
        return RestoreReport(
            written=written + external.written,
            deleted=deleted + external.deleted,
            skipped=skipped + not_written + external.skipped,
            before=before,
        )

    def changed_files(self, commit_a: str, commit_b: str) -> list[str]:
        """Workspace paths that differ between two snapshots: what a rewind would touch."""
        return split(self._tree_diff(commit_a, commit_b, "-z", "--name-only"))

    def diff_stat(self, commit_a: str, commit_b: str) -> str:
        """`git diff --stat` between two snapshots, for showing before a rewind."""
        return self._tree_diff(commit_a, commit_b, "--stat").decode("utf-8", "replace")

    def latest(self) -> str | None:
        """This session's most recent snapshot, or None before the first."""
        deadline = self._repo.deadline()
        self._repo.prepare(deadline)
        chain = self._repo.load_chain(deadline)
        return chain[-1] if chain else None

    def preserve(self, path: Path) -> None:
        """Before coda edits `path`, keep its current bytes (or absence) if it is outside the
        workspace, so restoring the latest snapshot or an earlier one puts it back."""
        target = (self.workspace / path).resolve()  # relative paths are the workspace's
        if target.is_relative_to(self.workspace.resolve()):
            return  # covered by the snapshots themselves
        deadline = self._repo.deadline()
        self._repo.prepare(deadline)
        chain = self._repo.load_chain(deadline)
        if not chain:
            raise CheckpointError(
                f"cannot preserve {target}: session {self.session_id} has no snapshot yet; "
                "take one with snapshot() before editing files"
            )
        record(self._repo, chain[-1], [target], deadline)

    # -- internals ----------------------------------------------------------------------------

    def _snapshot(self, label: str, deadline: float) -> str:
        repo = self._repo
        repo.prepare(deadline)
        stage(
            repo,
            deadline,
            max_ignored_file_bytes=self.max_ignored_file_bytes,
            max_files=self.max_files,
        )
        tree = repo.git("write-tree", deadline=deadline).decode().strip()
        chain = repo.load_chain(deadline)
        # A new commit even when nothing changed: files outside the workspace may have, and
        # their records hang on this snapshot (see `preserve`).
        n = len(chain) + 1
        parent = ["-p", chain[-1]] if chain else []
        message = f"{label}\n\ncoda-session: {self.session_id}\ncoda-snapshot: {n}\n"
        now = f"@{int(time.time())} +0000"
        dates: dict[str, str | None] = {"GIT_AUTHOR_DATE": now, "GIT_COMMITTER_DATE": now}
        commit = repo.git(
            "commit-tree", tree, *parent, stdin=message.encode(), env=dates, deadline=deadline
        )
        sha = commit.decode().strip()
        ref = f"refs/coda/{self.session_id}/{n}"
        repo.git("update-ref", ref, sha, "", deadline=deadline)
        chain.append(sha)
        return sha

    def _tree_diff(self, commit_a: str, commit_b: str, *options: str) -> bytes:
        deadline = self._repo.deadline()
        a, b = self._repo.resolve(commit_a, deadline), self._repo.resolve(commit_b, deadline)
        return self._repo.git("diff-tree", "-r", "--no-renames", *options, a, b, deadline=deadline)
