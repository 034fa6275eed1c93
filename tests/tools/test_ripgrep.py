"""Finding rg, and the helpers the fallback shares with Glob and Grep."""

from __future__ import annotations

import os
import subprocess
import sysconfig
from pathlib import Path

from coda.tools.ripgrep import expand_braces, find_rg, walk_files
from tests.tools.conftest import git_init, write


def test_prefers_the_copy_beside_the_interpreter(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    fake = write(scripts, "rg", "#!/bin/sh\n")
    fake.chmod(0o755)
    on_path = tmp_path / "bin"
    write(on_path, "rg", "#!/bin/sh\n").chmod(0o755)
    assert find_rg(scripts_dir=str(scripts), search_path=str(on_path)) == str(fake)


def test_falls_back_to_path_then_to_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    on_path = tmp_path / "bin"
    write(on_path, "rg", "#!/bin/sh\n").chmod(0o755)
    write(empty, "rg", "not executable")  # present but unusable: skipped
    assert find_rg(scripts_dir=str(empty), search_path=str(on_path)) == str(on_path / "rg")
    assert find_rg(scripts_dir=str(tmp_path), search_path=str(tmp_path)) is None


def test_default_finds_the_wheel_binary() -> None:
    found = find_rg()
    assert found is not None and os.access(found, os.X_OK)
    beside = Path(sysconfig.get_path("scripts"), "rg")
    if beside.exists():
        assert found == str(beside)


def test_expand_braces() -> None:
    assert expand_braces("*.py") == ["*.py"]
    assert expand_braces("*.{ts,tsx}") == ["*.ts", "*.tsx"]
    assert expand_braces("{src,lib}/**/*.{a,b{c,d}}") == [
        "src/**/*.a",
        "src/**/*.bc",
        "src/**/*.bd",
        "lib/**/*.a",
        "lib/**/*.bc",
        "lib/**/*.bd",
    ]
    assert expand_braces("odd{") == ["odd{"]


def test_walk_honours_nested_and_parent_gitignores(tmp_path: Path) -> None:
    git_init(tmp_path)
    write(tmp_path, ".gitignore", "*.tmp\n/top-only.txt\n")
    write(tmp_path, "pkg/.gitignore", "gen/\n!keep.tmp\n")
    for rel in ["a.txt", "x.tmp", "top-only.txt", "pkg/top-only.txt", "pkg/keep.tmp",
                "pkg/drop.tmp", "pkg/gen/out.txt", "pkg/ok.txt", ".hidden/h.txt"]:  # fmt: skip
        write(tmp_path, rel)
    rel = [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path)]
    assert rel == ["a.txt", "pkg/keep.tmp", "pkg/ok.txt", "pkg/top-only.txt"]
    rg = find_rg()
    assert rg is not None
    listed = subprocess.run(
        [rg, "--no-config", "--files", "--sort=path"], cwd=tmp_path, capture_output=True, text=True
    )
    assert listed.stdout.splitlines() == rel
    # Started inside the repository, the parent's .gitignore still applies.
    sub = [p.name for p in walk_files(tmp_path / "pkg")]
    assert sub == ["keep.tmp", "ok.txt", "top-only.txt"]


def test_outside_a_repository_gitignore_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.tmp\n")
    write(tmp_path, "x.tmp")
    assert [p.name for p in walk_files(tmp_path)] == ["x.tmp"]
