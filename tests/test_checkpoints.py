"""Workspace checkpoints: snapshots and byte-exact restores on a shadow git repo, real git."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from coda.checkpoints import CheckpointError, Checkpoints

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

LIMIT = 1024  # max_ignored_file_bytes in these tests
NON_UTF8_NAME = os.fsdecode(b"caf\xe9-latin1.txt")


@pytest.fixture(autouse=True)
def _no_user_git_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's own git config and global excludes must not change what these tests see."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        # `git status` must not refresh the user's index: the test hashes .git.
        "GIT_OPTIONAL_LOCKS": "0",
    }
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def tree_state(root: Path) -> dict[str, tuple[str, int]]:
    """Every file, symlink and directory under root (but .git): content hash and mode."""
    state: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in dirnames:
            dirnames.remove(".git")
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                state[rel] = ("link:" + os.readlink(path), st.st_mode)
            elif stat.S_ISDIR(st.st_mode):
                state[rel] = ("dir", st.st_mode)
            else:
                state[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode)
    return state


def dir_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def snapshot_paths(cp: Checkpoints, commit: str) -> set[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(cp.store), "ls-tree", "-r", "-z", "--name-only", commit],
        capture_output=True,
        check=True,
    ).stdout
    return {os.fsdecode(p) for p in out.split(b"\0") if p}


def make_user_repo(ws: Path) -> None:
    ws.mkdir()
    git(ws, "init", "-q")
    write(ws / ".gitignore", "node_modules/\n*.log\n.env\n")
    write(ws / "a.txt", "alpha\n")
    write(ws / "b.txt", "beta\n")
    write(ws / "README.md", "# project\n")
    write(ws / "src" / "main.py", "print('main')\n")
    write(ws / "src" / "util.py", "def util(): pass\n")
    write(ws / "src" / "pkg" / "deep.py", "DEEP = 1\n")
    write(ws / "docs" / "guide.md", "guide\n")
    write(ws / "docs" / "img" / "logo.bin", bytes(range(256)))
    write(ws / "crlf.txt", b"one\r\ntwo\r\n")
    write(ws / "latin1.txt", b"caf\xe9 cr\xe8me\n")
    write(ws / NON_UTF8_NAME, b"odd name\n")
    write(ws / "script.sh", "#!/bin/sh\necho hi\n").chmod(0o755)
    (ws / "link").symlink_to("a.txt")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "initial")
    write(ws / "README.md", "# project\n\nstaged change\n")
    git(ws, "add", "README.md")
    write(ws / "untracked.txt", "not added\n")
    write(ws / "node_modules" / "lib" / "index.js", "module.exports = 1\n")
    write(ws / "app.log", "small ignored log\n")
    write(ws / "big.log", b"x" * (LIMIT * 4))
    write(ws / ".env", "SECRET=1\n").chmod(0o600)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    make_user_repo(tmp_path / "ws")
    return tmp_path / "ws"


def checkpoints(ws: Path, session: str = "s1", **kwargs: object) -> Checkpoints:
    store = ws.parent / "data" / "projects" / "p" / "shadow.git"
    return Checkpoints(ws, store, session, max_ignored_file_bytes=LIMIT, **kwargs)  # type: ignore[arg-type]


def test_snapshot_covers_tracked_untracked_and_small_ignored_files(ws: Path) -> None:
    cp = checkpoints(ws)
    paths = snapshot_paths(cp, cp.snapshot("first"))
    for expected in (
        "a.txt",
        "README.md",
        "untracked.txt",
        ".env",
        "app.log",
        "link",
        "src/pkg/deep.py",
        NON_UTF8_NAME,
        ".gitignore",
    ):
        assert expected in paths
    assert "big.log" not in paths
    assert not any(p.startswith(("node_modules", ".git/")) for p in paths)


def test_restore_undoes_every_kind_of_change_and_leaves_excluded_files(ws: Path) -> None:
    cp = checkpoints(ws)
    status_before = git(ws, "status", "--porcelain")
    staged_before = git(ws, "diff", "--cached")
    state_before = tree_state(ws)
    git_before = dir_hashes(ws / ".git")
    snap = cp.snapshot("before the agent")

    write(ws / "src" / "main.py", "print('edited')\n")  # (a) edit
    write(ws / "new.txt", "new\n")  # (b) new files, one in a new directory tree
    write(ws / "fresh" / "deeper" / "x.py", "x\n")
    subprocess.run(["bash", "-c", "rm a.txt; mv b.txt c.txt"], cwd=ws, check=True)  # (c)
    (ws / "src" / "pkg" / "deep.py").chmod(0o755)  # (d)
    (ws / "src" / "util.py").unlink()  # (e) a file becomes a symlink
    (ws / "src" / "util.py").symlink_to("main.py")
    shutil.rmtree(ws / "docs")  # (f)
    write(ws / "crlf.txt", b"one\ntwo\n")
    write(ws / ".env", "SECRET=leaked\n")
    write(ws / "big.log", b"y" * (LIMIT * 5))  # excluded: must survive the restore
    write(ws / "node_modules" / "lib" / "added.js", "2\n")
    changed_excluded = {k: v for k, v in tree_state(ws).items() if k.startswith(("node_", "big"))}

    report = cp.restore(snap)

    expected = {k: v for k, v in state_before.items() if not k.startswith(("node_", "big"))}
    expected.update(changed_excluded)
    assert tree_state(ws) == expected
    assert not (ws / "fresh").exists() and not (ws / "c.txt").exists()
    assert dir_hashes(ws / ".git") == git_before
    assert git(ws, "status", "--porcelain") == status_before
    assert git(ws, "diff", "--cached") == staged_before != ""
    assert (ws / ".env").read_text() == "SECRET=1\n"
    assert {"a.txt", "b.txt", "src/main.py", "docs/guide.md", ".env"} <= set(report.written)
    assert {"new.txt", "c.txt", "fresh/deeper/x.py"} <= set(report.deleted)
    assert "big.log" not in report.written + report.deleted


def test_restore_only_touches_changed_files(ws: Path) -> None:
    cp = checkpoints(ws)
    snap = cp.snapshot("one")
    untouched, chmodded = ws / "src" / "pkg" / "deep.py", ws / "b.txt"
    inodes = untouched.stat().st_ino, chmodded.stat().st_ino
    write(ws / "a.txt", "changed\n")
    chmodded.chmod(0o755)
    report = cp.restore(snap)
    assert report.written == ["a.txt", "b.txt"] and report.deleted == []
    # Untouched files stay as they are, a mode change is a chmod, not a rewrite.
    assert (untouched.stat().st_ino, chmodded.stat().st_ino) == inodes
    assert chmodded.stat().st_mode & 0o777 == 0o644


def test_restoring_an_older_snapshot_after_several_and_undoing_it(ws: Path) -> None:
    cp = checkpoints(ws)
    states, snaps = [], []
    for i in range(4):
        write(ws / "a.txt", f"version {i}\n")
        write(ws / f"added{i}.txt", f"{i}\n")
        if i == 2:
            (ws / "src" / "main.py").unlink()
        states.append(tree_state(ws))
        snaps.append(cp.snapshot(f"step {i}"))
    assert cp.latest() == snaps[-1]

    report = cp.restore(snaps[1])
    assert tree_state(ws) == states[1]
    assert (ws / "a.txt").read_text() == "version 1\n"
    cp.restore(snaps[0])
    assert tree_state(ws) == states[0]
    cp.restore(report.before)  # undo the first rewind: back to the newest state
    assert tree_state(ws) == states[3]


def test_crlf_and_non_utf8_bytes_round_trip_despite_gitattributes(ws: Path) -> None:
    write(ws / ".gitattributes", "* text=auto eol=lf\n*.txt ident\n")
    # Text that the attributes would rewrite on the way in: CRLF to LF, $Id: …$ collapsed.
    raw = b"$Id: kept as is $\r\nmixed\nendings\r\ncaf\xe9\r\n"
    write(ws / "win.txt", raw)
    cp = checkpoints(ws)
    snap = cp.snapshot("crlf")
    write(ws / "win.txt", b"lf only\n")
    write(ws / NON_UTF8_NAME, b"changed\n")
    write(ws / os.fsdecode(b"\xe9t\xe9.txt"), b"new odd name\n")
    cp.restore(snap)
    assert (ws / "win.txt").read_bytes() == raw
    assert (ws / "crlf.txt").read_bytes() == b"one\r\ntwo\r\n"
    assert (ws / NON_UTF8_NAME).read_bytes() == b"odd name\n"
    assert not (ws / os.fsdecode(b"\xe9t\xe9.txt")).exists()


def test_a_workspace_that_is_not_a_git_repository(tmp_path: Path) -> None:
    ws = tmp_path / "plain"
    write(ws / "notes.md", "notes\n")
    write(ws / "lib" / "code.py", "x = 1\n")
    cp = checkpoints(ws)
    before = tree_state(ws)
    snap = cp.snapshot("plain")
    shutil.rmtree(ws / "lib")
    write(ws / "notes.md", "rewritten\n")
    write(ws / "tmp" / "scratch.txt", "scratch\n")
    cp.restore(snap)
    assert tree_state(ws) == before
    assert not (ws / ".git").exists()


def test_files_outside_the_workspace_are_preserved_and_restored(ws: Path) -> None:
    outside = ws.parent / "outside"
    edited = write(outside / "config.toml", "original = true\n")
    later = write(outside / "later.txt", "untouched until the second snapshot\n")
    created = outside / "made" / "by_coda.txt"
    cp = checkpoints(ws)
    first = cp.snapshot("first")
    for path in (edited, created):
        cp.preserve(path)
    write(edited, "edited = 1\n")
    write(created, "created\n")
    cp.preserve(edited)  # already recorded for this snapshot: must keep the original
    write(edited, "edited = 2\n")
    second = cp.snapshot("second")
    cp.preserve(later)
    write(later, "changed after the second snapshot\n")
    cp.preserve(ws / "a.txt")  # inside the workspace: snapshots cover it

    report = cp.restore(first)
    assert edited.read_text() == "original = true\n"
    assert later.read_text() == "untouched until the second snapshot\n"
    assert not created.exists()
    assert str(created) in report.deleted and str(edited) in report.written

    cp.restore(second)  # edited and created as they were at the second snapshot
    assert edited.read_text() == "edited = 2\n"
    assert created.read_text() == "created\n"
    assert later.read_text() == "untouched until the second snapshot\n"

    cp.restore(report.before)  # undo the first rewind
    assert later.read_text() == "changed after the second snapshot\n"


def test_preserve_needs_a_snapshot_first(ws: Path) -> None:
    cp = checkpoints(ws)
    with pytest.raises(CheckpointError, match="no snapshot yet"):
        cp.preserve(ws.parent / "elsewhere.txt")


def test_two_sessions_sharing_a_store_do_not_disturb_each_other(ws: Path) -> None:
    one, two = checkpoints(ws, "one"), checkpoints(ws, "two")
    state_one = tree_state(ws)
    snap_one = one.snapshot("one")
    write(ws / "a.txt", "session two was here\n")
    write(ws / "two.txt", "two\n")
    state_two = tree_state(ws)
    assert two.latest() is None
    indexes = one.store / "indexes"
    # Session two starts from a copy of session one's index, for its stat cache.
    assert (indexes / "two").read_bytes() == (indexes / "one").read_bytes()
    snap_two = two.snapshot("two")

    write(ws / "a.txt", "later\n")
    one.restore(snap_one)
    assert tree_state(ws) == state_one
    assert two.latest() == snap_two
    two.restore(snap_two)
    assert tree_state(ws) == state_two
    assert one.changed_files(snap_one, snap_two) == ["a.txt", "two.txt"]
    assert "2 files changed" in one.diff_stat(snap_one, snap_two)
    refs = git(ws.parent, "--git-dir", str(one.store), "for-each-ref", "--format=%(refname)")
    assert sorted(refs.split()) == [
        "refs/coda/one/1",
        "refs/coda/one/2",
        "refs/coda/two/1",
        "refs/coda/two/2",
    ]


def test_nested_repositories_are_left_out_and_left_alone(ws: Path) -> None:
    nested = ws / "vendor" / "lib"
    write(nested / "code.c", "int main;\n")
    git(nested, "init", "-q")  # no commit: `git add -A` would fail on it
    cloned = ws / "clone"
    write(cloned / "file.txt", "clone\n")
    git(cloned, "init", "-q")
    git(cloned, "add", "-A")
    git(cloned, "commit", "-qm", "c")
    cp = checkpoints(ws)
    snap = cp.snapshot("nested")
    paths = snapshot_paths(cp, snap)
    assert not any(p.startswith(("vendor/", "clone")) for p in paths)
    write(nested / "code.c", "changed\n")
    cp.restore(snap)
    assert (nested / "code.c").read_text() == "changed\n"
    assert (cloned / "file.txt").read_text() == "clone\n"


def test_excluded_files_grow_out_and_ignored_directories_drop_out(ws: Path) -> None:
    write(ws / "build" / "out.txt", "built\n")
    cp = checkpoints(ws)
    first = snapshot_paths(cp, cp.snapshot("first"))
    assert {"build/out.txt", ".env"} <= first
    write(ws / ".gitignore", "node_modules/\n*.log\n.env\nbuild/\n")
    write(ws / ".env", b"=" * (LIMIT + 1))
    second = snapshot_paths(cp, cp.snapshot("second"))
    assert "build/out.txt" not in second and ".env" not in second
    assert "app.log" in second


def test_user_global_excludes_apply(ws: Path) -> None:
    home = Path(os.environ["HOME"])
    write(home / "my-ignores", "*.iso\ncache/\n")
    write(home / ".gitconfig", f"[core]\n\texcludesFile = {home / 'my-ignores'}\n")
    write(ws / "disk.iso", b"i" * (LIMIT * 2))
    write(ws / "cache" / "entry.txt", "c\n")
    write(ws / "small.iso", "s\n")
    cp = checkpoints(ws)
    paths = snapshot_paths(cp, cp.snapshot("global"))
    assert "small.iso" in paths  # ignored but small
    assert "disk.iso" not in paths and "cache/entry.txt" not in paths


def test_user_info_exclude_applies(ws: Path) -> None:
    write(ws / ".git" / "info" / "exclude", "secret/\n")
    write(ws / "secret" / "key.pem", b"k" * (LIMIT * 2))
    write(ws / "secret" / "small.txt", "s\n")
    cp = checkpoints(ws)
    assert not any(p.startswith("secret/") for p in snapshot_paths(cp, cp.snapshot("x")))


def test_a_file_now_held_by_a_big_ignored_file_is_skipped(ws: Path) -> None:
    cp = checkpoints(ws)
    snap = cp.snapshot("small log")
    write(ws / "app.log", b"L" * (LIMIT * 3))
    report = cp.restore(snap)
    assert report.skipped == ["app.log"]
    assert (ws / "app.log").read_bytes() == b"L" * (LIMIT * 3)


def test_a_file_that_replaced_a_directory_and_back(ws: Path) -> None:
    cp = checkpoints(ws)
    snap = cp.snapshot("dir")
    before = tree_state(ws)
    shutil.rmtree(ws / "src")
    write(ws / "src", "now a file\n")
    cp.restore(snap)
    assert tree_state(ws) == before
    (ws / "a.txt").unlink()
    write(ws / "a.txt" / "inside.txt", "a.txt is a directory now\n")
    cp.restore(snap)
    assert tree_state(ws) == before


def test_too_many_files_is_a_clear_error(ws: Path) -> None:
    cp = checkpoints(ws, max_files=5)
    with pytest.raises(CheckpointError, match=r"more than the 5 checkpoints handle"):
        cp.snapshot("too big")


def test_running_out_of_time_is_a_clear_error(ws: Path) -> None:
    cp = checkpoints(ws, timeout=0.0)
    with pytest.raises(CheckpointError, match="did not finish within"):
        cp.snapshot("slow")


def test_a_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is not a directory"):
        checkpoints(tmp_path / "gone").snapshot("nothing there")


def test_missing_git_is_a_clear_error(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="git is not installed"):
        checkpoints(ws).snapshot("no git")


def test_unknown_checkpoint_and_bad_session_id(ws: Path) -> None:
    cp = checkpoints(ws)
    cp.snapshot("one")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        cp.restore("0" * 40)
    with pytest.raises(ValueError, match="not usable"):
        checkpoints(ws, "../escape")
