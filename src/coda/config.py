"""Where coda keeps its files, and the error a settings file coda cannot use raises."""

from __future__ import annotations

import os
import tempfile
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


def write_atomically(
    path: Path, text: str, *, new_mode: int | None = None, private: bool = False
) -> None:
    """Replace `path` with `text` in one step (temp file, fsync, rename), so a crash leaves
    the old file or the new one. An existing file keeps its mode; a new one gets `new_mode`,
    or 0600 when none is given. `private` makes it 0600 whatever it was (tokens)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp made the file 0600: a private file stays so.
        if not private and path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        elif not private and new_mode is not None:
            os.chmod(tmp, new_mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SettingsError(ValueError):
    """A settings file coda cannot use; the message names the file and the place."""
