"""The shadow git store: running git against it, its environment, and setting it up."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

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


class CheckpointError(Exception):
    """A snapshot, restore or preserve failed; the message says why and what to do."""


class ShadowRepo:
    """One session's view of the shared store `store`: git with GIT_DIR=store,
    GIT_WORK_TREE=workspace and the session's own index."""

    def __init__(
        self,
        workspace: Path,
        store: Path,
        session_id: str,
        *,
        timeout: float,
        git: str | None,
    ) -> None:
        # The id names a file and a ref component, so it must be safe for both.
        if not _SESSION_ID.fullmatch(session_id) or session_id.endswith(".lock"):
            raise ValueError(f"session id {session_id!r} is not usable as a file or ref name")
        self.workspace = Path(os.path.abspath(workspace))
        self.store = Path(os.path.abspath(store))
        self.session_id = session_id
        self.timeout = timeout
        self.index = self.store / "indexes" / session_id
        self._git_exe = git
        self._argv: list[str] | None = None
        self._env: dict[str, str] | None = None
        self._store_ready = False
        self._chain: list[str] | None = None  # this session's snapshots, oldest first
        self._exclude_synced: bytes | None = None

    # -- running git --------------------------------------------------------------------------

    def deadline(self) -> float:
        return time.monotonic() + self.timeout

    def git(
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
        full_env = dict(self.environment())
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        try:
            proc = subprocess.run(
                [*self.argv(), *args],
                input=stdin,
                capture_output=True,
                cwd=self.workspace,
                env=full_env,
                timeout=remaining,
            )
        except subprocess.TimeoutExpired:
            # A killed writer leaves its lock behind, which would fail every later call.
            self.index.with_name(self.index.name + ".lock").unlink(missing_ok=True)
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

    def argv(self) -> list[str]:
        if self._argv is None:
            exe = self._git_exe or shutil.which("git")
            if exe is None:
                raise CheckpointError(
                    "git is not installed (or not on PATH); checkpoints need it. Install git to "
                    "be able to rewind file changes."
                )
            self._argv = [exe, "-c", f"core.excludesFile={_global_excludes(exe)}"]
        return self._argv

    def environment(self) -> dict[str, str]:
        if self._env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            env.update(
                GIT_DIR=str(self.store),
                GIT_WORK_TREE=str(self.workspace),
                GIT_INDEX_FILE=str(self.index),
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

    def prepare(self, deadline: float) -> None:
        if not self.workspace.is_dir():
            raise CheckpointError(f"the workspace {self.workspace} is not a directory")
        if not self._store_ready:
            self._init_store(deadline)
            self._store_ready = True
        if not self.index.exists():
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
            self.git("init", "-q", "--bare", "--template=", deadline=deadline, env=env)
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
        tmp = self.index.with_name(self.index.name + ".tmp")
        try:
            shutil.copyfile(newest, tmp)
            os.replace(tmp, self.index)
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
            atomic_write(dest, wanted)
        self._exclude_synced = wanted

    # -- snapshots in the store ---------------------------------------------------------------

    def load_chain(self, deadline: float) -> list[str]:
        if self._chain is None:
            out = self.git(
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

    def resolve(self, commit: str, deadline: float) -> str:
        if not commit or commit.startswith("-"):
            raise CheckpointError(f"{commit!r} is not a checkpoint id")
        out = self.git(
            "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", ok=(0, 1), deadline=deadline
        )
        if not out.strip():
            raise CheckpointError(f"no checkpoint {commit} in {self.store}")
        return out.decode().strip()


# -- helpers --------------------------------------------------------------------------------


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


def split(out: bytes) -> list[str]:
    """NUL-separated paths from git, as `str`."""
    return [os.fsdecode(p) for p in out.split(b"\0") if p]


def join(paths: list[str]) -> bytes:
    """Paths as NUL-terminated bytes for git's `-z --stdin`."""
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
