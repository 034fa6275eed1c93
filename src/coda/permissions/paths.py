"""Path safety: resolving paths at the moment of use, workspace containment, protected paths."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from coda.config import config_dir

MANAGED_DIR = Path("/etc/coda")

# Per workspace root: changing any of these changes what coda (or git) will do next, so
# they always ask, in every mode. Directories cover everything under them.
_PROTECTED_IN_ROOT = (".coda", ".claude", ".mcp.json", ".git/hooks", ".git/config")


def resolve(path: str | Path, cwd: Path) -> Path:
    """The absolute path a tool would touch now: `~` expanded, joined to cwd, symlinks and
    `..` resolved. Works for paths that do not exist yet (their deepest existing parent is
    resolved and the rest appended), so a new file under a symlinked directory resolves to
    where it would really be written."""
    expanded = Path(os.path.expanduser(path))
    return Path(os.path.realpath(Path(cwd) / expanded, strict=False))


@dataclass(slots=True)
class Workspace:
    """The directories coda works in: the cwd first, then any additional directories."""

    roots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.roots = [Path(os.path.realpath(os.path.expanduser(r))) for r in self.roots]

    def contains(self, path: str | Path) -> bool:
        """Whether the path, once resolved, is inside a root (component-wise: `/proj-evil`
        is not inside `/proj`). A relative path is taken relative to the first root."""
        if not self.roots:
            return False
        real = resolve(path, self.roots[0])
        return any(real.is_relative_to(root) for root in self.roots)


def protected_paths(
    workspace: Workspace,
    memory_imports: Iterable[Path] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> list[Path]:
    """Paths that always ask before they are changed, resolved; a directory covers its tree.

    `env` locates the user's config dir (CODA_CONFIG_DIR); it defaults to os.environ.
    """
    found: list[Path] = []
    for root in workspace.roots:
        found += [resolve(name, root) for name in _PROTECTED_IN_ROOT]
        git = root / ".git"
        if git.is_file():  # a worktree's pointer to its git dir
            found.append(resolve(git, root))
    found.append(resolve(config_dir(os.environ if env is None else env), Path("/")))
    found.append(resolve(MANAGED_DIR, Path("/")))
    first = workspace.roots[0] if workspace.roots else Path("/")
    found += [resolve(p, first) for p in memory_imports]
    return list(dict.fromkeys(found))


def is_protected(
    path: str | Path,
    workspace: Workspace,
    memory_imports: Iterable[Path] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Whether changing this path must ask first, even when the file does not exist yet."""
    first = workspace.roots[0] if workspace.roots else Path("/")
    real = resolve(path, first)
    return any(real.is_relative_to(p) for p in protected_paths(workspace, memory_imports, env=env))
