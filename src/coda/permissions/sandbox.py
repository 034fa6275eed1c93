"""Runs Bash commands in bubblewrap: read-only system, writable workspace, no network.

The workspace's own configuration stays read-only, /tmp is private, denied paths are hidden,
and only the allowed domains are reachable, through coda's proxy.

Each command becomes

    sh -c LAUNCHER  flock -s -o LOCK…  bwrap OPTIONS --  [netbridge PORT SOCK --]  COMMAND

The mounts, in the order bwrap applies them (deeper paths later, so they win):

- `/` read-only, a fresh `/dev` and `/proc`, an empty `/run` (host sockets such as an SSH
  agent or the Docker daemon live there), and a `/tmp` of the session's own: a directory of
  coda's, so that what one command leaves in /tmp the next one (or a background job) finds,
  as on the host, while the host's /tmp stays out of sight;
- the workspace directories and the runner's state directory bound writable;
- protected paths in the workspace (`.coda`, `.claude`, `.mcp.json`, `.git/hooks`,
  `.git/config`, and the extra `protected` list) bound read-only over themselves. Each
  directory between the workspace root and a protected path is bound writable over itself,
  which makes it a mount point: `mv .git x && mkdir -p .git/hooks` fails, as does `rm -rf .git`;
- read-denied paths hidden: an empty read-only tmpfs over a directory, /dev/null over a file.

A protected path that does not exist must not be creatable either, so a placeholder is mounted
at its first missing component (no `.git` means `git init` fails in the sandbox): an empty
read-only directory, which no file or directory can be created over. The mount point has to
exist in the real workspace, so bwrap makes it there (`--perms 1555 --dir`): mode 1555 marks it
as a placeholder for every coda session, which mounts the same one rather than nesting its own
inside. Removing a placeholder while any sandbox runs would silently unmount it in there, so
every sandbox holds a shared flock on each workspace directory itself for its whole life (flock
runs bwrap and waits for it; with `--unshare-pid` bwrap exits only once every process in the
sandbox is gone; `-o` keeps the lock's descriptor out of the sandbox, which cannot unlock it),
and placeholders are removed, under the exclusive lock, by the last sandbox to end, or later by
`sweep()` when a sandbox was killed before it could.

Signals: the Bash tool stops a command by signalling its process group, SIGTERM first. bwrap
would die of it at once and, with `--die-with-parent`, SIGKILL the sandbox with it; so the
launcher ignores SIGTERM for itself, flock and bwrap, and the command gets it back at its
default (`env --default-signal`, or the netbridge), keeping the usual grace period.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from coda.permissions.proxy import DomainProxy

# Kept read-only inside every workspace directory: what coda, Claude Code, MCP and git would
# later load or run outside the sandbox.
PROTECTED = (".coda", ".claude", ".mcp.json", ".git/hooks", ".git/config")
# The mode of a placeholder directory: sticky and read-only, which nothing else has.
PLACEHOLDER_MODE = 0o1555
# Empty inside the sandbox: /tmp is the session's own directory, /run a fresh tmpfs each time.
TMP, RUN = Path("/tmp"), Path("/run")
# Where HTTP_PROXY points inside the sandbox; its network namespace is its own, so any port works.
BRIDGE_PORT = 3128
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_CHECK_SECONDS = 10.0

# Mount order among paths of the same depth: /tmp and /run, writable, the protected path's
# writable ancestors, protected, hidden.
_PRIVATE, _WRITABLE, _ANCESTOR, _PROTECTED, _HIDDEN = range(5)


@dataclass(frozen=True, slots=True)
class _Mount:
    path: Path
    rank: int
    args: tuple[str, ...]

    def key(self) -> tuple[int, int]:
        return len(self.path.parts), self.rank


@dataclass(frozen=True, slots=True)
class _Plan:
    """One command's bwrap options, and the placeholders it may leave by workspace directory."""

    options: list[str]
    placeholders: dict[Path, list[Path]]
    # The workspace directories to hold a shared lock on while the sandbox runs.
    locks: list[Path]


class BubblewrapSandbox:
    """The `Sandbox` of the Bash tool on Linux; also a SessionResource (it may run a proxy)."""

    def __init__(
        self,
        workspace: Sequence[Path],
        protected: Sequence[Path] = (),
        deny_read: Sequence[Path] = (),
        allowed_domains: Sequence[str] = (),
        *,
        bwrap: str = "bwrap",
    ) -> None:
        self.workspace = _unique(Path(os.path.realpath(p)) for p in workspace)
        # Relative entries apply under each workspace directory, like the built-in names.
        self.protected = list(protected)
        self.deny_read = [Path(os.path.realpath(p)) for p in deny_read]
        self.allowed_domains = [d.strip() for d in allowed_domains if d.strip()]
        self._bwrap = bwrap
        # Made now, so that a malformed entry is reported at start-up; it listens on first use.
        self._proxy = DomainProxy(self.allowed_domains) if self.allowed_domains else None
        self._run_dir: Path | None = None

    @classmethod
    def check(cls, bwrap: str = "bwrap") -> str | None:
        """None if sandboxed commands can run here; otherwise what is wrong and the fix."""
        found = shutil.which(bwrap)
        if found is None:
            return "bubblewrap is missing: apt-get install bubblewrap (or dnf install bubblewrap)"
        for tool, package in (("flock", "util-linux"), ("find", "findutils")):
            if shutil.which(tool) is None:
                return f"{tool} is missing, which the sandbox needs: apt-get install {package}"
        argv = [found, *_base_options(), "--", "true"]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=_CHECK_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bubblewrap could not be run: {e}"
        if proc.returncode == 0:
            return None
        return _diagnose(proc.stderr.strip())

    def wrap(
        self, argv: list[str], *, cwd: Path, env: dict[str, str], extra_writable: list[Path]
    ) -> tuple[list[str], dict[str, str]]:
        """`argv` as a confined command line, and the environment to start it with."""
        run_dir = self._ensure_run_dir()
        self.sweep()
        socket_path = self._ensure_proxy(run_dir)
        plan = self._plan(cwd, extra_writable)
        env = dict(env)
        inner = list(argv)
        graceful = _default_signal_env() is not None
        if socket_path is not None:
            # A copy beside the proxy socket: that directory is bound into the sandbox,
            # while coda's own files may sit under the host /tmp, which the sandbox hides.
            bridge = socket_path.parent / "netbridge.py"
            if not bridge.exists():
                shutil.copyfile(Path(__file__).with_name("netbridge.py"), bridge)
            inner = [sys.executable, "-I", "-S", str(bridge), str(BRIDGE_PORT)]
            inner += [str(socket_path), "--", *argv]
            env.update(self._proxy_env())
        elif graceful:
            inner = [str(_default_signal_env()), "--default-signal=TERM", *argv]
        flocks: list[str] = []
        for lock in plan.locks:
            flocks += [_tool("flock"), "-s", "-o", str(lock)]
        bwrap = _tool(self._bwrap)
        script = _launcher(plan.placeholders, graceful)
        wrapped = ["/bin/sh", "-c", script, "coda-sandbox", *flocks, bwrap, *plan.options]
        return [*wrapped, "--", *inner], env

    def sweep(self) -> None:
        """Remove the placeholders of sandboxes that ended without doing it, if none runs now."""
        for lock, paths in sorted(self._placeholders().items()):
            if not any(_is_placeholder(p) for p in paths):
                continue
            with _exclusive(lock) as free:
                if free:
                    for path in paths:
                        if _is_placeholder(path):
                            with contextlib.suppress(OSError):
                                path.rmdir()

    async def aclose(self) -> None:
        """Stop the proxy and clean up; the shell and its jobs should be closed first."""
        if self._proxy is not None:
            await self._proxy.aclose()
        if self._run_dir is None:
            return  # never used, or closed already
        self.sweep()
        # The session's /tmp goes with it.
        shutil.rmtree(self._run_dir, ignore_errors=True)
        self._run_dir = None

    # -- building the command line --

    def _plan(self, cwd: Path, extra_writable: Iterable[Path]) -> _Plan:
        tmp = str(self._ensure_run_dir() / "tmp")
        mounts = [
            _Mount(TMP, _PRIVATE, ("--bind", tmp, str(TMP))),
            _Mount(RUN, _PRIVATE, ("--tmpfs", str(RUN))),
        ]
        roots = [r for r in self.workspace if r.is_dir()]
        extra = [Path(os.path.realpath(p)) for p in extra_writable if os.path.isdir(p)]
        for path in [*roots, *extra]:
            mounts.append(_Mount(path, _WRITABLE, ("--bind", str(path), str(path))))
        if self._proxy is not None and self._proxy.path is not None:
            net = self._proxy.path.parent
            mounts.append(_Mount(net, _WRITABLE, ("--ro-bind", str(net), str(net))))
        seen: set[Path] = set()
        for mount, _ in self._protections():
            if mount.path not in seen:
                seen.add(mount.path)
                mounts.append(mount)
        remount: list[str] = []
        for path in self.deny_read:
            hidden = _hide(path)
            if hidden is not None:
                mounts.append(hidden)
                if hidden.args[0] == "--tmpfs":
                    # Read-only only at the end: mounts below it may still need mount points.
                    remount += ["--remount-ro", str(path)]
        mounts.sort(key=_Mount.key)
        options = [*_base_options(), *(a for m in mounts for a in m.args), *remount]
        options += ["--chdir", str(cwd)]
        # Every sandbox holds the locks, placeholders or not: see the module's docstring.
        return _Plan(options, self._placeholders(), sorted(roots))

    def _protections(self) -> Iterator[tuple[_Mount, bool]]:
        """The mounts keeping protected paths read-only, each with whether it is a placeholder."""
        for root in self.workspace:
            if not root.is_dir():
                continue
            for rel in self._protected_under(root):
                yield from self._protect(root, rel)

    def _placeholders(self) -> dict[Path, list[Path]]:
        """Where placeholders go now, by the workspace directory holding them (and its lock)."""
        found: dict[Path, list[Path]] = {}
        for mount, placeholder in self._protections():
            owner = _root_of(mount.path, self)
            if placeholder and owner is not None:
                paths = found.setdefault(owner, [])
                if mount.path not in paths:
                    paths.append(mount.path)
        return found

    def _protected_under(self, root: Path) -> Iterator[Path]:
        for name in PROTECTED:
            yield Path(name)
        for extra in self.protected:
            path = Path(os.path.realpath(root / extra))
            if path == root or not path.is_relative_to(root):
                continue
            if _root_of(path, self) != root:
                continue  # handled under the deeper workspace directory that holds it
            yield path.relative_to(root)

    def _protect(self, root: Path, rel: Path) -> Iterator[tuple[_Mount, bool]]:
        """The mounts keeping `root/rel` read-only, each with whether it is a placeholder."""
        target = Path(os.path.realpath(root / rel))
        if target != root / rel:
            # A symlink: protect what it points to, if that is in a writable place at all.
            owner = _root_of(target, self)
            if owner is None:
                return
            root, rel = owner, target.relative_to(owner)
        path = root
        for i, part in enumerate(rel.parts):
            path = path / part
            last = i == len(rel.parts) - 1
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                mode = None
            if mode is None or _is_placeholder(path):
                where = str(path)
                empty = str(self._empty_dir())
                make = ("--perms", oct(PLACEHOLDER_MODE)[2:], "--dir", where)
                yield _Mount(path, _PROTECTED, (*make, "--ro-bind", empty, where)), True
                return
            if last or not stat.S_ISDIR(mode):
                # A file where a directory was expected (a worktree's `.git`) is kept as it is,
                # so it cannot be swapped for a directory with hooks in it.
                yield _Mount(path, _PROTECTED, ("--ro-bind", str(path), str(path))), False
                return
            yield _Mount(path, _ANCESTOR, ("--bind", str(path), str(path))), False

    def _proxy_env(self) -> dict[str, str]:
        url = f"http://127.0.0.1:{BRIDGE_PORT}"
        env = {}
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
            env[name] = env[name.lower()] = url
        # The sandbox's own loopback stays direct, except names the list sends to the host.
        proxy = self._proxy
        local = [n for n in _LOOPBACK_NAMES if proxy is None or not _names_host(proxy, n)]
        env["NO_PROXY"] = env["no_proxy"] = ",".join(local)
        return env

    # -- session state --

    def _ensure_run_dir(self) -> Path:
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="coda-sandbox-run-"))
            (self._run_dir / "empty").mkdir(mode=0o555)
            (self._run_dir / "net").mkdir(mode=0o700)
            (self._run_dir / "tmp").mkdir()
            (self._run_dir / "tmp").chmod(0o1777)  # as /tmp is; the run directory is 0700
        return self._run_dir

    def _empty_dir(self) -> Path:
        return self._ensure_run_dir() / "empty"

    def _ensure_proxy(self, run_dir: Path) -> Path | None:
        """The proxy's socket, listening from now on; None when no domain is allowed."""
        if self._proxy is None:
            return None
        if self._proxy.path is None:
            self._proxy.start(run_dir / "net" / "proxy.sock")
        return self._proxy.path


def _base_options() -> list[str]:
    return [
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        # As root bwrap keeps every capability, with which the command could unmount the
        # read-only binds; as another user this changes nothing.
        "--cap-drop", "ALL",
    ]  # fmt: skip


def _launcher(placeholders: dict[Path, list[Path]], graceful: bool) -> str:
    """The sh script around flock and bwrap: clean up after, report a signal as a signal."""
    lines = ["trap '' TERM"] if graceful else []
    lines += ['"$@"', "s=$?"]
    mode = oct(PLACEHOLDER_MODE)[2:]
    for lock, paths in sorted(placeholders.items()):
        quoted = " ".join(shlex.quote(str(p)) for p in paths)
        lines.append(
            f"{_tool('flock')} -x -n {shlex.quote(str(lock))} {_tool('find')} {quoted} "
            f"-maxdepth 0 -type d -perm {mode} -empty -delete 2>/dev/null"
        )
    # bwrap reports a command killed by signal N as 128 + N; re-raise the terminating ones.
    lines.append(
        'if [ "$s" -gt 128 ] && [ "$s" -le 143 ]; then '
        "ulimit -c 0; trap - TERM; kill -$((s - 128)) $$; fi"
    )
    lines.append('exit "$s"')
    return "\n".join(lines) + "\n"


def _hide(path: Path) -> _Mount | None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # nothing there to read
    if stat.S_ISDIR(mode):
        return _Mount(path, _HIDDEN, ("--tmpfs", str(path)))
    return _Mount(path, _HIDDEN, ("--ro-bind", "/dev/null", str(path)))


def _is_placeholder(path: Path) -> bool:
    """A mount point a sandbox made for a missing protected path, and still nothing else."""
    try:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != PLACEHOLDER_MODE:
            return False
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[bool]:
    """Hold the lock on a workspace directory exclusively if no sandbox holds it."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _root_of(path: Path, sandbox: BubblewrapSandbox) -> Path | None:
    """The deepest workspace directory holding `path`."""
    holders = [r for r in sandbox.workspace if path == r or path.is_relative_to(r)]
    return max(holders, key=lambda r: len(r.parts), default=None)


def _names_host(proxy: DomainProxy, name: str) -> bool:
    return any(rule.host == name and not rule.wildcard for rule in proxy.rules)


def _unique(paths: Iterable[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


@functools.cache
def _tool(name: str) -> str:
    return shutil.which(name) or name


@functools.cache
def _default_signal_env() -> str | None:
    """`env` if it can reset a signal to its default (coreutils 8.31 and later)."""
    env = shutil.which("env")
    if env is None:
        return None
    probe = subprocess.run([env, "--default-signal=TERM", "true"], capture_output=True, check=False)
    return env if probe.returncode == 0 else None


def _diagnose(stderr: str) -> str:
    text = stderr.lower()
    if "mount proc" in text:
        return (
            "bubblewrap cannot mount /proc here, as in a container that masks it: run coda "
            f"outside the container or turn sandbox.enabled off. bwrap said: {stderr}"
        )
    if "loopback" in text or "rtnetlink" in text:
        return f"bubblewrap cannot set up a private network here. bwrap said: {stderr}"
    if "namespace" in text or "uid map" in text or "operation not permitted" in text:
        return (
            "user namespaces are disabled, so bubblewrap cannot run: "
            "sysctl -w kernel.unprivileged_userns_clone=1 (Debian), "
            "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (Ubuntu 23.10 and later), "
            f"or raise user.max_user_namespaces (RHEL). bwrap said: {stderr}"
        )
    return f"bubblewrap does not work here: {stderr or 'it failed without a message'}"
