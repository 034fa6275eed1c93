"""Where coda keeps its files, and the error a settings file coda cannot use raises."""

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
