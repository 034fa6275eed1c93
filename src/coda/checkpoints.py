"""Workspace checkpoints for rewind, kept in a shadow git repository beside the user's own.

A `Checkpoints` object snapshots the workspace into a bare repository in coda's data dir
(`store`, shared by every session of one project) and restores it byte for byte. Git runs with
GIT_DIR=store, GIT_WORK_TREE=workspace and a per-session GIT_INDEX_FILE, no system or global
config and no inherited GIT_* variables, so the user's `.git`, index and config are never
written (their `.git/info/exclude` is only read).

What a snapshot covers:

- every file git would show as tracked or untracked-and-not-ignored, using the workspace's
  `.gitignore` files, a copy of the user's `.git/info/exclude`, and the user's global excludes
  file (`core.excludesFile`, else `~/.config/git/ignore`), read once per object, so that a
  globally ignored `.venv/` or `*.iso` is treated as the user's own `git status` treats it;
- plus ignored files of at most `max_ignored_file_bytes` that are not inside an ignored
  directory: `.env` is kept, `node_modules/`, `.venv/` and a 2 GB `dump.log` are not.

Left out, and so left alone by `restore`: ignored directories, big ignored files, empty
directories, the workspace's `.git`, and nested repositories (a subdirectory with its own
`.git`, such as a submodule or a clone), which git would otherwise store as a bare commit id
and lose their content. Gitignore files of a parent repository (when coda runs in a subdirectory
of a repo) are not read. Files git cannot read keep their last snapshotted content.

Attributes are switched off (`info/attributes`: no eol conversion, filters or ident), so CRLF
and non-UTF-8 bytes round-trip exactly. The store is never garbage-collected (`gc.auto=0`);
refs `refs/coda/<session>/<n>` keep every snapshot's objects.

Files outside the workspace that coda's tools edit are kept separately: `preserve(path)` stores
their bytes (or absence) before an edit, in the latest snapshot's map
`<store>/external/<commit>.json`, once per snapshot. Such a record holds the file's content at
that snapshot, and a file first recorded in a later snapshot was unchanged until then, so
`restore(s)` takes, for each path, the record of the earliest snapshot from `s` on. Edits that
did not go through `preserve` (a Bash command writing outside the workspace) are not undone.

Everything here is synchronous and may take a while on a big tree; callers run it in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_SESSION_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_CONFIG = """\
[core]
\tautocrlf = false
\tsymlinks = true
\tfileMode = true
\tquotePath = false
[gc]
\tauto = 0
"""
# Highest-precedence attributes: blobs hold the bytes on disk, whatever .gitattributes says.
_ATTRIBUTES = b"* -text -eol -ident -filter -working-tree-encoding\n"
_SYMLINK, _EXECUTABLE, _GITLINK = "120000", "100755", "160000"


class CheckpointError(Exception):
    """A snapshot, restore or preserve failed; the message says why and what to do."""


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
class _Change:
    status: str  # A, D, M or T, from `git diff-tree --no-renames`
    old_mode: str
    new_mode: str
    old_sha: str
    new_sha: str
    path: str


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
        # The id names a file and a ref component, so it must be safe for both.
        if not _SESSION_ID.fullmatch(session_id) or session_id.endswith(".lock"):
            raise ValueError(f"session id {session_id!r} is not usable as a file or ref name")
        self.workspace = Path(os.path.abspath(workspace))
        self.store = Path(os.path.abspath(store))
        self.session_id = session_id
        self.max_ignored_file_bytes = max_ignored_file_bytes
        self.timeout = timeout
        self.max_files = max_files
        self._git_exe = git
        self._index = self.store / "indexes" / session_id
        self._argv: list[str] | None = None
        self._env: dict[str, str] | None = None
        self._store_ready = False
        self._chain: list[str] | None = None  # this session's snapshots, oldest first
        self._exclude_synced: bytes | None = None

    # -- public API ---------------------------------------------------------------------------

    def snapshot(self, label: str) -> str:
        """Record the workspace as it is now; returns the snapshot's commit id."""
        return self._snapshot(label, self._deadline())

    def restore(self, commit: str) -> RestoreReport:
        """Make every path snapshots cover match `commit` exactly; leave the rest alone."""
        deadline = self._deadline()
        self._prepare(deadline)
        target = self._resolve(commit, deadline)
        before = self._snapshot(f"before restoring {target[:12]}", deadline)
        changes = self._diff(before, target, deadline)
        deleted, skipped = self._delete(c for c in changes if c.status == "D")
        # Before writing, so a file can take the place of a directory it replaced.
        self._prune(deleted)
        writes = [c for c in changes if c.status != "D"]
        with _BlobReader(
            self._git_argv(), self._environment(), self.workspace, deadline
        ) as read_blob:
            written, not_written = self._write(writes, read_blob)
            external = self._restore_external(target, before, read_blob, deadline)
        return RestoreReport(
            written=written + external.written,
            deleted=deleted + external.deleted,
            skipped=skipped + not_written + external.skipped,
            before=before,
        )

    def changed_files(self, commit_a: str, commit_b: str) -> list[str]:
        """Workspace paths that differ between two snapshots: what a rewind would touch."""
        return _split(self._tree_diff(commit_a, commit_b, "-z", "--name-only"))

    def diff_stat(self, commit_a: str, commit_b: str) -> str:
        """`git diff --stat` between two snapshots, for showing before a rewind."""
        return self._tree_diff(commit_a, commit_b, "--stat").decode("utf-8", "replace")

    def latest(self) -> str | None:
        """This session's most recent snapshot, or None before the first."""
        deadline = self._deadline()
        self._prepare(deadline)
        chain = self._load_chain(deadline)
        return chain[-1] if chain else None

    def preserve(self, path: Path) -> None:
        """Before coda edits `path`, keep its current bytes (or absence) if it is outside the
        workspace, so restoring the latest snapshot or an earlier one puts it back."""
        target = (self.workspace / path).resolve()  # relative paths are the workspace's
        if target.is_relative_to(self.workspace.resolve()):
            return  # covered by the snapshots themselves
        deadline = self._deadline()
        self._prepare(deadline)
        chain = self._load_chain(deadline)
        if not chain:
            raise CheckpointError(
                f"cannot preserve {target}: session {self.session_id} has no snapshot yet; "
                "take one with snapshot() before editing files"
            )
        self._record(chain[-1], [target], deadline)

    # -- running git --------------------------------------------------------------------------

    def _deadline(self) -> float:
        return time.monotonic() + self.timeout

    def _git(
        self,
        *args: str,
        deadline: float,
        stdin: bytes | None = None,
        ok: tuple[int, ...] = (0,),
        env: dict[str, str | None] | None = None,
    ) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._too_slow(args[0])
        full_env = dict(self._environment())
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        try:
            proc = subprocess.run(
                [*self._git_argv(), *args],
                input=stdin,
                capture_output=True,
                cwd=self.workspace,
                env=full_env,
                timeout=remaining,
            )
        except subprocess.TimeoutExpired:
            # A killed writer leaves its lock behind, which would fail every later call.
            self._index.with_name(self._index.name + ".lock").unlink(missing_ok=True)
            raise self._too_slow(args[0]) from None
        except OSError as exc:
            raise CheckpointError(
                f"cannot run git in {self.workspace}: {exc}; checkpoints need git and an "
                "existing workspace directory"
            ) from exc
        if proc.returncode not in ok:
            err = proc.stderr.decode("utf-8", "replace").strip()[-1500:]
            raise CheckpointError(
                f"git {args[0]} failed in the checkpoint store {self.store} "
                f"(exit {proc.returncode}): {err or 'no message'}. If the store is damaged, "
                "delete it; only the checkpoints are lost."
            )
        return proc.stdout

    def _too_slow(self, command: str) -> CheckpointError:
        return CheckpointError(
            f"git {command} did not finish within {self.timeout:g} s in {self.workspace}: the "
            "workspace is too big (or the disk too slow) for checkpoints. Add large directories "
            "to .gitignore, or start coda in a smaller directory."
        )

    def _git_argv(self) -> list[str]:
        if self._argv is None:
            exe = self._git_exe or shutil.which("git")
            if exe is None:
                raise CheckpointError(
                    "git is not installed (or not on PATH); checkpoints need it. Install git to "
                    "be able to rewind file changes."
                )
            self._argv = [exe, "-c", f"core.excludesFile={_global_excludes(exe)}"]
        return self._argv

    def _environment(self) -> dict[str, str]:
        if self._env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            env.update(
                GIT_DIR=str(self.store),
                GIT_WORK_TREE=str(self.workspace),
                GIT_INDEX_FILE=str(self._index),
                GIT_CONFIG_NOSYSTEM="1",
                GIT_CONFIG_GLOBAL=os.devnull,
                GIT_AUTHOR_NAME="coda",
                GIT_AUTHOR_EMAIL="coda@localhost",
                GIT_COMMITTER_NAME="coda",
                GIT_COMMITTER_EMAIL="coda@localhost",
                GIT_TERMINAL_PROMPT="0",
                GIT_NO_REPLACE_OBJECTS="1",
                LC_ALL="C",
            )
            self._env = env
        return self._env

    # -- the store ----------------------------------------------------------------------------

    def _prepare(self, deadline: float) -> None:
        if not self.workspace.is_dir():
            raise CheckpointError(f"the workspace {self.workspace} is not a directory")
        if not self._store_ready:
            self._init_store(deadline)
            self._store_ready = True
        if not self._index.exists():
            self._seed_index()
        self._sync_exclude()

    def _init_store(self, deadline: float) -> None:
        if not (self.store / "HEAD").is_file():
            # Built aside and renamed into place, so two sessions starting at once are safe.
            self.store.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.store.with_name(f".{self.store.name}.{os.getpid()}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            env: dict[str, str | None] = {
                "GIT_DIR": str(tmp),
                "GIT_WORK_TREE": None,
                "GIT_INDEX_FILE": None,
            }
            self._git("init", "-q", "--bare", "--template=", deadline=deadline, env=env)
            with (tmp / "config").open("a") as f:
                f.write(_CONFIG)
            (tmp / "info").mkdir(exist_ok=True)
            (tmp / "info" / "attributes").write_bytes(_ATTRIBUTES)
            try:
                os.rename(tmp, self.store)  # replaces an empty directory, not a full one
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not (self.store / "HEAD").is_file():
                    raise CheckpointError(
                        f"{self.store} exists but is not a checkpoint store; move it away"
                    ) from None
        for sub in ("indexes", "external", "info"):
            (self.store / sub).mkdir(exist_ok=True)

    def _seed_index(self) -> None:
        """Start from the newest index of another session: its stat cache spares hashing
        every file again on this session's first snapshot."""
        others = [
            p
            for p in (self.store / "indexes").iterdir()
            if p.name != self.session_id and not p.name.endswith((".lock", ".tmp"))
        ]
        if not others:
            return
        newest = max(others, key=lambda p: p.stat().st_mtime)
        tmp = self._index.with_name(self._index.name + ".tmp")
        try:
            shutil.copyfile(newest, tmp)
            os.replace(tmp, self._index)
        except OSError:
            tmp.unlink(missing_ok=True)  # only a speed-up: start with an empty index

    def _sync_exclude(self) -> None:
        """Copy the user's `.git/info/exclude` into the store, where git reads it."""
        source = _user_exclude(self.workspace)
        try:
            wanted = source.read_bytes() if source else b""
        except OSError:
            wanted = b""
        if wanted == self._exclude_synced:
            return
        dest = self.store / "info" / "exclude"
        try:
            current = dest.read_bytes()
        except FileNotFoundError:
            current = None
        if current != wanted:
            _atomic_write(dest, wanted)
        self._exclude_synced = wanted

    # -- snapshot -----------------------------------------------------------------------------

    def _snapshot(self, label: str, deadline: float) -> str:
        self._prepare(deadline)
        self._stage(deadline)
        tree = self._git("write-tree", deadline=deadline).decode().strip()
        chain = self._load_chain(deadline)
        # A new commit even when nothing changed: files outside the workspace may have, and
        # their records hang on this snapshot (see `preserve`).
        n = len(chain) + 1
        parent = ["-p", chain[-1]] if chain else []
        message = f"{label}\n\ncoda-session: {self.session_id}\ncoda-snapshot: {n}\n"
        now = f"@{int(time.time())} +0000"
        dates: dict[str, str | None] = {"GIT_AUTHOR_DATE": now, "GIT_COMMITTER_DATE": now}
        commit = self._git(
            "commit-tree", tree, *parent, stdin=message.encode(), env=dates, deadline=deadline
        )
        sha = commit.decode().strip()
        ref = f"refs/coda/{self.session_id}/{n}"
        self._git("update-ref", ref, sha, "", deadline=deadline)
        chain.append(sha)
        return sha

    def _stage(self, deadline: float) -> None:
        """Bring the session's index up to the workspace: few processes, no per-file ones."""
        self._drop_excluded(deadline)
        # Without --directory git lists each new file; "x/" is a nested repository.
        others = self._git("ls-files", "-z", "--others", "--exclude-standard", deadline=deadline)
        new = [p for p in _split(others) if not p.endswith("/") and self._addable(p, None)]
        # With --directory, an ignored directory is one "dir/" line, never walked.
        ignored = self._git(
            "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
            deadline=deadline,
        )  # fmt: skip
        limit = self.max_ignored_file_bytes
        small = [p for p in _split(ignored) if not p.endswith("/") and self._addable(p, limit)]
        count = _index_entries(self._index) + len(new) + len(small)
        if count > self.max_files:
            raise CheckpointError(
                f"{self.workspace} has {count:,} files to track, more than the {self.max_files:,} "
                "checkpoints handle. Add big directories to .gitignore, or start coda in a "
                "smaller directory."
            )
        # Unreadable files are reported with exit 1 and keep their previous content.
        self._git("add", "-u", "--ignore-errors", ok=(0, 1), deadline=deadline)
        if new or small:
            paths = _join(new + small)
            self._git(
                "update-index", "--add", "--remove", "-z", "--stdin", stdin=paths, deadline=deadline
            )

    def _drop_excluded(self, deadline: float) -> None:
        """Forget ignored files kept earlier that snapshots now leave out: grown past the
        limit, or inside a directory that became ignored."""
        out = self._git(
            "ls-files", "-z", "--cached", "--ignored", "--exclude-standard", deadline=deadline
        )
        kept = _split(out)
        if not kept:
            return
        limit = self.max_ignored_file_bytes
        drop = {p for p in kept if not self._addable(p, limit, missing_ok=True)}
        parents = sorted({p.rpartition("/")[0] for p in kept if "/" in p})
        if parents:
            out = self._git(
                "check-ignore",
                "--no-index",
                "-z",
                "--stdin",
                stdin=_join(parents),
                ok=(0, 1),
                deadline=deadline,
            )
            ignored_dirs = set(_split(out))
            drop.update(p for p in kept if p.rpartition("/")[0] in ignored_dirs)
        if drop:
            self._git(
                "update-index",
                "--force-remove",
                "-z",
                "--stdin",
                stdin=_join(sorted(drop)),
                deadline=deadline,
            )

    def _addable(self, rel: str, limit: int | None, *, missing_ok: bool = False) -> bool:
        """A readable regular file (no bigger than `limit`, if given) or a symlink."""
        try:
            st = os.lstat(self.workspace / rel)
        except FileNotFoundError:
            return missing_ok
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode):
            return True
        if not stat.S_ISREG(st.st_mode) or (limit is not None and st.st_size > limit):
            return False
        return os.access(self.workspace / rel, os.R_OK)

    def _load_chain(self, deadline: float) -> list[str]:
        if self._chain is None:
            out = self._git(
                "for-each-ref",
                "--format=%(refname)%00%(objectname)",
                f"refs/coda/{self.session_id}",
                deadline=deadline,
            )
            numbered = []
            for line in out.decode().splitlines():
                ref, _, sha = line.partition("\0")
                number = ref.rpartition("/")[2]
                if number.isdigit():
                    numbered.append((int(number), sha))
            self._chain = [sha for _, sha in sorted(numbered)]
        return self._chain

    # -- restore ------------------------------------------------------------------------------

    def _resolve(self, commit: str, deadline: float) -> str:
        if not commit or commit.startswith("-"):
            raise CheckpointError(f"{commit!r} is not a checkpoint id")
        out = self._git(
            "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", ok=(0, 1), deadline=deadline
        )
        if not out.strip():
            raise CheckpointError(f"no checkpoint {commit} in {self.store}")
        return out.decode().strip()

    def _tree_diff(self, commit_a: str, commit_b: str, *options: str) -> bytes:
        deadline = self._deadline()
        a, b = self._resolve(commit_a, deadline), self._resolve(commit_b, deadline)
        return self._git("diff-tree", "-r", "--no-renames", *options, a, b, deadline=deadline)

    def _diff(self, a: str, b: str, deadline: float) -> list[_Change]:
        out = self._git("diff-tree", "-r", "--no-renames", "-z", a, b, deadline=deadline)
        fields = out.split(b"\0")
        changes = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            old_mode, new_mode, old_sha, new_sha, status = meta.decode().lstrip(":").split()
            changes.append(
                _Change(status[0], old_mode, new_mode, old_sha, new_sha, os.fsdecode(path))
            )
        return changes

    def _delete(self, changes: Iterable[_Change]) -> tuple[list[str], list[str]]:
        deleted: list[str] = []
        skipped: list[str] = []
        for change in changes:
            if not _safe(change.path):
                skipped.append(change.path)
                continue
            try:
                os.unlink(self.workspace / change.path)
            except FileNotFoundError:
                continue
            except OSError:
                skipped.append(change.path)
                continue
            deleted.append(change.path)
        return deleted, skipped

    def _write(self, changes: list[_Change], read_blob: _BlobReader) -> tuple[list[str], list[str]]:
        written: list[str] = []
        skipped: list[str] = []
        dirs_ok: set[str] = set()
        for change in changes:
            try:
                done = self._write_one(change, read_blob, dirs_ok)
            except OSError:
                done = False
            (written if done else skipped).append(change.path)
        return written, skipped

    def _write_one(self, change: _Change, read_blob: _BlobReader, dirs_ok: set[str]) -> bool:
        rel = change.path
        if change.new_mode == _GITLINK or not _safe(rel) or not self._parents_ok(rel, dirs_ok):
            return False
        path = self.workspace / rel
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
        regular = {change.old_mode, change.new_mode} <= {"100644", _EXECUTABLE}
        if change.old_sha == change.new_sha and regular and st and stat.S_ISREG(st.st_mode):
            os.chmod(path, _permissions(st.st_mode, change.new_mode == _EXECUTABLE))
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_entry(path, change.new_mode, read_blob(change.new_sha), st)
        return True

    def _parents_ok(self, rel: str, dirs_ok: set[str]) -> bool:
        """Every existing ancestor is a real directory: never write through a symlink, and
        never replace a file that snapshots leave out with a directory."""
        parts = rel.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix in dirs_ok:
                continue
            try:
                st = os.lstat(self.workspace / prefix)
            except FileNotFoundError:
                return True  # the rest is created
            if not stat.S_ISDIR(st.st_mode):
                return False
            dirs_ok.add(prefix)
        return True

    def _prune(self, paths: list[str]) -> None:
        """Remove directories the deletions left empty, up to the workspace."""
        dirs = {str(Path(p).parent) for p in paths} - {"."}
        for d in sorted(dirs, key=len, reverse=True):
            current = self.workspace / d
            while current != self.workspace and current.is_relative_to(self.workspace):
                try:
                    current.rmdir()
                except OSError:
                    break
                current = current.parent

    # -- files outside the workspace ----------------------------------------------------------

    def _external(self, commit: str) -> dict[str, str | None]:
        try:
            data = json.loads((self.store / "external" / f"{commit}.json").read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"the record of files outside the workspace is damaged: {exc}"
            ) from exc
        return {str(k): (str(v) if v is not None else None) for k, v in data.items()}

    def _record(self, commit: str, paths: list[Path], deadline: float) -> None:
        records = self._external(commit)
        fresh = [p for p in paths if str(p) not in records]
        if not fresh:
            return
        for path in fresh:
            if path.is_file():
                out = self._git(
                    "hash-object", "-w", "--no-filters", "--", str(path), deadline=deadline
                )
                records[str(path)] = out.decode().strip()
            elif not os.path.lexists(path):
                records[str(path)] = None
        target = self.store / "external" / f"{commit}.json"
        _atomic_write(target, json.dumps(records, indent=1, sort_keys=True).encode())

    def _restore_external(
        self, target: str, before: str, read_blob: _BlobReader, deadline: float
    ) -> RestoreReport:
        chain = self._load_chain(deadline)
        later = chain[chain.index(target) :] if target in chain else [target]
        wanted: dict[str, str | None] = {}
        for commit in later:
            for path, blob in self._external(commit).items():
                wanted.setdefault(path, blob)
        # Keep what is there now in the "before" snapshot, so the rewind can be undone.
        self._record(before, [Path(p) for p in wanted], deadline)
        report = RestoreReport()
        for name, blob in sorted(wanted.items()):
            try:
                done = _put_external(Path(name), blob, read_blob)
            except OSError:
                report.skipped.append(name)
                continue
            if done:
                (report.written if blob else report.deleted).append(name)
        return report


class _BlobReader:
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

    def __enter__(self) -> _BlobReader:
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


def _put_external(path: Path, blob: str | None, read_blob: _BlobReader) -> bool:
    """Give a file outside the workspace its recorded bytes, or remove it; False if it
    already was that way."""
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    if blob is None:
        if st is None or stat.S_ISDIR(st.st_mode):
            return False
        path.unlink()
        return True
    data = read_blob(blob)
    if st is not None and stat.S_ISREG(st.st_mode) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _EXECUTABLE if st is not None and st.st_mode & 0o100 else "100644"
    _write_entry(path, mode, data, st)
    return True


def _global_excludes(git: str) -> str:
    """The user's global excludes file, which GIT_CONFIG_GLOBAL=/dev/null would hide."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    if "GIT_CONFIG_GLOBAL" in os.environ:
        env["GIT_CONFIG_GLOBAL"] = os.environ["GIT_CONFIG_GLOBAL"]
    try:
        proc = subprocess.run(
            [git, "config", "--global", "--path", "--get", "core.excludesFile"],
            capture_output=True,
            env=env,
            timeout=10,
        )
        configured = proc.stdout.decode().strip() if proc.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        configured = ""
    if configured:
        return configured
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    default = os.path.join(xdg, "git", "ignore")
    return default if os.path.isfile(default) else os.devnull


def _user_exclude(workspace: Path) -> Path | None:
    """`info/exclude` of the workspace's own repository, also when `.git` is a gitfile."""
    dotgit = workspace / ".git"
    if dotgit.is_dir():
        return dotgit / "info" / "exclude"
    try:
        text = dotgit.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = workspace / text.removeprefix("gitdir:").strip()
    with contextlib.suppress(OSError):  # a linked worktree: excludes live in the common dir
        gitdir = gitdir / (gitdir / "commondir").read_text().strip()
    return gitdir / "info" / "exclude"


def _index_entries(index: Path) -> int:
    try:
        with index.open("rb") as f:
            head = f.read(12)
    except FileNotFoundError:
        return 0
    if len(head) == 12 and head[:4] == b"DIRC":
        return int(struct.unpack(">I", head[8:12])[0])
    return 0


def _split(out: bytes) -> list[str]:
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def _join(paths: list[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


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


def _write_entry(path: Path, mode: str, data: bytes, old: os.stat_result | None) -> None:
    """Put a file or symlink at `path` by renaming a finished temporary file over it, keeping
    the old file's permission bits apart from the executable bit."""
    tmp = path.with_name(f".coda-restore-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        if mode == _SYMLINK:
            os.symlink(os.fsdecode(data), tmp)
        else:
            executable = mode == _EXECUTABLE
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


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
