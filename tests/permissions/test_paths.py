"""Path safety on real trees: resolution through symlinks, containment, protected paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from coda.permissions.paths import Workspace, is_protected, protected_paths, resolve


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = (tmp_path / "proj").resolve()
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    path = (tmp_path / "outside").resolve()
    path.mkdir()
    (path / "secret.txt").write_text("")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CODA_CONFIG_DIR": str(tmp_path / "config")}


def test_resolve_relative_tilde_and_dotdot(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve("src/app.py", proj) == proj / "src" / "app.py"
    assert resolve("src/../src/./app.py", proj) == proj / "src" / "app.py"
    assert resolve(proj / "src" / "app.py", Path("/")) == proj / "src" / "app.py"
    monkeypatch.setenv("HOME", str(proj))
    assert resolve("~/src/app.py", Path("/")) == proj / "src" / "app.py"


def test_resolve_follows_symlinks_for_files_that_do_not_exist(proj: Path, outside: Path) -> None:
    (proj / "link").symlink_to(outside)
    assert resolve("link/secret.txt", proj) == outside / "secret.txt"
    assert resolve("link/new/dir/file.txt", proj) == outside / "new" / "dir" / "file.txt"
    (proj / "file-link").symlink_to(outside / "secret.txt")
    assert resolve("file-link", proj) == outside / "secret.txt"
    (proj / "dangling").symlink_to(outside / "not-yet")
    assert resolve("dangling", proj) == outside / "not-yet"


def test_workspace_contains(proj: Path, outside: Path) -> None:
    ws = Workspace([proj])
    assert ws.contains(proj)
    assert ws.contains(proj / "src" / "app.py")
    assert ws.contains(proj / "not" / "yet.py")
    assert ws.contains("src/app.py")  # relative to the first root
    assert not ws.contains(outside / "secret.txt")
    assert not ws.contains(proj / ".." / "outside" / "secret.txt")
    assert not ws.contains("../outside/secret.txt")


def test_prefix_trick_is_not_containment(proj: Path) -> None:
    evil = proj.parent / (proj.name + "-evil")
    evil.mkdir()
    assert not Workspace([proj]).contains(evil / "x")
    assert not Workspace([proj]).contains(str(proj) + "-evil/x")


def test_symlink_inside_workspace_pointing_outside(proj: Path, outside: Path) -> None:
    (proj / "escape").symlink_to(outside)
    ws = Workspace([proj])
    assert not ws.contains(proj / "escape" / "secret.txt")
    assert not ws.contains(proj / "escape" / "new-file.txt")
    assert not ws.contains("escape")


def test_workspace_roots_are_resolved_and_additional_ones_count(
    proj: Path, outside: Path, tmp_path: Path
) -> None:
    link = tmp_path / "proj-link"
    link.symlink_to(proj)
    ws = Workspace([link, outside])
    assert ws.roots == [proj, outside]
    assert ws.contains(proj / "src" / "app.py")
    assert ws.contains(outside / "secret.txt")
    assert not Workspace([]).contains(proj)


def test_protected_paths_in_every_root(proj: Path, outside: Path, env: dict[str, str]) -> None:
    ws = Workspace([proj, outside])
    found = protected_paths(ws, env=env)
    for root in (proj, outside):
        for name in (".coda", ".claude", ".mcp.json", ".git/hooks", ".git/config"):
            assert root / name in found
    assert Path(env["CODA_CONFIG_DIR"]) in found
    assert Path("/etc/coda") in found


@pytest.mark.parametrize(
    "rel",
    [
        ".mcp.json",
        ".git/hooks/pre-commit",
        ".git/config",
        ".coda/settings.json",
        ".coda/settings.local.json",
        ".coda/commands/x.md",
        ".claude/settings.json",
        "src/../.mcp.json",
    ],
)
def test_protected_even_when_missing(proj: Path, env: dict[str, str], rel: str) -> None:
    assert not (proj / rel).exists()
    assert is_protected(proj / rel, Workspace([proj]), env=env)
    assert is_protected(rel, Workspace([proj]), env=env)


@pytest.mark.parametrize(
    "rel",
    ["src/app.py", ".git/HEAD", ".git/objects/ab/cd", ".mcp.json.bak", ".codarc", "x/.mcp.json"],
)
def test_not_protected(proj: Path, env: dict[str, str], rel: str) -> None:
    assert not is_protected(proj / rel, Workspace([proj]), env=env)


def test_user_config_and_managed_dirs_are_protected(
    proj: Path, env: dict[str, str], tmp_path: Path
) -> None:
    ws = Workspace([proj])
    assert is_protected(tmp_path / "config" / "settings.json", ws, env=env)
    assert is_protected(Path("/etc/coda/managed-settings.json"), ws, env=env)
    assert not is_protected(Path("/etc/hosts"), ws, env=env)


def test_protected_through_a_symlink(proj: Path, outside: Path, env: dict[str, str]) -> None:
    (proj / "sneaky").symlink_to(proj / ".git" / "hooks", target_is_directory=True)
    assert is_protected(proj / "sneaky" / "pre-commit", Workspace([proj]), env=env)
    # A .coda that is itself a symlink protects where it points.
    (outside / "real-coda").mkdir()
    (proj / ".coda").symlink_to(outside / "real-coda")
    assert is_protected(outside / "real-coda" / "settings.json", Workspace([proj]), env=env)


def test_worktree_git_file_is_protected(proj: Path, env: dict[str, str]) -> None:
    (proj / ".git").write_text("gitdir: /somewhere/else\n")
    assert is_protected(proj / ".git", Workspace([proj]), env=env)


def test_memory_imports_are_protected(proj: Path, outside: Path, env: dict[str, str]) -> None:
    imported = outside / "shared-rules.md"
    ws = Workspace([proj])
    assert not is_protected(imported, ws, env=env)
    assert is_protected(imported, ws, env=env, memory_imports=[imported])
    assert imported in protected_paths(ws, env=env, memory_imports=[imported])


def test_memory_imports_may_be_passed_positionally(proj: Path, outside: Path) -> None:
    imported = outside / "shared-rules.md"
    assert is_protected(imported, Workspace([proj]), [imported])
