"""Where coda keeps its files, and the few settings the spine reads (the model)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path


def config_dir(env: Mapping[str, str]) -> Path:
    if env.get("CODA_CONFIG_DIR"):
        return Path(env["CODA_CONFIG_DIR"])
    import platformdirs

    return Path(platformdirs.user_config_dir("coda", appauthor=False))


def data_dir(env: Mapping[str, str]) -> Path:
    if env.get("CODA_DATA_DIR"):
        return Path(env["CODA_DATA_DIR"])
    import platformdirs

    return Path(platformdirs.user_data_dir("coda", appauthor=False))


class SettingsError(ValueError):
    """A settings file coda cannot use; the message names the file and the place."""


def settings_files(cwd: Path, env: Mapping[str, str]) -> list[Path]:
    """Settings files from lowest to highest precedence (the permissions issue adds more)."""
    return [
        config_dir(env) / "settings.json",
        cwd / ".claude" / "settings.json",
        cwd / ".coda" / "settings.json",
        cwd / ".claude" / "settings.local.json",
        cwd / ".coda" / "settings.local.json",
    ]


def _read_json(path: Path) -> dict[str, object]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise SettingsError(f"{path}: settings must be a JSON object")
    return value


def merged_settings(cwd: Path, env: Mapping[str, str]) -> dict[str, object]:
    """Top-level keys from every settings file; a later (higher) file wins per key."""
    merged: dict[str, object] = {}
    for path in settings_files(cwd, env):
        for key, value in _read_json(path).items():
            merged[key] = value
            merged[f"{key}@"] = str(path)  # where it came from, for error messages
    return merged


def _typed(settings: dict[str, object], key: str, kind: type) -> object:
    value = settings.get(key)
    if value is not None and not isinstance(value, kind):
        raise SettingsError(f"{settings[key + '@']}: key {key!r} must be a {kind.__name__}")
    return value


def model_setting(settings: dict[str, object]) -> str | None:
    value = _typed(settings, "model", str)
    return value if isinstance(value, str) else None


def co_authored_by(settings: dict[str, object]) -> bool:
    """Whether commits carry coda's Co-Authored-By trailer (on unless turned off)."""
    return _typed(settings, "includeCoAuthoredBy", bool) is not False
