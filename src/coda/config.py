"""Where coda keeps its files; the settings error type; shims over the settings loader."""

from __future__ import annotations

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


def merged_settings(cwd: Path, env: Mapping[str, str]) -> dict[str, object]:
    """The model and the co-author switch from every settings layer (the full loader).

    Kept for callers written before `coda.settings.load_settings`; new code should call
    that, which returns the typed `Settings` this is built from.
    """
    from coda.settings import load_settings

    settings = load_settings(cwd, env)
    return {
        "model": settings.model,
        "includeCoAuthoredBy": settings.include_co_authored_by,
        "settings": settings,
    }


def model_setting(settings: dict[str, object]) -> str | None:
    value = settings.get("model")
    return value if isinstance(value, str) else None


def co_authored_by(settings: dict[str, object]) -> bool:
    """Whether commits carry coda's Co-Authored-By trailer (on unless turned off)."""
    return settings.get("includeCoAuthoredBy") is not False
