"""coda's own MCP file, `<config dir>/mcp.json`: reading and atomically changing it, and the
per-project answers about `.mcp.json` servers kept in it.

    {"mcpServers": {…user scope…},
     "projects": {"/abs/project": {"mcpServers": {…local scope…},
                                   "approvedServers": [...], "rejectedServers": [...]}}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from coda.config import SettingsError, config_dir, write_atomically

USER_FILE = "mcp.json"


def approvals(cwd: Path, env: Mapping[str, str]) -> dict[str, bool]:
    """This project's answers: True for an approved `.mcp.json` server, False for a rejected
    one; a server never asked about is absent."""
    try:
        project = project_entry(read_json(user_file(env)) or {}, cwd)
    except SettingsError:
        return {}
    if project is None:
        return {}
    answers = dict.fromkeys(_names(project, "approvedServers"), True)
    answers.update(dict.fromkeys(_names(project, "rejectedServers"), False))  # a no wins
    return answers


def approval(cwd: Path, env: Mapping[str, str], name: str) -> bool | None:
    """True if the project server was approved here, False if rejected, None if never asked."""
    return approvals(cwd, env).get(name)


def set_approval(cwd: Path, env: Mapping[str, str], names: Iterable[str], approved: bool) -> None:
    chosen = list(names)
    keep, other = "approvedServers", "rejectedServers"
    if not approved:
        keep, other = other, keep

    def decide(data: dict[str, Any]) -> None:
        project = project_entry(data, cwd, create=True)
        assert project is not None
        project[keep] = list(dict.fromkeys([*_names(project, keep), *chosen]))
        project[other] = [n for n in _names(project, other) if n not in chosen]

    update_json(user_file(env), decide, private=True)


def reset_approvals(cwd: Path, env: Mapping[str, str]) -> None:
    """Forget every yes and no given to this project's `.mcp.json` servers."""
    path = user_file(env)
    if not path.exists():
        return

    def forget(data: dict[str, Any]) -> None:
        project = project_entry(data, cwd)
        if project is not None:
            project.pop("approvedServers", None)
            project.pop("rejectedServers", None)

    update_json(path, forget, private=True)


def _names(project: Mapping[str, Any], key: str) -> list[str]:
    value = project.get(key)
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


# --- files ---------------------------------------------------------------------------


def user_file(env: Mapping[str, str]) -> Path:
    return config_dir(env) / USER_FILE


def project_key(cwd: Path) -> str:
    return str(Path(cwd).resolve())


def project_entry(
    data: dict[str, Any], cwd: Path, *, create: bool = False
) -> dict[str, Any] | None:
    projects = data.get("projects")
    if projects is None and create:
        projects = data["projects"] = {}
    if projects is None:
        return None
    if not isinstance(projects, dict):
        raise SettingsError('"projects" must be an object of projects by directory')
    key = project_key(cwd)
    project = projects.get(key)
    if project is None and create:
        project = projects[key] = {}
    if project is not None and not isinstance(project, dict):
        raise SettingsError(f'projects["{key}"] must be an object')
    return project


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's JSON object, None if there is no file; SettingsError naming the file."""
    try:
        text = path.read_text("utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read it: {exc}") from exc
    if not text.strip():
        return {}
    return parse_json(text, str(path))


def parse_json(text: str, label: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{label}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{label}: must be a JSON object")
    return data


_T = TypeVar("_T")


def update_json(path: Path, change: Callable[[dict[str, Any]], _T], *, private: bool) -> _T:
    """Read, change and atomically replace a JSON file, keeping keys coda does not know.

    A file that cannot be read is not rewritten: the person's other settings are in it.
    """
    try:
        data = read_json(path) or {}
    except SettingsError as exc:
        raise SettingsError(f"{exc}; fix or remove the file, coda will not rewrite it") from exc
    try:
        result = change(data)
    except SettingsError as exc:
        message = str(exc)
        raise SettingsError(message if str(path) in message else f"{path}: {message}") from None
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    # A project file is meant to be shared (0644); the user's may hold API keys (0600).
    write_atomically(path, text, new_mode=None if private else 0o644)
    return result
