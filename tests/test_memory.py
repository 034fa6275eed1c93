"""Memory files: discovery order, @-imports, nested loading and the rendered prompt section."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from coda.memory import (
    Memory,
    MemoryFile,
    NestedMemory,
    import_tokens,
    load_memory,
    memory_paths_for_editing,
    render_nested,
)


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path.resolve()  # memory paths are resolved; macOS tmp sits behind a symlink


@pytest.fixture
def env(tmp: Path) -> dict[str, str]:
    return {"CODA_CONFIG_DIR": str(tmp / "cfg"), "HOME": str(tmp / "home")}


@pytest.fixture
def repo(tmp: Path) -> Path:
    (tmp / "repo" / ".git").mkdir(parents=True)
    return tmp / "repo"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def paths(memory: Memory) -> list[Path]:
    return [f.path for f in memory.files]


# Discovery


def test_user_dir_then_repo_root_down_to_cwd(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    write(tmp / "CODA.md", "above the repo root: never read")
    expected = [
        write(tmp / "cfg" / "CODA.md", "user"),
        write(repo / "CODA.md", "root"),
        write(repo / "sub" / "CODA.md", "sub"),
        write(repo / "sub" / "cwd" / "CODA.md", "cwd"),
    ]
    write(repo / "sub" / "sibling" / "CODA.md", "not on the way to cwd")

    memory = load_memory(repo / "sub" / "cwd", env)

    assert paths(memory) == expected
    assert [f.scope for f in memory.files] == ["user", "project", "project", "project"]
    assert [f.text for f in memory.files] == ["user", "root", "sub", "cwd"]
    assert memory.warnings == ()


def test_all_names_and_peer_dirs_in_order(repo: Path, env: dict[str, str]) -> None:
    # Written out of order so the result's order has to come from the loader.
    files = {name: write(repo / name, name) for name in (".claude/CLAUDE.md", "CLAUDE.md")}
    files |= {name: write(repo / name, name) for name in (".coda/CODA.md", "AGENTS.md", "CODA.md")}
    order = ["CODA.md", "AGENTS.md", "CLAUDE.md", ".coda/CODA.md", ".claude/CLAUDE.md"]

    memory = load_memory(repo, env)

    assert paths(memory) == [files[name] for name in order]


def test_user_dir_reads_all_three_names(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    expected = [write(tmp / "cfg" / name, name) for name in ("CODA.md", "AGENTS.md", "CLAUDE.md")]
    assert paths(load_memory(repo, env)) == expected


def test_git_file_marks_a_worktree_root(tmp: Path, env: dict[str, str]) -> None:
    write(tmp / "wt" / ".git", "gitdir: /elsewhere\n")
    root = write(tmp / "wt" / "CODA.md", "root")
    here = write(tmp / "wt" / "pkg" / "CODA.md", "pkg")
    assert paths(load_memory(tmp / "wt" / "pkg", env)) == [root, here]


def test_without_git_only_cwd_is_read(tmp: Path, env: dict[str, str]) -> None:
    write(tmp / "proj" / "CODA.md", "parent")
    here = write(tmp / "proj" / "cwd" / "CODA.md", "cwd")
    assert paths(load_memory(tmp / "proj" / "cwd", env)) == [here]


def test_no_files_means_empty_memory(repo: Path, env: dict[str, str]) -> None:
    memory = load_memory(repo, env)
    assert memory == Memory((), ())
    assert memory.render() == ""


def test_symlink_to_a_loaded_file_is_loaded_once(repo: Path, env: dict[str, str]) -> None:
    agents = write(repo / "AGENTS.md", "shared")
    (repo / "CLAUDE.md").symlink_to("AGENTS.md")
    assert paths(load_memory(repo, env)) == [agents]


def test_non_utf8_file_is_replaced_and_warned(repo: Path, env: dict[str, str]) -> None:
    path = write(repo / "CODA.md", b"caf\xe9 au lait\n")
    memory = load_memory(repo, env)
    assert memory.files[0].text == "caf\ufffd au lait\n"
    assert len(memory.warnings) == 1
    assert str(path) in memory.warnings[0] and "UTF-8" in memory.warnings[0]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file_is_warned_not_raised(repo: Path, env: dict[str, str]) -> None:
    path = write(repo / "CODA.md", "secret")
    other = write(repo / "AGENTS.md", "fine")
    path.chmod(0)
    try:
        memory = load_memory(repo, env)
    finally:
        path.chmod(0o644)
    assert paths(memory) == [other]
    assert len(memory.warnings) == 1 and str(path) in memory.warnings[0]


# Imports


def test_relative_absolute_and_home_imports(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    rel = write(repo / "docs" / "style.md", "style")
    nested = write(repo / "docs" / "more" / "deep.md", "deep")
    write(rel, "style\n@more/deep.md\n")  # relative to the importing file, not the cwd
    absolute = write(tmp / "elsewhere" / "abs.md", "abs")
    home = write(tmp / "home" / "notes.md", "home")
    top_text = f"@docs/style.md\nAlso see @{absolute}.\n\t@~/notes.md\n"
    top = write(repo / "CODA.md", top_text)

    memory = load_memory(repo, env)

    assert paths(memory) == [top, rel, nested, absolute, home]
    assert memory.files[0] == MemoryFile(top, "project", top_text, (rel, absolute, home))
    assert memory.files[1].imports == (nested,)
    assert {f.scope for f in memory.files} == {"project"}
    assert memory.import_paths == (rel, absolute, home, nested)
    assert memory.warnings == ()


def test_imports_take_the_importers_scope(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    write(tmp / "cfg" / "CODA.md", "@mine.md")
    write(tmp / "cfg" / "mine.md", "mine")
    assert [f.scope for f in load_memory(repo, env).files] == ["user", "user"]


def test_imports_in_code_are_ignored(repo: Path, env: dict[str, str]) -> None:
    for name in ("a", "b", "c", "d", "e", "f"):
        write(repo / f"{name}.md", name)
    text = (
        "Run `cat @a.md now` inline, or ``x ` @b.md `` with a double run.\n"
        "```sh\n@c.md\n```text after a run does not close\n~~~\n@c.md\n````\n"
        "~~~\n@d.md\n```\n~~~\n"
        "@e.md is outside every code span\n"
        "  ```\n@f.md in a fence never closed\n"
    )
    top = write(repo / "CODA.md", text)
    assert paths(load_memory(repo, env)) == [top, repo / "e.md"]


def test_import_tokens_need_start_of_line_or_whitespace() -> None:
    text = "@first.md mail me@example.com, `x`@no.md, (@no2.md) and\t@last.md"
    assert import_tokens(text) == ["first.md", "last.md"]


def test_email_and_scope_are_left_as_text(repo: Path, env: dict[str, str]) -> None:
    write(repo / "bar.md", "must not load: foo@bar.md is an email-like token")
    text = "Mail foo@bar.md; install @scope/pkg; see @missing.md\n"
    top = write(repo / "CODA.md", text)
    memory = load_memory(repo, env)
    assert memory.files == (MemoryFile(top, "project", text, ()),)
    assert memory.warnings == ()


def test_directory_is_not_an_import(repo: Path, env: dict[str, str]) -> None:
    (repo / "docs").mkdir()
    write(repo / "CODA.md", "@docs")
    assert len(load_memory(repo, env).files) == 1


def test_trailing_punctuation_is_not_part_of_the_path(repo: Path, env: dict[str, str]) -> None:
    target = write(repo / "style.md", "style")
    write(repo / "CODA.md", "Read @style.md.")
    assert paths(load_memory(repo, env))[1:] == [target]


def test_imports_nest_at_most_five_deep(repo: Path, env: dict[str, str]) -> None:
    chain = [repo / "CODA.md", *(repo / f"f{i}.md" for i in range(1, 7))]
    for here, there in itertools.pairwise(chain):
        write(here, f"@{there.name}\n")
    write(chain[-1], "too deep")

    memory = load_memory(repo, env)

    assert paths(memory) == chain[:6]
    assert memory.files[5].imports == ()
    assert len(memory.warnings) == 1
    assert str(chain[5]) in memory.warnings[0] and "deeper than 5" in memory.warnings[0]


def test_import_cycle_loads_each_file_once(repo: Path, env: dict[str, str]) -> None:
    a = write(repo / "CODA.md", "a\n@b.md\n")
    b = write(repo / "b.md", "b\n@CODA.md\n")
    memory = load_memory(repo, env)
    assert paths(memory) == [a, b]
    assert memory.files[1].imports == (a,)
    assert len(memory.warnings) == 1 and "cycle" in memory.warnings[0]
    assert f"{a} -> {b} -> {a}" in memory.warnings[0]


def test_shared_import_is_loaded_once_without_warning(repo: Path, env: dict[str, str]) -> None:
    shared = write(repo / "shared.md", "shared")
    write(repo / "CODA.md", "@shared.md")
    write(repo / "AGENTS.md", "@shared.md")
    memory = load_memory(repo, env)
    assert paths(memory) == [repo / "CODA.md", shared, repo / "AGENTS.md"]
    assert memory.files[2].imports == (shared,)
    assert memory.warnings == ()


# Nested memory


def test_nested_memory_loads_on_first_read_only(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    top = write(repo / "CODA.md", "top")
    sub = write(repo / "sub" / "CODA.md", "sub")
    deep = write(repo / "sub" / "dir" / "CODA.md", "deep\n@extra.md\n")
    extra = write(repo / "sub" / "dir" / "extra.md", "extra")
    source = write(repo / "sub" / "dir" / "x.py", "")
    write(tmp / "outside" / "CODA.md", "outside")
    nested = NestedMemory(repo, env, paths(load_memory(repo, env)))

    assert nested.on_read(tmp / "outside" / "y.py") == []
    assert nested.on_read(repo / "y.py") == []
    files = nested.on_read(source)
    assert [f.path for f in files] == [sub, deep, extra]
    assert {f.scope for f in files} == {"nested"}
    assert top not in [f.path for f in files]
    assert nested.on_read(source) == []
    assert nested.on_read(Path("sub/dir/other.py")) == []


def test_nested_memory_skips_already_loaded_files(repo: Path, env: dict[str, str]) -> None:
    sub = write(repo / "sub" / "CODA.md", "sub")
    deep = write(repo / "sub" / "dir" / "CODA.md", "deep")
    nested = NestedMemory(repo, env, [sub])
    assert [f.path for f in nested.on_read(repo / "sub" / "dir" / "x.py")] == [deep]


def test_nested_memory_reports_warnings(repo: Path, env: dict[str, str]) -> None:
    write(repo / "sub" / "CODA.md", b"\xff")
    loaded = NestedMemory(repo, env).load_for(Path("sub/x.py"))
    assert len(loaded.files) == 1 and len(loaded.warnings) == 1


# Rendering and editing


def test_render_names_each_file_before_its_text(repo: Path, env: dict[str, str]) -> None:
    top = write(repo / "CODA.md", "Use tabs.\n@style.md\n")
    style = write(repo / "style.md", "Prefer short functions.\n")
    agents = write(repo / "AGENTS.md", "Run the tests.\n")
    write(repo / "CLAUDE.md", "\n\n")

    text = load_memory(repo, env).render()

    assert "take precedence" in text
    parts = [str(top), "Use tabs.\n@style.md", str(style), "Prefer short functions.", str(agents)]
    positions = [text.index(part) for part in parts]
    assert positions == sorted(positions)
    assert f"imported by {top}" in text
    assert str(repo / "CLAUDE.md") not in text  # blank files cost tokens and say nothing


def test_render_nested(repo: Path) -> None:
    path = repo / "sub" / "CODA.md"
    text = render_nested([MemoryFile(path, "nested", "Keep the API stable.", ())])
    assert str(path) in text and "Keep the API stable." in text
    assert render_nested([]) == ""


def test_memory_paths_for_editing(tmp: Path, repo: Path, env: dict[str, str]) -> None:
    user = tmp / "cfg" / "CODA.md"  # neither exists yet: /memory offers to create them
    project = repo / "CODA.md"
    agents = write(repo / "AGENTS.md", "@notes.md")
    notes = write(repo / "notes.md", "notes")
    cwd_file = write(repo / "pkg" / "CODA.md", "pkg")

    assert memory_paths_for_editing(repo / "pkg", env) == [user, project, agents, notes, cwd_file]


def test_memory_paths_for_editing_dedupes(tmp: Path, env: dict[str, str]) -> None:
    user = write(tmp / "cfg" / "CODA.md", "user")
    project = write(tmp / "proj" / "CODA.md", "proj")
    assert memory_paths_for_editing(tmp / "proj", env) == [user, project]
